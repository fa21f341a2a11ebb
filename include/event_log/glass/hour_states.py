"""The state of each replication hour from commit to model, as the "Event log" page shows it.

Per hour, five cells, each with one state (one colour on the page) and the run it comes from:

- committed: `committed` (the `_SUCCESS` LastModified, files, bytes), `uncommitted` (no `_SUCCESS` in
  an hour that has ended), `open` (the hour has not ended);
- loaded: the latest row of EVENT_LOG_HOUR_CHANGES: `loaded` (files, rows, rejects), `stale` (committed
  again after that load: late data), `failed` (no load, but rejected lines: a load rolled back),
  `not_loaded`;
- checks: the worst status of the latest event_log_ingest run that checked the hour: `pass`, `warn`,
  `fail`, or `none`;
- modeled: `modeled` (MODELED_AT of the latest change, the build's run), `failed` (a build covering
  the hour failed after the change), `pending` (loaded, not modeled yet), `none` (nothing loaded);
- deadline: `missed` (a `deadline_missed` row for the hour) or `ok`.

`read_hour_states` reads S3 (through `s3_commits.committed_hours`) and the warehouse (include/sql/glass/);
`hour_states` is the pure part.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

from include.event_log.land.s3_commits import HOUR, HourCommit, hours_between

INGEST_DAG_ID = "event_log_ingest"
DEADLINE_CHECK = "deadline_missed"
STATUS_RANK = {"pass": 0, "warn": 1, "fail": 2}
COLUMNS = ("committed", "loaded", "checks", "modeled", "deadline")


def run_href(dag_id: str | None, run_id: str | None, ui_base: str = "../") -> str | None:
    """A link to the run's page in the Airflow UI, relative to the page (Astro serves under a path)."""
    if not dag_id or not run_id:
        return None
    return f"{ui_base}dags/{quote(dag_id, safe='')}/runs/{quote(run_id, safe='')}"


def _utc(value: Any) -> datetime | None:
    if value is None or value == "":
        return None
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _stamp(moment: datetime | None) -> str | None:
    return f"{moment:%Y-%m-%d %H:%M:%S}" if moment else None


@dataclass
class Cell:
    state: str
    text: str
    dag_id: str | None = None
    run_id: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def as_dict(self, ui_base: str = "../") -> dict[str, Any]:
        return {
            "state": self.state,
            "text": self.text,
            "dag_id": self.dag_id,
            "run_id": self.run_id,
            "href": run_href(self.dag_id, self.run_id, ui_base),
            "details": self.details,
        }


@dataclass
class HourState:
    hour: datetime
    cells: dict[str, Cell]

    @property
    def run_ids(self) -> set[str]:
        return {cell.run_id for cell in self.cells.values() if cell.run_id}

    def as_dict(self, ui_base: str = "../") -> dict[str, Any]:
        return {"hour": self.hour.isoformat(), **{name: self.cells[name].as_dict(ui_base) for name in COLUMNS}}


def _rows(rows: Iterable[Iterable[Any]], names: str) -> list[dict[str, Any]]:
    keys = names.split()
    return [dict(zip(keys, row, strict=True)) for row in rows]


def _latest_checks(results: list[dict[str, Any]]) -> tuple[str | None, list[dict[str, Any]]]:
    """The run that checked the hour last, and its results."""
    if not results:
        return None, []
    last = max(results, key=lambda r: _utc(r["checked_at"]))
    return last["run_id"], [r for r in results if r["run_id"] == last["run_id"]]


def hour_states(
    hours: list[datetime],
    now: datetime,
    commits: dict[datetime, HourCommit],
    changes: list[dict[str, Any]],
    rejects: dict[datetime, int],
    check_results: list[dict[str, Any]],
    builds: list[dict[str, Any]],
) -> list[HourState]:
    """One HourState per hour, newest first. Rows are dicts keyed by lower-case column names."""
    change_by_hour = {_utc(row["replication_hour"]): row for row in changes}
    results_by_hour: dict[datetime, list[dict[str, Any]]] = {}
    for row in check_results:
        results_by_hour.setdefault(_utc(row["replication_hour"]), []).append(row)
    builds_by_id = {row["build_id"]: row for row in builds}
    states = []
    for hour in sorted(hours, reverse=True):
        commit = commits.get(hour)
        change = change_by_hour.get(hour)
        rows = results_by_hour.get(hour, [])
        misses = [row for row in rows if row["check_name"] == DEADLINE_CHECK]
        checked_run, checks = _latest_checks([row for row in rows if row["check_name"] != DEADLINE_CHECK])
        changed_at = _utc(change["changed_at"]) if change else None
        miss_run = misses[-1]["run_id"] if misses else None
        load_dag, load_run = (
            (change["dag_id"], change["run_id"]) if change else (INGEST_DAG_ID, checked_run or miss_run)
        )
        if not load_run:
            load_dag = None

        if commit:
            committed = Cell(
                "committed", f"{commit.committed_at:%H:%M:%S}", load_dag, load_run,
                {"committed_at": commit.committed_at.isoformat(), "files": commit.files, "bytes": commit.bytes,
                 "folder": commit.folder},
            )  # fmt: skip
        elif hour + HOUR > now:
            committed = Cell("open", "open", load_dag, load_run)
        else:
            committed = Cell("uncommitted", "not committed", load_dag, load_run)

        rejected = rejects.get(hour, 0)
        if change:
            details = {
                "changed_at": changed_at.isoformat(), "files": change["files_loaded"], "rows": change["rows_loaded"],
                "rows_replaced": change["rows_replaced"], "rejects": rejected, "load_id": change["load_id"],
            }  # fmt: skip
            text = f"{change['files_loaded']} files, {change['rows_loaded']} rows" + (
                f", {rejected} rejects" if rejected else ""
            )
            stale = commit is not None and commit.committed_at > changed_at
            loaded = Cell("stale" if stale else "loaded", ("re-committed: " if stale else "") + text,
                          change["dag_id"], change["run_id"], details)  # fmt: skip
        elif rejected:
            loaded = Cell("failed", f"not loaded, {rejected} rejects", load_dag, load_run, {"rejects": rejected})
        else:
            loaded = Cell("not_loaded", "not loaded", load_dag, load_run)

        if checks:
            worst = max(checks, key=lambda r: STATUS_RANK.get(r["status"], 2))["status"]
            failing = sorted(r["check_name"] for r in checks if r["status"] == worst and worst != "pass")
            check_cell = Cell(worst, worst + (f": {', '.join(failing)}" if failing else f" ({len(checks)})"),
                              INGEST_DAG_ID, checked_run,
                              {"results": {r["check_name"]: r["status"] for r in checks}})  # fmt: skip
        else:
            check_cell = Cell("none", "no checks")

        modeled = Cell("none", "—")
        if change and change.get("modeled_at"):
            build = builds_by_id.get(change.get("build_id"), {})
            modeled_at = _utc(change["modeled_at"])
            modeled = Cell("modeled", f"{modeled_at:%H:%M:%S}", build.get("dag_id"), build.get("run_id"),
                           {"modeled_at": modeled_at.isoformat(), "build_id": change.get("build_id"),
                            "build_status": build.get("status")})  # fmt: skip
        elif change:
            failed = [
                b for b in builds
                if b["status"] == "failed" and _utc(b["first_hour"]) <= hour <= _utc(b["last_hour"])
                and _utc(b["started_at"]) >= changed_at
            ]  # fmt: skip
            if failed:
                build = failed[-1]
                modeled = Cell("failed", "build failed", build["dag_id"], build["run_id"],
                               {"build_id": build["build_id"], "details": _json(build.get("details"))})  # fmt: skip
            else:
                modeled = Cell("pending", "pending", change["dag_id"], change["run_id"])

        if misses:
            deadline_details = _json(misses[-1].get("details"))
            deadline = Cell("missed", "missed", INGEST_DAG_ID, miss_run,
                            {"deadline_time": deadline_details.get("deadline_time")})  # fmt: skip
        else:
            deadline = Cell("ok", "met" if change else "—")

        cells = {"committed": committed, "loaded": loaded, "checks": check_cell, "modeled": modeled,
                 "deadline": deadline}  # fmt: skip
        states.append(HourState(hour, cells))
    return states


def _json(text: Any) -> dict[str, Any]:
    if isinstance(text, dict):
        return text
    try:
        value = json.loads(text) if text else {}
    except ValueError:
        return {"text": str(text)}
    return value if isinstance(value, dict) else {"value": value}


def window(now: datetime, days: int) -> list[datetime]:
    """The hours of the last `days` days, up to the current hour."""
    return hours_between(now - timedelta(days=days) + HOUR, now)


def read_hour_states(snowflake_conn_id: str, s3_client: Any, config: Any, now: datetime, days: int) -> list[HourState]:
    """Read S3 and the warehouse for the window's hours and build their states."""
    from include.event_log.land.s3_commits import committed_hours
    from include.event_log.objects.declarations import event_log_objects
    from include.event_log.sql_templates import render_sql
    from include.event_log.warehouse import run_statements

    hours = window(now, days)
    context = event_log_objects().template_context()
    bounds = {"first_hour": _stamp(hours[0]), "last_hour": _stamp(hours[-1])}
    changes, rejects, results, builds = run_statements(
        snowflake_conn_id,
        [
            (render_sql("glass/select_hour_changes.sql", **context), bounds),
            (render_sql("glass/select_hour_rejects.sql", **context), bounds),
            (render_sql("glass/select_hour_check_results.sql", **context), {**bounds, "dag_id": INGEST_DAG_ID}),
            (render_sql("glass/select_model_builds.sql", **context), bounds),
        ],
    )
    change_columns = "replication_hour load_id changed_at dag_id run_id rows_loaded rows_replaced files_loaded "
    build_columns = "build_id dag_id run_id try_number started_at finished_at status hours first_hour last_hour "
    return hour_states(
        hours,
        now,
        committed_hours(s3_client, config, hours[0], hours[-1]),
        _rows(changes, change_columns + "build_id modeled_at"),
        {_utc(hour): count for hour, count in rejects},
        _rows(results, "replication_hour run_id check_name status checked_at details"),
        _rows(builds, build_columns + "changes details"),
    )
