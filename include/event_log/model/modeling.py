"""What the models must follow: the hours loads changed, and the dbt builds that modeled them.

Every load writes one row to the hour-changes table in the same transaction as its DELETE and COPY
(ingest.copy_hour), so a committed change of the raw table is never invisible to the models. A build
reads every change still pending (whichever run made it: a scheduled run, a cleared or retried one, a
backfill, a manual run), builds the models over those hours, and on success marks exactly the changes
it read as modeled by it, in one transaction with its own record. A load that commits while a build
runs stays pending for the next build, so nothing falls between two builds.

This module is the warehouse side only (plain data in and out); include/event_log/model/dbt_tasks.py drives
dbt with it.
"""

from __future__ import annotations

import json
import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from include.event_log.objects.declarations import event_log_objects
from include.event_log.sql_templates import render_sql
from include.event_log.warehouse import run_statements, transaction

log = logging.getLogger(__name__)

BUILD_RUNNING, BUILD_SUCCESS, BUILD_FAILED = "running", "success", "failed"


def utc_now_naive() -> datetime:
    """Now in UTC, without tzinfo: what the TIMESTAMP_NTZ columns hold."""
    return datetime.now(UTC).replace(tzinfo=None)


def as_naive_utc(value: datetime | str) -> datetime:
    moment = datetime.fromisoformat(value.replace("Z", "+00:00")) if isinstance(value, str) else value
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment


def _sql_time(moment: datetime) -> str:
    return as_naive_utc(moment).isoformat(sep=" ")


@dataclass(frozen=True)
class HourChange:
    load_id: str
    replication_hour: datetime
    changed_at: datetime
    dag_id: str
    run_id: str
    build_id: str | None = None
    modeled_at: datetime | None = None

    @classmethod
    def from_row(cls, row: tuple) -> HourChange:
        load_id, hour, changed_at, dag_id, run_id, build_id, modeled_at = row
        return cls(str(load_id), as_naive_utc(hour), as_naive_utc(changed_at), dag_id, run_id, build_id, modeled_at)


@dataclass(frozen=True)
class Build:
    build_id: str
    dag_id: str
    run_id: str
    try_number: int
    started_at: datetime
    hours: tuple[datetime, ...]
    load_ids: tuple[str, ...]

    @property
    def hour_labels(self) -> list[str]:
        """The hours as ISO-8601 UTC strings: the `event_log_hours` var of the dbt build."""
        return [f"{hour:%Y-%m-%dT%H:%M:%S}+00:00" for hour in self.hours]

    def describe(self) -> str:
        first, last = self.hours[0], self.hours[-1]
        span = f"{first:%Y-%m-%d %H:00}" if first == last else f"{first:%Y-%m-%d %H:00} to {last:%Y-%m-%d %H:00}"
        return (
            f"build {self.build_id} (run {self.run_id}, try {self.try_number}): {len(self.hours)} hours "
            f"({span} UTC) from {len(self.load_ids)} loads"
        )


def change_params(
    *, replication_hour: str, changed_at: str, dag_id: str, run_id: str, rows_loaded: int, rows_replaced: int,
    files_loaded: int,
) -> dict[str, Any]:  # fmt: skip
    """The bound values of ingest/insert_hour_change.sql for one load (a fresh LOAD_ID)."""
    return {
        "load_id": str(uuid.uuid4()),
        "replication_hour": replication_hour,
        "changed_at": changed_at,
        "dag_id": dag_id,
        "run_id": run_id,
        "rows_loaded": rows_loaded,
        "rows_replaced": rows_replaced,
        "files_loaded": files_loaded,
    }


def _context() -> dict[str, Any]:
    return event_log_objects().template_context()


def pending_changes(conn_id: str) -> list[HourChange]:
    (rows,) = run_statements(conn_id, [(render_sql("modeling/select_pending_changes.sql", **_context()), None)])
    return [HourChange.from_row(row) for row in rows]


def run_changes(conn_id: str, dag_id: str, run_id: str) -> list[HourChange]:
    sql = render_sql("modeling/select_run_changes.sql", **_context())
    (rows,) = run_statements(conn_id, [(sql, {"dag_id": dag_id, "run_id": run_id})])
    return [HourChange.from_row(row) for row in rows]


def builds_by_id(conn_id: str, build_ids: set[str]) -> dict[str, dict[str, Any]]:
    if not build_ids:
        return {}
    sql = render_sql("modeling/select_builds.sql", **_context())
    (rows,) = run_statements(conn_id, [(sql, {"build_ids": tuple(sorted(build_ids))})])
    names = ("build_id", "dag_id", "run_id", "try_number", "started_at", "finished_at", "status", "hours",
             "first_hour", "last_hour", "changes")  # fmt: skip
    return {row[0]: dict(zip(names, row, strict=True)) for row in rows}


def build_state(conn_id: str, dag_id: str, run_id: str) -> tuple[list[HourChange], list[HourChange]]:
    """Every pending change, and the changes of one run, read in one connection."""
    context = _context()
    pending_rows, own_rows = run_statements(
        conn_id,
        [
            (render_sql("modeling/select_pending_changes.sql", **context), None),
            (render_sql("modeling/select_run_changes.sql", **context), {"dag_id": dag_id, "run_id": run_id}),
        ],
    )
    return [HourChange.from_row(r) for r in pending_rows], [HourChange.from_row(r) for r in own_rows]


# What a run's build task does (plugins/event_log_model_trigger.py), from the hour-changes table.
BUILD, COVERED, WAIT = "build", "covered", "wait"


def next_step(
    pending: list[HourChange], own: list[HourChange], run_id: str, waited_seconds: float,
    leader_grace_seconds: float, builds_active: bool = False,
) -> str:  # fmt: skip
    """Covered once every change of this run was modeled by a successful build, whatever other runs still have
    pending: a backfill's runs end as the builds that include their hours succeed, not when the whole backfill is
    modeled. Otherwise, while a build is running or queued, wait for it. With none active, the run of the oldest
    pending change builds it, with every other pending change; the other runs wait for that build and are covered
    by it. A run waits for another at most `leader_grace_seconds` (that run may have no build task coming: a load
    re-run alone), then builds itself."""
    if all(change.build_id for change in own):
        return COVERED
    if builds_active or not pending:
        return WAIT
    leader = min(pending, key=lambda change: (change.changed_at, change.replication_hour, change.load_id))
    if leader.run_id == run_id or waited_seconds >= leader_grace_seconds:
        return BUILD
    return WAIT


def covered_report(own: list[HourChange]) -> dict[str, Any]:
    """What a covered run's build task tells its model tasks (XCom `event_log_build`): the builds that modeled
    its changes, and its hours."""
    hours = sorted({change.replication_hour for change in own})
    return {
        "status": "success",
        "covered": True,
        "covered_by": sorted({change.build_id for change in own if change.build_id}),
        "hours": [f"{hour:%Y-%m-%dT%H:%M:%S}+00:00" for hour in hours],
    }


def plan_build(pending: list[HourChange], dag_id: str, run_id: str, try_number: int) -> Build:
    """One build over every pending change, their hours coalesced (each hour once, in order)."""
    if not pending:
        raise ValueError("a build needs at least one pending change")
    return Build(
        build_id=str(uuid.uuid4()),
        dag_id=dag_id,
        run_id=run_id,
        try_number=try_number,
        started_at=utc_now_naive(),
        hours=tuple(sorted({change.replication_hour for change in pending})),
        load_ids=tuple(change.load_id for change in pending),
    )


def record_build_started(conn_id: str, build: Build) -> None:
    params = {
        "build_id": build.build_id,
        "dag_id": build.dag_id,
        "run_id": build.run_id,
        "try_number": build.try_number,
        "started_at": _sql_time(build.started_at),
        "hours": len(build.hours),
        "first_hour": _sql_time(build.hours[0]),
        "last_hour": _sql_time(build.hours[-1]),
        "changes": len(build.load_ids),
        "details": json.dumps({"hours": build.hour_labels}),
    }
    run_statements(conn_id, [(render_sql("modeling/insert_build.sql", **_context()), params)])


def record_build_finished(conn_id: str, build: Build, succeeded: bool, failed_nodes: list[str]) -> int:
    """The build's outcome, and on success its changes marked modeled, in one transaction.

    Returns how many changes it marked: fewer than it read only if another build marked some first,
    which one-build-at-a-time excludes, so the caller logs any difference.
    """
    context = _context()
    finished_at = _sql_time(utc_now_naive())
    details = json.dumps({"hours": build.hour_labels, "failed_nodes": failed_nodes})
    status = BUILD_SUCCESS if succeeded else BUILD_FAILED
    with transaction(conn_id) as cursor:
        cursor.execute(
            render_sql("modeling/finish_build.sql", **context),
            {"build_id": build.build_id, "finished_at": finished_at, "status": status, "details": details},
        )
        if not succeeded:
            return 0
        marked = 0
        # Bound IN lists stay small: a month of hourly loads is a few hundred ids, sent in slices.
        for start in range(0, len(build.load_ids), 500):
            cursor.execute(
                render_sql("modeling/mark_changes_modeled.sql", **context),
                {
                    "build_id": build.build_id,
                    "modeled_at": finished_at,
                    "load_ids": tuple(build.load_ids[start : start + 500]),
                },
            )
            marked += cursor.rowcount or 0
    return marked
