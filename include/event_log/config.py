"""Configuration of the event-log package, read once from the environment (see .env.example).

Every setting of include/ and plugins/ is read with the helpers here (`env_text`, `env_number`, `env_int`,
`env_seconds`, `env_duration`): a value that is not a finite number in its range is refused naming the variable.
Everything here is cheap to compute at DAG parse time: no network, no Airflow Variable, no hook.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any

import pendulum

from include.event_log.land.hour_layout import DEFAULT_PREFIX, HourLayout

# The bucket Flink lands the event log in, unless EVENT_LOG_BUCKET says otherwise (the local stack uses it too).
DEFAULT_BUCKET = "flink-event-log"
__all__ = ["DEFAULT_BUCKET", "DEFAULT_PREFIX"]


def env_text(name: str, default: str, env: Mapping[str, str] | None = None) -> str:
    """A text setting from the environment, stripped; unset or empty: `default`."""
    return (os.environ if env is None else env).get(name, "").strip() or default


# Connection ids, defined once and passed to every task through default_args or arguments.
AWS_CONN_ID = env_text("EVENT_LOG_AWS_CONN_ID", "aws_event_log")
SNOWFLAKE_CONN_ID = env_text("EVENT_LOG_SNOWFLAKE_CONN_ID", "snowflake_event_log")

PACKAGE_DIR = Path(__file__).resolve().parent
INCLUDE_DIR = PACKAGE_DIR.parent
SQL_DIR = INCLUDE_DIR / "sql"
OBJECTS_FILE = PACKAGE_DIR / "objects" / "snowflake_objects.yaml"
PROJECT_DIR = INCLUDE_DIR.parent
DBT_PROJECT_DIR = PROJECT_DIR / "dbt"

# Snowflake's COPY takes at most 1,000 names in one FILES list.
MAX_FILES_PER_COPY = 1000
# The Airflow pool of every task that runs dbt (event_log_ingest's build, a model task re-running its
# model), with 1 slot: one dbt build at a time across runs and workers, because runs share each model's
# transient __dbt_tmp table. Every deployment must create it (README, airflow_settings.yaml).
DBT_POOL = "event_log_dbt"
DBT_POOL_DESCRIPTION = "One dbt build of the event-log models at a time (event_log_ingest)"


def env_number(
    name: str,
    default: float,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    above: float | None = None,
    integer: bool = False,
    env: Mapping[str, str] | None = None,
) -> float:
    """A numeric setting from the environment (unset or empty: `default`), refused naming the variable when it is
    not a finite number in its range: `nan` or `inf` would silently disable a guard or a timeout."""
    raw = (os.environ if env is None else env).get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(int(raw)) if integer else float(raw)
    except ValueError:
        kind = "a whole number" if integer else "a number"
        raise ValueError(f"{name} must be {kind}, got {raw!r}") from None
    if not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {raw!r}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be at least {minimum:g}, got {raw!r}")
    if above is not None and value <= above:
        raise ValueError(f"{name} must be greater than {above:g}, got {raw!r}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name} must be at most {maximum:g}, got {raw!r}")
    return value


def env_int(
    name: str, default: int, *, minimum: int | None = None, maximum: int | None = None,
    env: Mapping[str, str] | None = None,
) -> int:  # fmt: skip
    return int(env_number(name, default, minimum=minimum, maximum=maximum, integer=True, env=env))


# No duration setting means more than a year (and timedelta cannot hold every finite float).
MAX_SECONDS = 366 * 24 * 3600


def env_seconds(name: str, default: float, *, positive: bool = False, env: Mapping[str, str] | None = None) -> float:
    """A duration in seconds: zero or more (more than zero when `positive`), at most a year."""
    bounds = {"above": 0} if positive else {"minimum": 0}
    return env_number(name, default, maximum=MAX_SECONDS, env=env, **bounds)


def env_duration(
    name: str, default: float, *, positive: bool = False, env: Mapping[str, str] | None = None
) -> timedelta:
    """`env_seconds` as a timedelta."""
    return timedelta(seconds=env_seconds(name, default, positive=positive, env=env))


@dataclass(frozen=True)
class RejectLimits:
    """How much of the files with rejected lines the worker reads, and what it keeps (load/rejects.py)."""

    # A rejected line is kept up to this many bytes. Lines up to this size are checked one by one; a longer line
    # is held only this far, and kept when the warehouse's count shows it was rejected.
    max_line_bytes: int = 64 * 1024
    # What one file's scan reads, from S3 and after gunzip (each), and all the scans of one hour together.
    scan_max_bytes: int = 64 * 1024 * 1024
    scan_max_total_bytes: int = 256 * 1024 * 1024
    # Rejected lines kept per hour; past it they are counted only (the warehouse's count stays exact).
    keep_max_lines: int = 10_000
    # Rejected lines kept longer than this are deleted by the next load of any hour.
    retention_days: int = 30

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> RejectLimits:
        d = cls()
        return cls(
            max_line_bytes=env_int("EVENT_LOG_REJECT_MAX_LINE_BYTES", d.max_line_bytes, minimum=1024,
                                   maximum=16 * 1024 * 1024, env=env),
            scan_max_bytes=env_int("EVENT_LOG_REJECT_SCAN_MAX_BYTES", d.scan_max_bytes, minimum=64 * 1024, env=env),
            scan_max_total_bytes=env_int("EVENT_LOG_REJECT_SCAN_MAX_TOTAL_BYTES", d.scan_max_total_bytes,
                                         minimum=64 * 1024, env=env),
            keep_max_lines=env_int("EVENT_LOG_REJECT_KEEP_MAX_LINES", d.keep_max_lines, minimum=0, env=env),
            retention_days=env_int("EVENT_LOG_REJECT_RETENTION_DAYS", d.retention_days, minimum=1, maximum=3660,
                                   env=env),
        )  # fmt: skip


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
    # Where each hour lives in the bucket and when it is complete (include/event_log/land/hour_layout.py).
    layout: HourLayout
    # Above this share of an hour's lines rejected by the warehouse, the hour's load rolls back and fails.
    max_reject_ratio: float = 0.01
    rejects: RejectLimits = RejectLimits()

    @classmethod
    def from_env(cls) -> IngestConfig:
        layout = HourLayout.from_env()
        bucket = env_text("EVENT_LOG_BUCKET", DEFAULT_BUCKET)
        if not re.fullmatch(r"[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]", bucket):
            raise ValueError(f"EVENT_LOG_BUCKET is not a valid S3 bucket name: {bucket!r}")
        start = pendulum.parse(env_text("EVENT_LOG_START_DATE", "2025-01-01T00:00:00Z"))
        return cls(
            bucket=bucket,
            # Validated by the hour layout (characters safe in S3 keys, stage URLs and templates).
            prefix=layout.prefix,
            layout=layout,
            start_date=start.in_timezone("UTC"),
            commit_timeout=env_duration("EVENT_LOG_COMMIT_TIMEOUT_SECONDS", 6 * 3600, positive=True),
            poke_interval=env_duration("EVENT_LOG_POKE_INTERVAL_SECONDS", 60, positive=True),
            max_active_runs=env_int("EVENT_LOG_MAX_ACTIVE_RUNS", 8, minimum=1),
            snowflake_account=env_text("EVENT_LOG_SNOWFLAKE_ACCOUNT", "local").lower(),
            max_reject_ratio=env_number("EVENT_LOG_MAX_REJECT_RATIO", 0.01, minimum=0, maximum=1),
            rejects=RejectLimits.from_env(),
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
    return env_text("EVENT_LOG_ALLOW_DESTRUCTIVE_CHANGES", "").lower() in ("1", "true", "yes")


class Tag(StrEnum):
    """Every DAG tag comes from here (checked by tests/dags)."""

    EVENT_LOG = "event-log"
    INGEST = "ingest"
    SNOWFLAKE = "snowflake"
    DBT = "dbt"
    AUDIT = "audit"
    ASSETS = "assets"


OWNER = "data-platform"


def default_args() -> dict[str, Any]:
    """Every DAG's default_args, read from the environment when the DAG file is parsed (like IngestConfig)."""
    return {
        "owner": OWNER,
        # A task's priority grows with the tasks before it, so a run's later steps go before other runs' first
        # ones: a backfill loads and models its first hours at once instead of starting every run's sensor first.
        "weight_rule": "upstream",
        "retries": env_int("EVENT_LOG_TASK_RETRIES", 2, minimum=0),
        "retry_delay": env_duration("EVENT_LOG_RETRY_DELAY_SECONDS", 60),
    }
