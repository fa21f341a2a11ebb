"""The daily audit of the event log: S3 (what Flink landed and committed) against what was loaded.

`compare_hours` is the whole comparison, a pure function of plain data: what each hour folder holds
(and whether the hour is complete, by the hour layout's rules: include/event_log/land/hour_layout.py), what
was loaded of each hour, which changes no build has modeled yet, and the time. `hours_in_s3` and
`loads_from_warehouse` turn raw rows into that data; the readers (S3 and the warehouse) and `audit_window`,
which chains them for the task, are in include/event_log/audit/readers.py.

"Loaded" comes from the warehouse: every load records one row in EVENT_LOG_HOUR_CHANGES, an empty hour
included (its latest CHANGED_AT is the load time), and the raw table's FILE_NAMEs are the files it
loaded. A change with no BUILD_ID is not modeled yet: the next build of any run models it.

Length (about 390 lines): the four findings, the report that words them and prints their commands, and the
comparison are one piece of logic that a reader checks against each other; all of it is pure.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from include.event_log.check.results import FAIL, PASS, CheckResult
from include.event_log.config import env_duration, env_number
from include.event_log.land.hour_layout import (
    SUCCESS_MARKER,
    HourLayout,
    HourObjects,
    HourState,
    hour_label,
    iter_hours,
    utc,
)

HOUR = timedelta(hours=1)
INGEST_DAG_ID = "event_log_ingest"

# What an hour can be found to be; each is the CHECK_NAME its results are recorded under.
COMMITTED_NOT_LOADED = "committed_not_loaded"
CHANGED_SINCE_LOADED = "changed_since_loaded"
NEVER_COMMITTED = "never_committed"
CHANGED_NOT_MODELED = "changed_not_modeled"
FINDING_TITLES = {
    COMMITTED_NOT_LOADED: "Committed but not loaded",
    CHANGED_SINCE_LOADED: "Changed since loaded (late data)",
    NEVER_COMMITTED: "Never committed",
    CHANGED_NOT_MODELED: "Loaded but not modeled",
}
# The one result a run without findings records.
WINDOW_CLEAN = "audit_window_clean"
# How many file names a finding's details list (the counts are always whole).
LISTED_FILES = 20


@dataclass(frozen=True)
class AuditConfig:
    # How far back each daily run looks, ending at its data interval end. Longer than a day, so
    # the hours a run finds not yet due are audited by the next runs.
    window: timedelta
    # How long after its end an hour may be uncommitted or unloaded before that is a finding.
    grace: timedelta

    @classmethod
    def from_env(cls) -> AuditConfig:
        days = env_number("EVENT_LOG_AUDIT_DAYS", 3, above=0, maximum=366)
        window = timedelta(days=days)
        if window < HOUR or window % HOUR:
            raise ValueError(f"EVENT_LOG_AUDIT_DAYS must be one or more whole hours (0.25 is 6), got {days}")
        return cls(window=window, grace=env_duration("EVENT_LOG_AUDIT_GRACE_SECONDS", 2 * 3600))


def hours_between(start: datetime, end: datetime) -> list[datetime]:
    """The hour starts in [start, end), start rounded down to its hour."""
    return list(iter_hours(start, end))


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


# ---------------------------------------------------------------------------------------------------
# What the comparison is made of
# ---------------------------------------------------------------------------------------------------


@dataclass
class HourInS3:
    """What one hour folder holds, and whether the hour is complete; an hour with no folder has none,
    unless a later hour shows it is complete and empty (state COMPLETE_EMPTY)."""

    success_modified: datetime | None = None
    # Finished part file name (inside the hour folder) -> LastModified.
    part_files: dict[str, datetime] = field(default_factory=dict)
    # In-progress part files, multipart temp objects, anything else.
    other_objects: list[str] = field(default_factory=list)
    # By the layout's completion rule; without one (hand-built data), `_SUCCESS` decides.
    state: HourState | None = None

    @property
    def committed(self) -> bool:
        """Complete: committed, or complete and empty."""
        if self.state is not None:
            return self.state is not HourState.NOT_YET
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


def model_commands(hours: Iterable[datetime]) -> list[str]:
    """Build the models over every pending change: clear the dbt tasks of the run of the latest hour (its
    build task models every change still pending, whichever run made it). Airflow 3.3's `tasks clear -t` matches
    a substring of the task id (not a regular expression, whatever its help says): `dbt_models.` is the group."""
    if not (ordered := sorted(set(hours))):
        return []
    latest = ordered[-1]
    return [f"airflow tasks clear {INGEST_DAG_ID} -t dbt_models. -s {latest:%Y-%m-%dT%H:%M:%S}+00:00 "
            f"-e {latest:%Y-%m-%dT%H:%M:%S}+00:00 -y"]  # fmt: skip


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

    @property
    def model_commands(self) -> list[str]:
        return model_commands(self.hours(CHANGED_NOT_MODELED))

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
                "Never committed: Flink did not complete the hour (is the job running? are checkpoints failing?). "
                "Once each hour is complete, load it:"
            )
            lines += [f"  {command}" for command in commands]
        if commands := self.model_commands:
            lines.append("Loaded but not modeled: build the models over every pending change:")
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
            "model_commands": self.model_commands,
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
    committed = set(folder.part_files)
    new_files = sorted(committed - load.files)
    missing_files = sorted(load.files - committed)
    rewritten = sorted(n for n in committed & load.files if folder.part_files[n] > load.loaded_at)
    recommitted = folder.success_modified is not None and folder.success_modified > load.loaded_at
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


def compare_hours(
    window_start: datetime,
    window_end: datetime,
    s3_hours: Mapping[datetime, HourInS3],
    loads: Mapping[datetime, HourLoad],
    now: datetime,
    grace: timedelta,
    pending: Mapping[datetime, datetime] | None = None,
) -> AuditReport:
    """Compare each hour of [window_start, window_end) whose end is more than `grace` before `now`.

    Per due hour, exactly one of: never committed (not complete, folder or not); committed but not
    loaded; changed since loaded (a committed part file the load did not read, a loaded file gone,
    or `_SUCCESS` or a loaded part file modified after the load); loaded but not modeled (`pending`:
    hour -> its oldest change no build has modeled, older than `grace`); or nothing to report.
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
        elif (since := (pending or {}).get(hour)) is not None and utc(since) + grace <= now:
            details = {"pending_since": _iso(utc(since)), "loaded_at": _iso(load.loaded_at)}
            findings.append(Finding(CHANGED_NOT_MODELED, hour, observed=0, expected=1, details=details))
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
# Readers: S3, the warehouse
# ---------------------------------------------------------------------------------------------------


def hours_in_s3(
    layout: HourLayout, objects: Iterable[tuple[str, datetime]], start: datetime, end: datetime, now: datetime
) -> dict[datetime, HourInS3]:
    """(key, LastModified) of the hour folders in and after [start, end) -> each hour of the window that
    has a folder, or that a later hour shows complete and empty; with the layout's completion state."""
    start, end = utc(start), utc(end)
    names: dict[datetime, list[str]] = {}
    modified: dict[datetime, dict[str, datetime]] = {}
    for key, last_modified in objects:
        parsed = layout.parse_key(key)
        if parsed is not None:
            names.setdefault(parsed.hour, []).append(parsed.name)
            modified.setdefault(parsed.hour, {})[parsed.name] = utc(last_modified)
    folders: dict[datetime, HourInS3] = {}
    for hour in hours_between(start, end):
        completion = layout.completion_of(hour, names, now)
        if hour not in names and completion.state is not HourState.COMPLETE_EMPTY:
            continue
        objects_of_hour = HourObjects.of(names.get(hour, ()))
        times = modified.get(hour, {})
        folders[hour] = HourInS3(
            success_modified=times.get(SUCCESS_MARKER),
            part_files={name: times[name] for name in objects_of_hour.loadable},
            other_objects=[
                name for name in (*objects_of_hour.byproducts, *objects_of_hour.unexpected) if name != SUCCESS_MARKER
            ],
            state=completion.state,
        )
    return folders


def loads_from_warehouse(file_rows: Iterable[tuple], change_rows: Iterable[tuple]) -> dict[datetime, HourLoad]:
    """The latest load of each hour: its time from the hour-changes table (every load writes a row, an
    empty hour's included), its files from the raw table (rows of `audit/select_loaded_files.sql`: hour,
    file name, loaded at, rows), named inside their hour folder whatever prefix METADATA$FILENAME carries.
    An hour loaded before the hour-changes table existed has its rows' earliest LOADED_AT."""
    files: dict[datetime, list[tuple[str, datetime, int]]] = {}
    for hour, file_name, loaded_at, row_count in file_rows:
        files.setdefault(utc(hour), []).append((str(file_name).rsplit("/", 1)[-1], utc(loaded_at), int(row_count)))
    changed = {utc(hour): utc(changed_at) for hour, changed_at in change_rows}
    return {
        hour: HourLoad(
            loaded_at=changed.get(hour) or min(loaded_at for _, loaded_at, _ in files[hour]),
            files=frozenset(name for name, _, _ in files.get(hour, ())),
            rows=sum(count for _, _, count in files.get(hour, ())),
            source="hour-changes table" if hour in changed else "raw table",
        )
        for hour in changed.keys() | files.keys()
    }
