"""Check results are recorded idempotently on the local Snowflake: a retried task replaces its results in
one transaction, and a missed deadline is recorded once whoever records it."""

from __future__ import annotations

import pytest

from include.event_log.check.results import FAIL, PASS, WARN, CheckResult, record_check_results, record_once
from include.event_log.config import SNOWFLAKE_CONN_ID
from tests.integration.conftest import query

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

HOUR = "2025-08-09T03:00:00+00:00"
RUN = "scheduled__2025-08-09T03:00:00+00:00"


def rows(warehouse, run_id: str) -> list[tuple]:
    return query(
        warehouse,
        "SELECT CHECK_NAME, STATUS, OBSERVED, REPLICATION_HOUR, RESULT_KEY FROM EVENT_LOG.RAW.EVENT_LOG_CHECK_RESULTS "
        "WHERE RUN_ID = %(run)s ORDER BY CHECK_NAME, REPLICATION_HOUR",
        {"run": run_id},
    )


def test_a_retried_task_replaces_its_results_and_keeps_the_others(snowflake_objects, warehouse):
    first_try = [CheckResult("raw_rows_equal_rows_loaded", FAIL, 9, 10, {"difference": -1}, HOUR),
                 CheckResult("rejected_lines", WARN, 1, 0, {}, HOUR)]  # fmt: skip
    assert record_once(SNOWFLAKE_CONN_ID, "event_log_ingest", RUN, "deadline-1",
                       [CheckResult("deadline_missed", FAIL, None, None, {}, HOUR)]) == 1  # fmt: skip
    record_check_results(SNOWFLAKE_CONN_ID, "event_log_ingest", RUN, first_try)
    retry = [CheckResult("raw_rows_equal_rows_loaded", PASS, 10, 10, {}, HOUR),
             CheckResult("rejected_lines", PASS, 0, 0, {}, HOUR)]  # fmt: skip
    record_check_results(SNOWFLAKE_CONN_ID, "event_log_ingest", RUN, retry)
    record_check_results(SNOWFLAKE_CONN_ID, "event_log_ingest", RUN, retry)
    audit = [CheckResult("audit_window_clean", PASS, 6, 6, {}, None)]
    record_check_results(SNOWFLAKE_CONN_ID, "event_log_ingest", RUN, audit)
    record_check_results(SNOWFLAKE_CONN_ID, "event_log_ingest", RUN, audit)
    found = rows(warehouse, RUN)
    assert [(name, status, observed) for name, status, observed, _, _ in found] == [
        ("audit_window_clean", "pass", 6),
        ("deadline_missed", "fail", None),  # another task's result: kept
        ("raw_rows_equal_rows_loaded", "pass", 10),
        ("rejected_lines", "pass", 0),
    ]


def test_a_missed_deadline_is_recorded_once_per_deadline(snowflake_objects, warehouse):
    run = "backfill__2025-08-09T05:00:00+00:00"
    miss = [CheckResult("deadline_missed", FAIL, None, None, {"deadline_time": "x"}, "2025-08-09T05:00:00+00:00")]
    assert record_once(SNOWFLAKE_CONN_ID, "event_log_ingest", run, "0190-dead-line", miss) == 1
    assert record_once(SNOWFLAKE_CONN_ID, "event_log_ingest", run, "0190-dead-line", miss) == 0
    assert record_once(SNOWFLAKE_CONN_ID, "event_log_ingest", run, "0190-next-deadline", miss) == 1
    assert [(name, key) for name, _, _, _, key in rows(warehouse, run)] == [
        ("deadline_missed", "0190-dead-line"),
        ("deadline_missed", "0190-next-deadline"),
    ]
    # A deadline of a run without an hour (the objects DAG): NULL hours are matched as equal.
    objects_miss = [CheckResult("deadline_missed", FAIL, None, None, {}, None)]
    assert record_once(SNOWFLAKE_CONN_ID, "snowflake_objects", "manual__1", "0190-objects", objects_miss) == 1
    assert record_once(SNOWFLAKE_CONN_ID, "snowflake_objects", "manual__1", "0190-objects", objects_miss) == 0
    assert len(rows(warehouse, "manual__1")) == 1
