"""The audit's comparison on hand-built hours: each finding, the not-yet-due boundary, the commands."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import httpx
import pytest

from include.event_log.audit import (
    CHANGED_SINCE_LOADED,
    COMMITTED_NOT_LOADED,
    NEVER_COMMITTED,
    WINDOW_CLEAN,
    AuditConfig,
    HourInS3,
    HourLoad,
    audit_hours,
    list_window_objects,
    loads_from_ingest_runs,
    loads_from_raw_rows,
    reload_commands,
)
from include.event_log.config import IngestConfig

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
    return audit_hours(h(0), h(hours), s3, loads, now, GRACE)


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
    # Hour 3 is committed empty and an ingest run covers it: loaded, though it has no row.
    loads = {h(2): loaded(2, 0), h(3): HourLoad(loaded_at=h(4) + timedelta(minutes=7), source="run")}
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
        # An hour committed empty and loaded by a run, then re-opened by late part files.
        (committed(0, 0), HourLoad(loaded_at=h(1) + timedelta(minutes=10), source="run"), "new_files"),
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
    }
    assert as_xcom["message"] == message


def test_raw_rows_give_one_load_per_hour_named_inside_the_hour_folder():
    rows = [
        (datetime(2025, 8, 5, 1), "2025/08/05/01/" + PART.format(0), datetime(2025, 8, 5, 2, 10, 1), 40),
        (datetime(2025, 8, 5, 1), PART.format(1), datetime(2025, 8, 5, 2, 10, 0), 2),
    ]
    assert loads_from_raw_rows(rows) == {
        h(1): HourLoad(datetime(2025, 8, 5, 2, 10, tzinfo=UTC), frozenset({PART.format(0), PART.format(1)}), 42)
    }


def _event(run, dag_id="event_log_ingest", timestamp=None):
    return SimpleNamespace(
        source_dag_id=dag_id, source_run_id=run.run_id, source_dag_run=run, timestamp=timestamp or h(30)
    )


def _run(run_id, start, end, state="success"):
    return SimpleNamespace(run_id=run_id, state=state, data_interval_start=start, data_interval_end=end)


def test_successful_ingest_runs_load_the_hours_of_their_data_interval():
    events = [
        _event(_run("scheduled__1", h(1), h(2))),
        _event(_run("backfill__2-4", h(2), h(5))),  # one run of three hours, two of them in the window
        _event(_run("manual__6", h(6), h(7), state="failed")),
        _event(_run("other", h(0), h(1)), dag_id="snowflake_objects"),
        _event(_run("manual__0", h(0), h(1)), timestamp=h(3)),
        _event(_run("manual__0b", h(0), h(1)), timestamp=h(9)),
    ]
    loads = loads_from_ingest_runs(events, h(0), h(4))
    assert sorted(loads) == [h(0), h(1), h(2), h(3)]
    assert loads[h(0)].loaded_at == h(9), "the latest successful load of an hour counts"
    assert loads[h(0)].files == frozenset() and loads[h(0)].source == "event_log_ingest run manual__0b"


class _EventOfAGoneRun:
    """An asset event whose source run was deleted: fetching the run answers 404 (or another error)."""

    source_dag_id, source_run_id, timestamp = "event_log_ingest", "manual__replaced", h(30)

    def __init__(self, status_code: int):
        self.status_code = status_code

    @property
    def source_dag_run(self):
        request = httpx.Request("GET", "http://execution-api/dag-runs/event_log_ingest/manual__replaced")
        response = httpx.Response(self.status_code, request=request)
        raise httpx.HTTPStatusError("error", request=request, response=response)


def test_events_of_runs_that_are_gone_say_nothing_and_other_errors_are_raised():
    events = [_EventOfAGoneRun(404), _event(_run("scheduled__1", h(1), h(2)))]
    assert sorted(loads_from_ingest_runs(events, h(0), h(4))) == [h(1)]
    with pytest.raises(httpx.HTTPStatusError):
        loads_from_ingest_runs([_EventOfAGoneRun(500)], h(0), h(4))


def test_listing_sorts_each_hour_folder_and_keeps_the_window_only():
    modified = datetime(2025, 8, 5, 9, tzinfo=UTC)
    keys = [
        "event_log/2025/08/05/00/_SUCCESS",
        f"event_log/2025/08/05/00/{PART.format(0)}",
        f"event_log/2025/08/05/00/{PART.format(1)}.inprogress.0b9e6c1d-1111-2222-3333-444455556666",
        f"event_log/2025/08/05/01/{PART.format(2)}",
        "event_log/2025/08/05/01/nested/part-x.jsonl",
        "event_log/2025/08/05/05/_SUCCESS",  # after the window
        "event_log/2025/08/05/not-an-hour",
    ]
    prefixes = []

    class FakeS3Hook:
        def iter_file_metadata(self, prefix, bucket_name):
            prefixes.append((bucket_name, prefix))
            return [{"Key": k, "LastModified": modified} for k in keys if k.startswith(prefix)]

    config = IngestConfig(**{**IngestConfig.from_env().__dict__, "bucket": "b", "prefix": "event_log"})
    folders = list_window_objects(FakeS3Hook(), config, h(-2), h(2))
    assert prefixes == [("b", "event_log/2025/08/04/"), ("b", "event_log/2025/08/05/")]
    assert sorted(folders) == [h(0), h(1)]
    assert folders[h(0)].success_modified == modified
    assert list(folders[h(0)].part_files) == [PART.format(0)]
    assert len(folders[h(0)].other_objects) == 1
    assert not folders[h(1)].committed
    assert folders[h(1)].other_objects == ["nested/part-x.jsonl"]


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
