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

from include.event_log.hour_layout import HourLayout

# Connection ids, defined once and passed to every task through default_args or arguments.
AWS_CONN_ID = os.environ.get("EVENT_LOG_AWS_CONN_ID", "aws_event_log")
SNOWFLAKE_CONN_ID = os.environ.get("EVENT_LOG_SNOWFLAKE_CONN_ID", "snowflake_event_log")

PACKAGE_DIR = Path(__file__).resolve().parent
INCLUDE_DIR = PACKAGE_DIR.parent
SQL_DIR = INCLUDE_DIR / "sql"
OBJECTS_FILE = PACKAGE_DIR / "snowflake_objects.yaml"
PROJECT_DIR = INCLUDE_DIR.parent
DBT_PROJECT_DIR = PROJECT_DIR / "dbt"

# Snowflake's COPY takes at most 1,000 names in one FILES list.
MAX_FILES_PER_COPY = 1000
# The Airflow pool of every task that runs dbt (event_log_ingest's build, a model task re-running its
# model), with 1 slot: one dbt build at a time across runs and workers, because runs share each model's
# transient __dbt_tmp table. Every deployment must create it (README, airflow_settings.yaml).
DBT_POOL = "event_log_dbt"
DBT_POOL_DESCRIPTION = "One dbt build of the event-log models at a time (event_log_ingest)"


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
    # Where each hour lives in the bucket and when it is complete (include/event_log/hour_layout.py).
    layout: HourLayout
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
            layout=HourLayout.from_env(),
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
        """The hour's folder relative to the stage root, in the configured layout."""
        return self.layout.hour_path(hour_start)

    def hour_prefix(self, hour_start: datetime) -> str:
        """The hour's folder as an S3 key prefix: `<prefix>/<hour path>`."""
        return self.layout.hour_prefix(hour_start)


def destructive_changes_allowed() -> bool:
    """EVENT_LOG_ALLOW_DESTRUCTIVE_CHANGES=true: every snowflake_objects run may drop or retype columns of the
    native tables (README, "Snowflake objects: plan and apply"). Read when a task runs, not at parse time."""
    return os.environ.get("EVENT_LOG_ALLOW_DESTRUCTIVE_CHANGES", "").strip().lower() in ("1", "true", "yes")


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
    # A task's priority grows with the tasks before it, so a run's later steps go before other runs' first
    # ones: a backfill loads and models its first hours at once instead of starting every run's sensor first.
    "weight_rule": "upstream",
    "retries": int(os.environ.get("EVENT_LOG_TASK_RETRIES", "2")),
    "retry_delay": timedelta(seconds=float(os.environ.get("EVENT_LOG_RETRY_DELAY_SECONDS", "60"))),
}
