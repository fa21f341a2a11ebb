"""Check results: what every data check, audit finding and missed deadline records.

Each result is a row of the declared check-results table (EVENT_LOG_CHECK_RESULTS) and goes into
the asset event's `extra` or the task's XCom, so both SQL users and the Airflow UI see it.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from include.event_log.declarations import event_log_objects
from include.event_log.sql_templates import render_sql
from include.event_log.warehouse import run_statements

log = logging.getLogger(__name__)

PASS, WARN, FAIL = "pass", "warn", "fail"


@dataclass
class CheckResult:
    check_name: str
    status: str
    observed: float | int | None = None
    expected: float | int | None = None
    details: dict[str, Any] = field(default_factory=dict)
    # ISO-8601 start of the hour checked; None for a check over several hours.
    replication_hour: str | None = None

    def __post_init__(self) -> None:
        if self.status not in (PASS, WARN, FAIL):
            raise ValueError(f"check status must be pass, warn or fail, got {self.status!r}")

    def describe(self) -> str:
        hour = f" hour {self.replication_hour}" if self.replication_hour else ""
        details = f" {json.dumps(self.details, default=str)}" if self.details else ""
        outcome = f"observed {self.observed}, expected {self.expected}"
        return f"[{self.status.upper()}] {self.check_name}{hour}: {outcome}{details}"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def record_check_results(conn_id: str, dag_id: str, run_id: str, results: list[CheckResult]) -> None:
    """Insert one row per result (values bound) and log each one."""
    sql = render_sql("checks/insert_check_result.sql", **event_log_objects().template_context())
    checked_at = datetime.now(UTC).replace(tzinfo=None).isoformat(sep=" ")
    statements = []
    for result in results:
        log.log(logging.WARNING if result.status != PASS else logging.INFO, "%s", result.describe())
        hour = result.replication_hour.replace("T", " ")[:19] if result.replication_hour else None
        statements.append(
            (
                sql,
                {
                    "checked_at": checked_at,
                    "dag_id": dag_id,
                    "run_id": run_id,
                    "replication_hour": hour,
                    "check_name": result.check_name,
                    "status": result.status,
                    "observed": result.observed,
                    "expected": result.expected,
                    "details": json.dumps(result.details, default=str, sort_keys=True),
                },
            )
        )
    if statements:
        run_statements(conn_id, statements)
