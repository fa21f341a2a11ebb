"""The audit's comparison on hand-built hours: each finding, the not-yet-due boundary, the commands."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from include.event_log.audit.findings import (
    CHANGED_NOT_MODELED,
    CHANGED_SINCE_LOADED,
    COMMITTED_NOT_LOADED,
    NEVER_COMMITTED,
    WINDOW_CLEAN,
    AuditConfig,
    HourInS3,
    HourLoad,
    compare_hours,
    loads_from_warehouse,
    reload_commands,
)
from include.event_log.audit.readers import list_window_objects
from include.event_log.config import IngestConfig
from include.event_log.land.hour_layout import HourLayout, HourState, Layout

DAY = datetime(2025, 8, 5, tzinfo=UTC)
HOUR = timedelta(hours=1)
GRACE = timedelta(hours=2)
NOW = DAY + timedelta(days=2)
PART = "part-1c0e8a3e-8a1b-4e55-9d6a-0c1f2e3d4b5a-0-{}.jsonl"


def h(n: int) -> datetime:
    return DAY + n * HOUR


def committed(n: int, *files: int, minutes: int = 5) -> HourInS3:
    """Hour n committed `minutes` after its end, with part files written during the hour."""
    return HourInS3(
        success_modified=h(n + 1) + timedelta(minutes=minutes),
        part_files={PART.format(i): h(n) + timedelta(minutes=30 + i) for i in files},
    )


def loaded(n: int, *files: int, minutes: int = 10) -> HourLoad:
    return HourLoad(loaded_at=h(n + 1) + timedelta(minutes=minutes), files=frozenset(PART.format(i) for i in files))


def audit(s3: dict, loads: dict, hours: int = 4, now: datetime = NOW):
    return compare_hours(h(0), h(hours), s3, loads, now, GRACE)


def by_kind(report) -> dict[str, list[int]]:
    return {
        kind: [int((hour - DAY) / HOUR) for hour in report.hours(kind)]
        for kind in (COMMITTED_NOT_LOADED, CHANGED_SINCE_LOADED, NEVER_COMMITTED)
    }


def test_a_window_committed_and_loaded_records_one_pass():
    s3 = {n: committed(n, 0, 1) for n in range(4)}
    loads = {n: loaded(n, 0, 1) for n in range(4)}
    report = audit({h(n): s3[n] for n in s3}, {h(n): loads[n] for n in loads})
    assert report.findings == []
    (result,) = report.check_results()
    assert (result.check_name, result.status, result.observed, result.expected) == (WINDOW_CLEAN, "pass", 4, 4)
    assert result.replication_hour is None
    assert report.reload_commands == []
    assert "every hour due is committed and loaded" in report.message()
    assert report.as_dict()["details"] == []


def test_committed_hours_without_a_load_are_not_loaded():
    s3 = {h(0): committed(0, 0, 1), h(1): committed(1), h(2): committed(2, 0), h(3): committed(3)}
    # Hour 3 is committed empty and loaded: a change row, though no raw row.
    loads = {h(2): loaded(2, 0), h(3): HourLoad(loaded_at=h(4) + timedelta(minutes=7), source="changes")}
    report = audit(s3, loads)
    assert by_kind(report) == {COMMITTED_NOT_LOADED: [0, 1], CHANGED_SINCE_LOADED: [], NEVER_COMMITTED: []}
    first, empty = report.findings
    assert (first.observed, first.expected, first.details["empty_hour"]) == (0, 2, False)
    assert (empty.observed, empty.expected, empty.details["empty_hour"]) == (0, 0, True)
    assert {(r.check_name, r.status, r.replication_hour) for r in report.check_results()} == {
        (COMMITTED_NOT_LOADED, "fail", h(0).isoformat()),
        (COMMITTED_NOT_LOADED, "fail", h(1).isoformat()),
    }


@pytest.mark.parametrize(
    ("folder", "load", "reason"),
    [
        (committed(0, 0, 1, 2), loaded(0, 0, 1), "new_files"),
        (committed(0, 0), loaded(0, 0, 1), "missing_files"),
        (committed(0, 0, 1, minutes=50), loaded(0, 0, 1), "recommitted_after_load"),
        (
            HourInS3(h(1), {PART.format(0): h(0), PART.format(1): h(1) + timedelta(minutes=20)}),
            loaded(0, 0, 1),
            "rewritten_files",
        ),
        # An hour committed empty and loaded (a change row, no raw row), then re-opened by late part files.
        (committed(0, 0), HourLoad(loaded_at=h(1) + timedelta(minutes=10), source="changes"), "new_files"),
    ],
    ids=["late-part-file", "loaded-file-gone", "success-after-load", "part-file-rewritten", "empty-hour-reopened"],
)
def test_hours_whose_files_changed_since_the_load(folder, load, reason):
    report = audit({h(0): folder}, {h(0): load}, hours=1)
    assert by_kind(report) == {COMMITTED_NOT_LOADED: [], CHANGED_SINCE_LOADED: [0], NEVER_COMMITTED: []}
    (finding,) = report.findings
    assert finding.details[reason]
    assert finding.details["loaded_at"] == load.loaded_at.isoformat()
    assert (finding.observed, finding.expected) == (len(load.files), len(folder.part_files))


def test_late_part_file_is_named_in_the_details():
    report = audit({h(0): committed(0, 0, 1, 2, minutes=45)}, {h(0): loaded(0, 0, 1)}, hours=1)
    details = report.findings[0].details
    assert details["files"]["new"] == [PART.format(2)]
    assert details["new_files"] == 1
    assert details["recommitted_after_load"] is True


def test_uncommitted_hours_with_and_without_a_folder_are_never_committed():
    uncommitted = HourInS3(part_files={PART.format(0): h(1)}, other_objects=["part-x.inprogress.y"])
    s3 = {h(0): committed(0, 0), h(1): uncommitted}
    report = audit(s3, {h(0): loaded(0, 0), h(1): loaded(1, 0)}, hours=3)
    assert by_kind(report) == {COMMITTED_NOT_LOADED: [], CHANGED_SINCE_LOADED: [], NEVER_COMMITTED: [1, 2]}
    with_folder, without = report.findings
    assert with_folder.details == {
        "folder_present": True, "part_files": 1, "other_objects": 1, "due_at": (h(2) + GRACE).isoformat(),
    }  # fmt: skip
    assert without.details["folder_present"] is False
    assert report.hours_present == 2 and report.hours_committed == 1 and report.hours_loaded == 2


def test_hours_not_yet_due_are_left_alone_until_their_end_plus_the_grace():
    # Hour 2 ends at 03:00 and is due at 05:00 exactly; hour 3 is due at 06:00.
    now = h(3) + GRACE
    report = audit({}, {}, now=now)
    assert by_kind(report)[NEVER_COMMITTED] == [0, 1, 2]
    assert report.hours_not_yet_due == [h(3)]
    just_before = audit({}, {}, now=now - timedelta(microseconds=1))
    assert by_kind(just_before)[NEVER_COMMITTED] == [0, 1]
    assert just_before.hours_not_yet_due == [h(2), h(3)]
    # Nothing is due at all: a clean result over zero hours, not a finding.
    assert audit({}, {}, now=h(1) + GRACE - timedelta(seconds=1)).findings == []


def test_reload_commands_cover_runs_of_consecutive_hours():
    assert reload_commands([h(4), h(1), h(2), h(2)]) == [
        "airflow backfill create --dag-id event_log_ingest --from-date 2025-08-05T01:00:00Z "
        "--to-date 2025-08-05T02:00:00Z --reprocess-behavior completed",
        "airflow backfill create --dag-id event_log_ingest --from-date 2025-08-05T04:00:00Z "
        "--to-date 2025-08-05T04:00:00Z --reprocess-behavior completed",
    ]
    assert reload_commands([]) == []
    across_midnight = reload_commands([DAY - HOUR, DAY])
    assert across_midnight == [
        "airflow backfill create --dag-id event_log_ingest --from-date 2025-08-04T23:00:00Z "
        "--to-date 2025-08-05T00:00:00Z --reprocess-behavior completed"
    ]


def test_the_failure_message_lists_the_hours_of_each_kind_and_the_commands():
    s3 = {h(0): committed(0, 0), h(1): committed(1, 0, 1), h(2): committed(2, 0), h(4): HourInS3()}
    loads = {h(0): loaded(0, 0), h(1): loaded(1, 0)}
    report = audit(s3, loads, hours=5)
    assert by_kind(report) == {COMMITTED_NOT_LOADED: [2], CHANGED_SINCE_LOADED: [1], NEVER_COMMITTED: [3, 4]}
    message = report.message()
    assert "Committed but not loaded (1): 2025-08-05T02:00Z" in message
    assert "Changed since loaded (late data) (1): 2025-08-05T01:00Z" in message
    assert "Never committed (2): 2025-08-05T03:00Z, 2025-08-05T04:00Z" in message
    assert report.reload_commands == reload_commands([h(1), h(2)])
    assert report.load_when_committed_commands == reload_commands([h(3), h(4)])
    for command in report.reload_commands + report.load_when_committed_commands:
        assert f"  {command}" in message
    as_xcom = report.as_dict()
    assert as_xcom["findings"] == {
        COMMITTED_NOT_LOADED: [h(2).isoformat()],
        CHANGED_SINCE_LOADED: [h(1).isoformat()],
        NEVER_COMMITTED: [h(3).isoformat(), h(4).isoformat()],
        CHANGED_NOT_MODELED: [],
    }
    assert as_xcom["message"] == message


def test_the_warehouse_gives_one_load_per_hour_named_inside_the_hour_folder():
    file_rows = [
        (datetime(2025, 8, 5, 1), "2025/08/05/01/" + PART.format(0), datetime(2025, 8, 5, 2, 10, 1), 40),
        (datetime(2025, 8, 5, 1), PART.format(1), datetime(2025, 8, 5, 2, 10, 0), 2),
        (datetime(2025, 8, 5, 5), "dt=2025-08-05/hr=05/" + PART.format(3), datetime(2025, 8, 5, 6, 1), 7),
    ]
    # Hour 1's latest load (a re-load) and hour 3, committed empty: a change row but no raw row.
    change_rows = [
        (datetime(2025, 8, 5, 1), datetime(2025, 8, 5, 4)),
        (datetime(2025, 8, 5, 3), datetime(2025, 8, 5, 4)),
    ]
    loads = loads_from_warehouse(file_rows, change_rows)
    assert loads == {
        h(1): HourLoad(h(4), frozenset({PART.format(0), PART.format(1)}), 42, "hour-changes table"),
        h(3): HourLoad(h(4), frozenset(), 0, "hour-changes table"),
        # Loaded before the hour-changes table existed: its rows' earliest load time.
        h(5): HourLoad(datetime(2025, 8, 5, 6, 1, tzinfo=UTC), frozenset({PART.format(3)}), 7, "raw table"),
    }


def test_a_change_not_modeled_past_the_grace_is_a_finding_with_a_command():
    s3 = {h(n): committed(n, 0) for n in range(3)}
    loads = {h(n): loaded(n, 0) for n in range(3)}
    pending = {h(1): h(2) + timedelta(minutes=10), h(2): NOW - timedelta(minutes=5)}  # hour 2: within the grace
    report = compare_hours(h(0), h(3), s3, loads, NOW, GRACE, pending)
    assert [(f.kind, f.hour) for f in report.findings] == [(CHANGED_NOT_MODELED, h(1))]
    assert report.model_commands == [
        "airflow tasks clear event_log_ingest -t dbt_models. -s 2025-08-05T01:00:00+00:00 "
        "-e 2025-08-05T01:00:00+00:00 -y"
    ]
    assert report.model_commands[0] in report.message()
    assert report.reload_commands == []


def _keys(layout: str) -> list[str]:
    folder = {"plain": "event_log/2025/08/05/{:02d}/", "hive": "event_log/dt=2025-08-05/hr={:02d}/"}[layout]
    return [
        folder.format(0) + "_SUCCESS",
        folder.format(0) + PART.format(0),
        folder.format(0) + f".{PART.format(1)}.inprogress.0b9e6c1d-1111-2222-3333-444455556666",
        folder.format(1) + PART.format(2),
        folder.format(1) + "nested/part-x.jsonl",
        # Hour 2 has no folder; hour 3 is committed: hour 2 is complete and empty.
        folder.format(3) + "_SUCCESS",
        folder.format(5) + "_SUCCESS",  # after the window
        "event_log/not-an-hour",
    ]


@pytest.mark.parametrize("layout", ["plain", "hive"])
def test_listing_sorts_each_hour_folder_and_keeps_the_window_only(layout):
    modified = h(0) + timedelta(minutes=30)  # before every load below
    keys = _keys(layout)
    prefixes = []

    class FakeS3Hook:
        def iter_file_metadata(self, prefix, bucket_name):
            prefixes.append((bucket_name, prefix))
            return [{"Key": k, "LastModified": modified} for k in keys if k.startswith(prefix)]

    hours = HourLayout(Layout(layout), "event_log")
    config = IngestConfig(**{**IngestConfig.from_env().__dict__, "bucket": "b", "prefix": "event_log", "layout": hours})
    folders = list_window_objects(FakeS3Hook(), config, h(-2), h(4), NOW)
    assert prefixes == [("b", hours.day_prefix(h(-2))), ("b", hours.day_prefix(h(0)))]
    # Hours -2, -1 and 2 have no folder; the later hours 0 and 3 are committed: complete and empty.
    assert sorted(folders) == [h(-2), h(-1), h(0), h(1), h(2), h(3)]
    assert folders[h(-1)].state is HourState.COMPLETE_EMPTY
    assert folders[h(0)].success_modified == modified and folders[h(0)].state is HourState.COMMITTED
    assert list(folders[h(0)].part_files) == [PART.format(0)]
    assert len(folders[h(0)].other_objects) == 1
    assert not folders[h(1)].committed
    assert folders[h(1)].other_objects == ["nested/part-x.jsonl"]
    assert folders[h(2)].state is HourState.COMPLETE_EMPTY and folders[h(2)].committed
    report = compare_hours(h(0), h(4), folders, {h(0): loaded(0, 0), h(3): loaded(3)}, NOW, GRACE)
    assert by_kind(report) == {COMMITTED_NOT_LOADED: [2], CHANGED_SINCE_LOADED: [], NEVER_COMMITTED: [1]}
    assert report.findings[1].details["empty_hour"] is True


def test_audit_config_from_the_environment(monkeypatch):
    monkeypatch.delenv("EVENT_LOG_AUDIT_DAYS", raising=False)
    monkeypatch.delenv("EVENT_LOG_AUDIT_GRACE_SECONDS", raising=False)
    assert AuditConfig.from_env() == AuditConfig(window=timedelta(days=3), grace=timedelta(hours=2))
    monkeypatch.setenv("EVENT_LOG_AUDIT_DAYS", "0.25")
    monkeypatch.setenv("EVENT_LOG_AUDIT_GRACE_SECONDS", "0")
    assert AuditConfig.from_env() == AuditConfig(window=timedelta(hours=6), grace=timedelta(0))
    monkeypatch.setenv("EVENT_LOG_AUDIT_DAYS", "0.1")
    with pytest.raises(ValueError, match="one or more whole hours"):
        AuditConfig.from_env()
