"""Each per-hour check's verdict, from plain data (include/event_log/check/hour_checks.py `hour_verdicts`): a clean hour
passes every check; each fault changes exactly its own check, to fail (reconciliation) or warn (counted)."""

from __future__ import annotations

import pytest

from include.event_log.check.hour_checks import hour_verdicts
from include.event_log.check.results import FAIL, PASS, WARN

HOUR = "2026-11-20T05:00:00+00:00"
FILES = ["dt=2026-11-20/hr=05/part-a-0-0", "dt=2026-11-20/hr=05/part-b-0-0"]
TYPES = [("STEP_SUCCESS", 60), ("PIPELINE_START", 40), (None, 5)]
FIELDS = [(name, 100) for name in ("event_log_id", "run_id", "dagster_event_type", "event_data", "created_at")]


def clean() -> dict:
    listing = {"hour_start": HOUR, "files": list(FILES), "unexpected": [], "completion": {"state": "committed"}}
    report = {
        "loaded_files": list(FILES), "rows_parsed": 100, "rows_loaded": 100, "rows_rejected": 0, "rejects_kept": 0,
        "rejected_files": [], "reject_ratio": 0.0, "rejects": {"files": [], "capped_files": []},
    }  # fmt: skip
    # raw rows, external table rows, rejects table rows, duplicate ids in the hour
    return {"listing": listing, "report": report, "counts": (100, 100, 0, 0), "duplicates_across_hours": 0,
            "types": list(TYPES), "fields": list(FIELDS)}  # fmt: skip


def verdicts(case: dict) -> dict[str, tuple[str, object, object]]:
    results = hour_verdicts(**case)
    assert all(r.replication_hour == HOUR for r in results)
    return {r.check_name: (r.status, r.observed, r.expected) for r in results}


def test_a_clean_hour_passes_every_check():
    assert verdicts(clean()) == {
        "unexpected_objects_in_hour": (PASS, 0, 0),
        "loadable_files_in_hour": (PASS, 2, None),
        "files_listed_equal_files_loaded": (PASS, 2, 2),
        "rows_parsed_equal_loaded_plus_rejected": (PASS, 100, 100),
        "raw_rows_equal_rows_loaded": (PASS, 100, 100),
        "raw_rows_equal_external_table_rows": (PASS, 100, 100),
        "rejects_table_rows_equal_rejects_kept": (PASS, 0, 0),
        "rejected_lines": (PASS, 0, 0),
        "rejected_lines_not_kept": (PASS, 0, 0),
        "unknown_event_types": (PASS, 0, 0),
        "new_fields": (PASS, 0, 0),
        "duplicate_event_log_ids_in_hour": (PASS, 0, 0),
        "duplicate_event_log_ids_across_hours": (PASS, 0, 0),
    }


def _unexpected(c):
    c["listing"]["unexpected"] = ["dt=2026-11-20/hr=05/notes.txt"]


def _no_files_committed(c):
    c["listing"]["files"], c["report"]["loaded_files"] = [], []


def _file_not_loaded(c):
    c["report"]["loaded_files"] = FILES[:1]


def _rows_lost(c):
    c["report"]["rows_loaded"] = 99


def _raw_short(c):
    c["counts"] = (98, 98, 0, 0)


def _external_short(c):
    c["counts"] = (100, 97, 0, 0)


def _rejects_not_in_table(c):
    c["report"].update(rows_parsed=102, rows_rejected=2, rejects_kept=2, rejected_files=FILES[:1], reject_ratio=0.02)
    c["counts"] = (100, 100, 1, 0)


def _rejected(c):
    c["report"].update(rows_parsed=102, rows_rejected=2, rejects_kept=2, rejected_files=FILES[:1], reject_ratio=0.02)
    c["counts"] = (100, 100, 2, 0)


def _rejected_not_kept(c):
    c["report"].update(rows_parsed=103, rows_rejected=3, rejects_kept=1, rejected_files=FILES[:1])
    c["report"]["rejects"] = {"files": [{"file": FILES[0], "not_kept": 2}], "capped_files": [FILES[0]]}
    c["counts"] = (100, 100, 1, 0)


def _unknown_type(c):
    c["types"].append(("RUN_ENQUEUED", 3))


def _new_field(c):
    c["fields"].append(("tenant", 100))


def _duplicates_in_hour(c):
    c["counts"] = (100, 100, 0, 4)


def _duplicates_across(c):
    c["duplicates_across_hours"] = 2


@pytest.mark.parametrize(
    ("fault", "changed"),
    [
        (_unexpected, {"unexpected_objects_in_hour": (FAIL, 1, 0)}),
        (_no_files_committed, {"loadable_files_in_hour": (WARN, 0, None),
                               "files_listed_equal_files_loaded": (PASS, 0, 0)}),
        (_file_not_loaded, {"files_listed_equal_files_loaded": (FAIL, 1, 2)}),
        (_rows_lost, {"rows_parsed_equal_loaded_plus_rejected": (FAIL, 99, 100),
                      "raw_rows_equal_rows_loaded": (FAIL, 100, 99)}),
        (_raw_short, {"raw_rows_equal_rows_loaded": (FAIL, 98, 100),
                      "raw_rows_equal_external_table_rows": (PASS, 98, 98)}),
        (_external_short, {"raw_rows_equal_external_table_rows": (FAIL, 100, 97)}),
        (_rejects_not_in_table, {"rows_parsed_equal_loaded_plus_rejected": (PASS, 102, 102),
                                 "rejects_table_rows_equal_rejects_kept": (FAIL, 1, 2),
                                 "rejected_lines": (WARN, 2, 0)}),
        (_rejected, {"rows_parsed_equal_loaded_plus_rejected": (PASS, 102, 102),
                     "rejects_table_rows_equal_rejects_kept": (PASS, 2, 2), "rejected_lines": (WARN, 2, 0)}),
        (_rejected_not_kept, {"rows_parsed_equal_loaded_plus_rejected": (PASS, 103, 103),
                              "rejects_table_rows_equal_rejects_kept": (PASS, 1, 1), "rejected_lines": (WARN, 3, 0),
                              "rejected_lines_not_kept": (WARN, 2, 0)}),
        (_unknown_type, {"unknown_event_types": (WARN, 3, 0)}),
        (_new_field, {"new_fields": (WARN, 1, 0)}),
        (_duplicates_in_hour, {"duplicate_event_log_ids_in_hour": (WARN, 4, 0)}),
        (_duplicates_across, {"duplicate_event_log_ids_across_hours": (WARN, 2, 0)}),
    ],
)  # fmt: skip
def test_each_fault_changes_its_own_verdict(fault, changed):
    baseline = verdicts(clean())
    case = clean()
    fault(case)
    after = verdicts(case)
    assert {name: v for name, v in after.items() if v != baseline[name]} == {
        name: v for name, v in changed.items() if v != baseline[name]
    }


def test_a_failed_verdict_says_by_how_much_and_names_what_differs():
    case = clean()
    _file_not_loaded(case)
    _unexpected(case)
    results = {r.check_name: r for r in hour_verdicts(**case)}
    files = results["files_listed_equal_files_loaded"]
    assert files.details == {"not_loaded": [FILES[1]], "not_listed": [], "difference": -1}
    assert results["unexpected_objects_in_hour"].details["objects"] == ["dt=2026-11-20/hr=05/notes.txt"]
    assert "notes.txt" in results["unexpected_objects_in_hour"].describe()


def test_an_hour_known_empty_is_not_a_warning_and_counts_only_known_types():
    case = clean()
    _no_files_committed(case)
    case["listing"]["completion"] = {"state": "complete_empty", "reason": "a later hour is committed"}
    case["types"] = [("STEP_SUCCESS", 1), (None, 2)]  # a null type is a user log message, not unknown
    results = verdicts(case)
    assert results["loadable_files_in_hour"] == (PASS, 0, None)
    assert results["unknown_event_types"] == (PASS, 0, 0)
