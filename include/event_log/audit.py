"""The daily audit of the event log: S3 (what Flink landed and committed) against what was loaded.

`audit_hours` is the whole comparison, a pure function of plain data: what each hour folder holds,
what was loaded of each hour, and the time. The readers around it turn an S3 listing, the raw table
and the asset events of event_log_ingest into that data; `audit_window` chains them for the task.

"Loaded" comes from two places. An hour with events is loaded when the raw table holds its rows:
their earliest LOADED_AT is the load time and their FILE_NAMEs the files loaded. An hour committed
empty leaves no row, so it is loaded when a successful event_log_ingest run's data interval covers
it. Tasks cannot query Airflow's metadata DB in Airflow 3; they can read an asset's events through
the Task SDK (`inlet_events`), and each event names the run that emitted it (`source_dag_run`:
state and data interval). event_log_ingest emits one event on the raw table per hour it loads.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from include.event_log.checks import FAIL, PASS, CheckResult
from include.event_log.config import SUCCESS_MARKER, IngestConfig, is_committed_part_file

log = logging.getLogger(__name__)

HOUR = timedelta(hours=1)
INGEST_DAG_ID = "event_log_ingest"

# What an hour can be found to be; each is the CHECK_NAME its results are recorded under.
COMMITTED_NOT_LOADED = "committed_not_loaded"
CHANGED_SINCE_LOADED = "changed_since_loaded"
NEVER_COMMITTED = "never_committed"
FINDING_TITLES = {
    COMMITTED_NOT_LOADED: "Committed but not loaded",
    CHANGED_SINCE_LOADED: "Changed since loaded (late data)",
    NEVER_COMMITTED: "Never committed",
}
# The one result a run without findings records.
WINDOW_CLEAN = "audit_window_clean"
# How many file names a finding's details list (the counts are always whole).
LISTED_FILES = 20

# `<prefix>/`-relative key of an object in an hour folder: YYYY/MM/DD/HH/<name>.
HOUR_FOLDER_KEY = re.compile(r"(?P<hour>\d{4}/\d{2}/\d{2}/\d{2})/(?P<name>.+)")


@dataclass(frozen=True)
class AuditConfig:
    # How far back each daily run looks, ending at its data interval end. Longer than a day, so
    # the hours a run finds not yet due are audited by the next runs.
    window: timedelta
    # How long after its end an hour may be uncommitted or unloaded before that is a finding.
    grace: timedelta

    @classmethod
    def from_env(cls) -> AuditConfig:
        days = float(os.environ.get("EVENT_LOG_AUDIT_DAYS", "3"))
        window = timedelta(days=days)
        if window < HOUR or window % HOUR:
            raise ValueError(f"EVENT_LOG_AUDIT_DAYS must be one or more whole hours (0.25 is 6), got {days}")
        grace_seconds = float(os.environ.get("EVENT_LOG_AUDIT_GRACE_SECONDS", 2 * 3600))
        if grace_seconds < 0:
            raise ValueError(f"EVENT_LOG_AUDIT_GRACE_SECONDS must not be negative, got {grace_seconds}")
        return cls(window=window, grace=timedelta(seconds=grace_seconds))


def utc(value: datetime) -> datetime:
    """A plain UTC datetime; naive values are UTC (the raw table's TIMESTAMP_NTZ columns hold UTC)."""
    value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return datetime(*value.timetuple()[:6], value.microsecond, tzinfo=UTC)


def hours_between(start: datetime, end: datetime) -> list[datetime]:
    """The hour starts in [start, end), start rounded down to its hour."""
    hour = utc(start).replace(minute=0, second=0, microsecond=0)
    end = utc(end)
    hours = []
    while hour < end:
        hours.append(hour)
        hour += HOUR
    return hours


def hour_label(hour: datetime) -> str:
    return hour.strftime("%Y-%m-%dT%H:%MZ")


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


# ---------------------------------------------------------------------------------------------------
# What the comparison is made of
# ---------------------------------------------------------------------------------------------------


@dataclass
class HourInS3:
    """What one hour folder holds; an hour with no object at all has no HourInS3."""

    success_modified: datetime | None = None
    # Committed part file name (inside the hour folder) -> LastModified.
    part_files: dict[str, datetime] = field(default_factory=dict)
    # In-progress part files, multipart temp objects, anything else.
    other_objects: list[str] = field(default_factory=list)

    @property
    def committed(self) -> bool:
        return self.success_modified is not None


@dataclass(frozen=True)
class HourLoad:
    """What was loaded of one hour: rows of the raw table, or (an empty hour) a successful ingest run."""

    loaded_at: datetime
    files: frozenset[str] = frozenset()
    rows: int = 0
    source: str = "raw table"


@dataclass(frozen=True)
class Finding:
    kind: str
    hour: datetime
    observed: int
    expected: int
    details: dict[str, Any]

    def check_result(self) -> CheckResult:
        return CheckResult(self.kind, FAIL, self.observed, self.expected, self.details, self.hour.isoformat())


def reload_commands(hours: Iterable[datetime]) -> list[str]:
    """One backfill of event_log_ingest per run of consecutive hours: it creates the runs that are
    missing and re-runs the ones that ended (`completed`), and each run re-loads its hour whole."""
    commands = []
    ordered = sorted(set(hours))
    while ordered:
        first = last = ordered.pop(0)
        while ordered and ordered[0] == last + HOUR:
            last = ordered.pop(0)
        commands.append(
            f"airflow backfill create --dag-id {INGEST_DAG_ID} --from-date {first:%Y-%m-%dT%H:%M:%SZ} "
            f"--to-date {last:%Y-%m-%dT%H:%M:%SZ} --reprocess-behavior completed"
        )
    return commands


@dataclass
class AuditReport:
    window_start: datetime
    window_end: datetime
    checked_at: datetime
    grace: timedelta
    hours_due: list[datetime]
    hours_not_yet_due: list[datetime]
    hours_present: int
    hours_committed: int
    hours_loaded: int
    findings: list[Finding]

    def hours(self, kind: str) -> list[datetime]:
        return sorted(f.hour for f in self.findings if f.kind == kind)

    @property
    def reload_commands(self) -> list[str]:
        """Re-load what is committed: the hours not loaded and the hours changed since loaded."""
        return reload_commands(self.hours(COMMITTED_NOT_LOADED) + self.hours(CHANGED_SINCE_LOADED))

    @property
    def load_when_committed_commands(self) -> list[str]:
        return reload_commands(self.hours(NEVER_COMMITTED))

    def check_results(self) -> list[CheckResult]:
        if self.findings:
            return [finding.check_result() for finding in self.findings]
        window = {
            "window_start": _iso(self.window_start),
            "window_end": _iso(self.window_end),
            "hours_not_yet_due": [_iso(h) for h in self.hours_not_yet_due],
        }
        hours = len(self.hours_due)
        return [CheckResult(WINDOW_CLEAN, PASS, observed=self.hours_loaded, expected=hours, details=window)]

    def message(self) -> str:
        head = (
            f"Audit of the event log hours {hour_label(self.window_start)} to {hour_label(self.window_end)} "
            f"({len(self.hours_due)} hours due, {len(self.hours_not_yet_due)} not yet due): "
        )
        if not self.findings:
            return head + "every hour due is committed and loaded, and none changed since."
        lines = [head + f"{len(self.findings)} findings."]
        for kind, title in FINDING_TITLES.items():
            if hours := self.hours(kind):
                lines.append(f"{title} ({len(hours)}): {', '.join(hour_label(h) for h in hours)}")
        if commands := self.reload_commands:
            lines.append("Re-load the committed hours (each load replaces its hour whole):")
            lines += [f"  {command}" for command in commands]
        if commands := self.load_when_committed_commands:
            lines.append(
                "Never committed: Flink wrote no _SUCCESS (is the job running? are checkpoints failing?). "
                "Once each hour has its _SUCCESS, load it:"
            )
            lines += [f"  {command}" for command in commands]
        return "\n".join(lines)

    def as_dict(self) -> dict[str, Any]:
        return {
            "window_start": _iso(self.window_start),
            "window_end": _iso(self.window_end),
            "checked_at": _iso(self.checked_at),
            "grace_seconds": self.grace.total_seconds(),
            "hours_due": len(self.hours_due),
            "hours_not_yet_due": [_iso(h) for h in self.hours_not_yet_due],
            "hours_present": self.hours_present,
            "hours_committed": self.hours_committed,
            "hours_loaded": self.hours_loaded,
            "findings": {kind: [_iso(h) for h in self.hours(kind)] for kind in FINDING_TITLES},
            "details": [
                {"hour": _iso(f.hour), "kind": f.kind, "observed": f.observed, "expected": f.expected, **f.details}
                for f in self.findings
            ],
            "reload_commands": self.reload_commands,
            "load_when_committed_commands": self.load_when_committed_commands,
            "message": self.message(),
        }


# ---------------------------------------------------------------------------------------------------
# The comparison
# ---------------------------------------------------------------------------------------------------


def _never_committed(hour: datetime, folder: HourInS3 | None, grace: timedelta) -> Finding:
    details = {
        "folder_present": folder is not None,
        "part_files": len(folder.part_files) if folder else 0,
        "other_objects": len(folder.other_objects) if folder else 0,
        "due_at": _iso(hour + HOUR + grace),
    }
    return Finding(NEVER_COMMITTED, hour, observed=0, expected=1, details=details)


def _not_loaded(hour: datetime, folder: HourInS3) -> Finding:
    details = {
        "success_modified": _iso(folder.success_modified),
        "part_files": len(folder.part_files),
        "empty_hour": not folder.part_files,
    }
    return Finding(COMMITTED_NOT_LOADED, hour, observed=0, expected=len(folder.part_files), details=details)


def _changed_since_loaded(hour: datetime, folder: HourInS3, load: HourLoad) -> Finding | None:
    assert folder.success_modified is not None
    committed = set(folder.part_files)
    new_files = sorted(committed - load.files)
    missing_files = sorted(load.files - committed)
    rewritten = sorted(n for n in committed & load.files if folder.part_files[n] > load.loaded_at)
    recommitted = folder.success_modified > load.loaded_at
    if not (new_files or missing_files or rewritten or recommitted):
        return None
    details = {
        "loaded_at": _iso(load.loaded_at),
        "loaded_from": load.source,
        "success_modified": _iso(folder.success_modified),
        "recommitted_after_load": recommitted,
        "new_files": len(new_files),
        "missing_files": len(missing_files),
        "rewritten_files": len(rewritten),
        "files": {
            "new": new_files[:LISTED_FILES],
            "missing": missing_files[:LISTED_FILES],
            "rewritten": rewritten[:LISTED_FILES],
        },
    }
    return Finding(CHANGED_SINCE_LOADED, hour, len(load.files), len(committed), details)


def audit_hours(
    window_start: datetime,
    window_end: datetime,
    s3_hours: Mapping[datetime, HourInS3],
    loads: Mapping[datetime, HourLoad],
    now: datetime,
    grace: timedelta,
) -> AuditReport:
    """Compare each hour of [window_start, window_end) whose end is more than `grace` before `now`.

    Per due hour, exactly one of: never committed (no `_SUCCESS`, folder or not); committed but not
    loaded; changed since loaded (a committed part file the load did not read, a loaded file gone,
    or `_SUCCESS` or a loaded part file modified after the load); or nothing to report.
    """
    start, end, now = utc(window_start), utc(window_end), utc(now)
    hours = hours_between(start, end)
    due = [h for h in hours if h + HOUR + grace <= now]
    findings: list[Finding] = []
    for hour in due:
        folder, load = s3_hours.get(hour), loads.get(hour)
        if folder is None or not folder.committed:
            findings.append(_never_committed(hour, folder, grace))
        elif load is None:
            findings.append(_not_loaded(hour, folder))
        elif changed := _changed_since_loaded(hour, folder, load):
            findings.append(changed)
    return AuditReport(
        window_start=start,
        window_end=end,
        checked_at=now,
        grace=grace,
        hours_due=due,
        hours_not_yet_due=[h for h in hours if h not in due],
        hours_present=sum(1 for h in due if h in s3_hours),
        hours_committed=sum(1 for h in due if h in s3_hours and s3_hours[h].committed),
        hours_loaded=sum(1 for h in due if h in loads),
        findings=findings,
    )


# ---------------------------------------------------------------------------------------------------
# Readers: S3, the raw table, the ingest runs
# ---------------------------------------------------------------------------------------------------


def list_window_objects(s3_hook: Any, config: IngestConfig, start: datetime, end: datetime) -> dict[datetime, HourInS3]:
    """Every object of the hour folders in [start, end): one paginated listing per day folder."""
    start, end = utc(start), utc(end)
    root = f"{config.prefix}/" if config.prefix else ""
    folders: dict[datetime, HourInS3] = {}
    day = start.replace(hour=0, minute=0, second=0, microsecond=0)
    while day < end:
        for obj in s3_hook.iter_file_metadata(prefix=f"{root}{day:%Y/%m/%d/}", bucket_name=config.bucket):
            match = HOUR_FOLDER_KEY.fullmatch(obj["Key"].removeprefix(root))
            if match is None:
                continue
            hour = datetime.strptime(match["hour"], "%Y/%m/%d/%H").replace(tzinfo=UTC)
            if not start <= hour < end:
                continue
            folder = folders.setdefault(hour, HourInS3())
            name, modified = match["name"], utc(obj["LastModified"])
            if name == SUCCESS_MARKER:
                folder.success_modified = modified
            elif "/" not in name and is_committed_part_file(name):
                folder.part_files[name] = modified
            else:
                folder.other_objects.append(name)
        day += timedelta(days=1)
    log.info(
        "s3://%s/%s: %d hour folders in [%s, %s), %d committed, %d part files",
        config.bucket, root, len(folders), start, end, sum(f.committed for f in folders.values()),
        sum(len(f.part_files) for f in folders.values()),
    )  # fmt: skip
    return folders


def loads_from_raw_rows(rows: Iterable[tuple]) -> dict[datetime, HourLoad]:
    """Rows of `audit/select_loaded_files.sql` (hour, file name, loaded at, rows) -> one load per hour.

    File names are compared inside their hour folder, whatever prefix METADATA$FILENAME carries.
    """
    by_hour: dict[datetime, list[tuple[str, datetime, int]]] = {}
    for hour, file_name, loaded_at, row_count in rows:
        by_hour.setdefault(utc(hour), []).append((str(file_name).rsplit("/", 1)[-1], utc(loaded_at), int(row_count)))
    return {
        hour: HourLoad(
            loaded_at=min(loaded_at for _, loaded_at, _ in files),
            files=frozenset(name for name, _, _ in files),
            rows=sum(count for _, _, count in files),
        )
        for hour, files in by_hour.items()
    }


def loaded_hours_from_raw(conn_id: str, start: datetime, end: datetime) -> dict[datetime, HourLoad]:
    from include.event_log.declarations import event_log_objects
    from include.event_log.sql_templates import render_sql
    from include.event_log.warehouse import run_statements

    sql = render_sql("audit/select_loaded_files.sql", **event_log_objects().template_context())
    params = {"window_start": f"{utc(start):%Y-%m-%d %H:%M:%S}", "window_end": f"{utc(end):%Y-%m-%d %H:%M:%S}"}
    (rows,) = run_statements(conn_id, [(sql, params)])
    return loads_from_raw_rows(rows)


def _source_run(event: Any) -> Any | None:
    """The run that emitted `event`, or None when that run is gone (deleted, or replaced by a new run
    of the same logical date): its events stay, and they no longer say anything about a load."""
    import httpx
    from airflow.sdk.exceptions import AirflowRuntimeError

    try:
        return event.source_dag_run
    except AirflowRuntimeError as error:  # a task asks its supervisor, which asks the API server
        if isinstance(error.error.detail, dict) and error.error.detail.get("status_code") == 404:
            return None
        raise
    except httpx.HTTPStatusError as error:  # dag.test() answers in the task's own process
        if error.response.status_code == 404:
            return None
        raise


def loads_from_ingest_runs(events: Iterable[Any], start: datetime, end: datetime) -> dict[datetime, HourLoad]:
    """The hours of [start, end) that a successful event_log_ingest run's data interval covers.

    `events` are the raw table's asset events (the Task SDK's `AssetEventResult`): each names its
    source run, fetched once per run. The latest event of a covering run is the hour's load time.
    """
    start, end = utc(start), utc(end)
    runs: dict[str, Any] = {}
    loads: dict[datetime, HourLoad] = {}
    for event in events:
        if event.source_dag_id != INGEST_DAG_ID or not event.source_run_id:
            continue
        if event.source_run_id not in runs:
            runs[event.source_run_id] = _source_run(event)
        run = runs[event.source_run_id]
        if run is None or run.state != "success" or run.data_interval_start is None:
            continue
        loaded_at = utc(event.timestamp)
        covered = hours_between(max(start, utc(run.data_interval_start)), min(end, utc(run.data_interval_end)))
        for hour in covered:
            if hour not in loads or loads[hour].loaded_at < loaded_at:
                loads[hour] = HourLoad(loaded_at=loaded_at, source=f"{INGEST_DAG_ID} run {run.run_id}")
    return loads


def audit_window(
    s3_hook: Any,
    conn_id: str,
    ingest_events: Any,
    window_end: datetime,
    config: IngestConfig,
    audit_config: AuditConfig,
    now: datetime | None = None,
) -> AuditReport:
    """Read S3, the raw table and the ingest runs for the window ending at `window_end`; compare."""
    end = utc(window_end).replace(minute=0, second=0, microsecond=0)
    start = end - audit_config.window
    s3_hours = list_window_objects(s3_hook, config, start, end)
    raw_loads = loaded_hours_from_raw(conn_id, start, end)
    # A load cannot end before its hour does, so older events cannot be of the window's hours.
    run_loads = loads_from_ingest_runs(ingest_events.after(start.isoformat()), start, end)
    report = audit_hours(start, end, s3_hours, {**run_loads, **raw_loads}, now or datetime.now(UTC), audit_config.grace)
    log.log(logging.WARNING if report.findings else logging.INFO, "%s", report.message())
    return report
