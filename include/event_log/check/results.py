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

from include.event_log.objects.declarations import event_log_objects
from include.event_log.sql_templates import render_sql
from include.event_log.warehouse import transaction

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


def _row(dag_id: str, run_id: str, result: CheckResult, checked_at: str, result_key: str | None) -> dict[str, Any]:
    return {
        "checked_at": checked_at,
        "dag_id": dag_id,
        "run_id": run_id,
        "replication_hour": result.replication_hour.replace("T", " ")[:19] if result.replication_hour else None,
        "check_name": result.check_name,
        "status": result.status,
        "observed": result.observed,
        "expected": result.expected,
        "details": json.dumps(result.details, default=str, sort_keys=True),
        "result_key": result_key,
    }


def _log(results: list[CheckResult]) -> None:
    for result in results:
        log.log(logging.WARNING if result.status != PASS else logging.INFO, "%s", result.describe())


def record_check_results(conn_id: str, dag_id: str, run_id: str, results: list[CheckResult]) -> None:
    """Record the results of a task (values bound, logged), replacing what an earlier try of the same task
    recorded for the same checks of the same hours: all in one transaction, so a retry or a cleared run leaves
    exactly one row per check and hour, and a failure leaves the earlier set whole."""
    if not results:
        return
    _log(results)
    context = event_log_objects().template_context()
    checked_at = datetime.now(UTC).replace(tzinfo=None).isoformat(sep=" ")
    rows = [_row(dag_id, run_id, result, checked_at, None) for result in results]
    names_by_hour: dict[str | None, set[str]] = {}
    for row in rows:
        names_by_hour.setdefault(row["replication_hour"], set()).add(row["check_name"])
    with transaction(conn_id) as cursor:
        for hour, names in names_by_hour.items():
            params = {"dag_id": dag_id, "run_id": run_id, "replication_hour": hour, "check_names": tuple(sorted(names))}
            cursor.execute(render_sql("checks/delete_check_results.sql", **context), params)
        cursor.executemany(render_sql("checks/insert_check_result.sql", **context), rows)


def record_once(conn_id: str, dag_id: str, run_id: str, key: str, results: list[CheckResult]) -> int:
    """Record results keyed by `key` unless rows with that key exist (one transaction); return how many this
    call inserted: 0 means another call (a callback run again) recorded them first."""
    _log(results)
    context = event_log_objects().template_context()
    checked_at = datetime.now(UTC).replace(tzinfo=None).isoformat(sep=" ")
    inserted = 0
    with transaction(conn_id) as cursor:
        for result in results:
            cursor.execute(
                render_sql("checks/merge_check_result_once.sql", **context),
                _row(dag_id, run_id, result, checked_at, key),
            )
            inserted += cursor.rowcount or 0
    return inserted
