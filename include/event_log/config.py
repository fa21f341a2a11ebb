"""Configuration of the event-log package, read once from the environment (see .env.example).

Everything here is cheap to compute at DAG parse time: no network, no Airflow Variable, no hook.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any

import pendulum

# Connection ids, defined once and passed to every task through default_args or arguments.
AWS_CONN_ID = os.environ.get("EVENT_LOG_AWS_CONN_ID", "aws_event_log")
SNOWFLAKE_CONN_ID = os.environ.get("EVENT_LOG_SNOWFLAKE_CONN_ID", "snowflake_event_log")

PACKAGE_DIR = Path(__file__).resolve().parent
INCLUDE_DIR = PACKAGE_DIR.parent
SQL_DIR = INCLUDE_DIR / "sql"
OBJECTS_FILE = PACKAGE_DIR / "snowflake_objects.yaml"
PROJECT_DIR = INCLUDE_DIR.parent
DBT_PROJECT_DIR = PROJECT_DIR / "dbt"

# A committed part file of the Flink filesystem sink: part-<uuid>-<subtask>-<n>.jsonl[.gz].
# In-progress (`.inprogress.<uuid>`), multipart temp (`_<name>_tmp_<uuid>`) and `_SUCCESS` never match.
PART_FILE_PATTERN = re.compile(r"part-[^/]*\.jsonl(\.gz)?")
SUCCESS_MARKER = "_SUCCESS"
# Snowflake's COPY takes at most 1,000 names in one FILES list.
MAX_FILES_PER_COPY = 1000


def _seconds(name: str, default: float) -> float:
    value = float(os.environ.get(name, default))
    if value <= 0:
        raise ValueError(f"{name} must be a positive number of seconds, got {value}")
    return value


@dataclass(frozen=True)
class IngestConfig:
    bucket: str
    prefix: str
    start_date: datetime
    # How long after the end of its hour a `_SUCCESS` may take to appear before the sensor gives up.
    commit_timeout: timedelta
    poke_interval: timedelta
    max_active_runs: int
    # Only names the account in asset URIs; connecting uses the Airflow connection.
    snowflake_account: str
    # Above this share of an hour's lines not being JSON, the hour's load rolls back and fails.
    max_reject_ratio: float = 0.01

    @classmethod
    def from_env(cls) -> IngestConfig:
        prefix = os.environ.get("EVENT_LOG_PREFIX", "event_log").strip("/")
        bucket = os.environ.get("EVENT_LOG_BUCKET", "flink-event-log")
        if not re.fullmatch(r"[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]", bucket):
            raise ValueError(f"EVENT_LOG_BUCKET is not a valid S3 bucket name: {bucket!r}")
        start = pendulum.parse(os.environ.get("EVENT_LOG_START_DATE", "2025-01-01T00:00:00Z"))
        return cls(
            bucket=bucket,
            prefix=prefix,
            start_date=start.in_timezone("UTC"),
            commit_timeout=timedelta(seconds=_seconds("EVENT_LOG_COMMIT_TIMEOUT_SECONDS", 6 * 3600)),
            poke_interval=timedelta(seconds=_seconds("EVENT_LOG_POKE_INTERVAL_SECONDS", 60)),
            max_active_runs=int(os.environ.get("EVENT_LOG_MAX_ACTIVE_RUNS", "8")),
            snowflake_account=os.environ.get("EVENT_LOG_SNOWFLAKE_ACCOUNT", "local").lower(),
            max_reject_ratio=float(os.environ.get("EVENT_LOG_MAX_REJECT_RATIO", "0.01")),
        )

    def asset_uri(self, table: Any) -> str:
        """The provider's Snowflake asset URI of a declared table: snowflake://account/db/schema/table."""
        return f"snowflake://{self.snowflake_account}/{table.database}/{table.schema}/{table.name}"

    def hour_path(self, hour_start: datetime) -> str:
        """The hour's folder relative to the stage root: `YYYY/MM/DD/HH/`."""
        return hour_start.astimezone(pendulum.UTC).strftime("%Y/%m/%d/%H/")

    def hour_prefix(self, hour_start: datetime) -> str:
        """The hour's folder as an S3 key prefix: `<prefix>/YYYY/MM/DD/HH/`."""
        return f"{self.prefix}/{self.hour_path(hour_start)}" if self.prefix else self.hour_path(hour_start)

    def success_key(self, hour_start: datetime) -> str:
        return self.hour_prefix(hour_start) + SUCCESS_MARKER


def is_committed_part_file(key: str) -> bool:
    return PART_FILE_PATTERN.fullmatch(key.rsplit("/", 1)[-1]) is not None


class Tag(StrEnum):
    """Every DAG tag comes from here (checked by tests/dags)."""

    EVENT_LOG = "event-log"
    INGEST = "ingest"
    SNOWFLAKE = "snowflake"
    DBT = "dbt"
    AUDIT = "audit"
    ASSETS = "assets"


OWNER = "data-platform"
DEFAULT_ARGS = {
    "owner": OWNER,
    "retries": int(os.environ.get("EVENT_LOG_TASK_RETRIES", "2")),
    "retry_delay": timedelta(seconds=float(os.environ.get("EVENT_LOG_RETRY_DELAY_SECONDS", "60"))),
}
