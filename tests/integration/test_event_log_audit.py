"""event_log_audit end to end on the local stack: hours landed on 2025-08-05 and loaded or not, the
audit's findings read back from the check-results table, its XCom and its failure message.

The other modules' hours are on 2025-08-01 and 2025-08-02. The audit's window here is exactly the six
hours 2025-08-05 00:00 to 06:00: a run whose data interval ends at 06:00, EVENT_LOG_AUDIT_DAYS=0.25.
Hours are in the lander's layout (Hive-style folders; an hour without events has no folder).
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta

import pytest

from devstack.simulator import SimulationOptions, recommit_late, simulate
from devstack.stack import BUCKET, PREFIX
from include.event_log.land.hour_layout import HourLayout
from tests.integration.conftest import load_dag, query

pytestmark = [pytest.mark.integration, pytest.mark.timeout(1200)]

DAY = datetime(2025, 8, 5, tzinfo=UTC)
HOURS = [DAY + timedelta(hours=n) for n in range(6)]
AUDIT_DAG_ID = "event_log_audit"


@pytest.fixture(scope="module")
def ingest_dag(snowflake_objects):
    """The load part of event_log_ingest (the load_hour group and what it needs), as test_event_log_ingest
    runs it: the last task of the group and its upstream."""
    return load_dag("event_log_ingest").partial_subset(task_ids=["load_hour.check_hour"], include_upstream=True)


@pytest.fixture(scope="module")
def audit_dag(snowflake_objects):
    return load_dag(AUDIT_DAG_ID)


def load_hour(dag, hour: datetime) -> None:
    run = dag.test(logical_date=hour + timedelta(hours=1))  # dag.test() loads the hour before the date
    assert run.state == "success", f"event_log_ingest for {hour} ended {run.state}"


def run_audit(dag, monkeypatch):
    monkeypatch.setenv("EVENT_LOG_AUDIT_DAYS", "0.25")
    return dag.test(logical_date=DAY + timedelta(hours=6))


def recorded(warehouse, run_id: str) -> dict[tuple[str, str], list]:
    rows = query(
        warehouse,
        "SELECT CHECK_NAME, STATUS, REPLICATION_HOUR FROM EVENT_LOG.RAW.EVENT_LOG_CHECK_RESULTS "
        "WHERE DAG_ID = %(dag_id)s AND RUN_ID = %(run_id)s ORDER BY REPLICATION_HOUR",
        {"dag_id": AUDIT_DAG_ID, "run_id": run_id},
    )
    results: dict[tuple[str, str], list] = {}
    for name, status, hour in rows:
        results.setdefault((name, status), []).append(hour.replace(tzinfo=UTC) if hour else None)
    return results


def task_states(run) -> dict[str, str]:
    return {ti.task_id: ti.state for ti in run.get_task_instances()}


def audit_report(run) -> dict:
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        (row,) = session.execute(
            XComModel.get_many(run_id=run.run_id, dag_ids=AUDIT_DAG_ID, task_ids="audit_hours", key="return_value")
        ).all()
        return XComModel.deserialize_value(row[0])


def failure_message(task_log: str) -> str:
    """What fail_on_findings raised, as dag.test() prints it: up to the next log line."""
    found = re.search(r"AirflowFailException: (.*?)\n\d{4}-\d{2}-\d{2}T", task_log, re.DOTALL)
    assert found, "fail_on_findings did not fail with a message"
    return found.group(1)


def backfill(first: datetime, last: datetime) -> str:
    return (
        f"airflow backfill create --dag-id event_log_ingest --from-date {first:%Y-%m-%dT%H:%M:%SZ} "
        f"--to-date {last:%Y-%m-%dT%H:%M:%SZ} --reprocess-behavior completed"
    )


def test_the_audit_finds_each_kind_of_gap_then_passes_once_reloaded(
    ingest_dag, audit_dag, s3_client, warehouse, monkeypatch, capfd
):
    # 00 and 01 loaded, then 01 re-committed late; 02 committed, never loaded; 03 never committed (its folder
    # has part files but no _SUCCESS); 04 had no event, so no folder, and 05 is committed: 04 is complete and
    # empty, but no run loaded it; 05 committed, never loaded.
    options = SimulationOptions(
        bucket=BUCKET, prefix=PREFIX, end_hour=HOURS[5] + timedelta(hours=1), hours=6, events_per_hour=200,
        files_per_hour=2, uncommitted_hours=(HOURS[3],), empty_hours=(HOURS[4],), seed=31,
    )  # fmt: skip
    simulate(s3_client, options)
    load_hour(ingest_dag, HOURS[0])
    load_hour(ingest_dag, HOURS[1])
    # A late re-commit comes minutes later; S3's LastModified has one-second resolution, so a re-commit in the
    # same second as the load could not be told from one before it.
    time.sleep(1.1)
    late = recommit_late(s3_client, options, HOURS[1], 15)
    assert late.part_files

    capfd.readouterr()
    run = run_audit(audit_dag, monkeypatch)
    task_log = "".join(capfd.readouterr())
    assert run.state == "failed"
    assert task_states(run) == {"audit_hours": "success", "fail_on_findings": "failed"}
    assert recorded(warehouse, run.run_id) == {
        ("changed_since_loaded", "fail"): [HOURS[1]],
        ("committed_not_loaded", "fail"): [HOURS[2], HOURS[4], HOURS[5]],
        ("never_committed", "fail"): [HOURS[3]],
    }
    failure = failure_message(task_log)
    assert "Committed but not loaded (3): 2025-08-05T02:00Z, 2025-08-05T04:00Z, 2025-08-05T05:00Z" in failure
    assert "Changed since loaded (late data) (1): 2025-08-05T01:00Z" in failure
    assert "Never committed (1): 2025-08-05T03:00Z" in failure
    reload, when_committed = failure.split("Never committed: ")
    assert reload.count("airflow backfill create") == 2
    assert backfill(HOURS[1], HOURS[2]) in reload
    assert backfill(HOURS[4], HOURS[5]) in reload
    assert when_committed.count("airflow backfill create") == 1
    assert backfill(HOURS[3], HOURS[3]) in when_committed

    report = audit_report(run)
    assert report["findings"] == {
        "committed_not_loaded": [HOURS[2].isoformat(), HOURS[4].isoformat(), HOURS[5].isoformat()],
        "changed_since_loaded": [HOURS[1].isoformat()],
        "never_committed": [HOURS[3].isoformat()],
        "changed_not_modeled": [],
    }
    assert report["reload_commands"] == [backfill(HOURS[1], HOURS[2]), backfill(HOURS[4], HOURS[5])]
    details = {(d["kind"], d["hour"]): d for d in report["details"]}
    changed = details[("changed_since_loaded", HOURS[1].isoformat())]
    assert changed["files"]["new"] == [f.key.rsplit("/", 1)[-1] for f in late.part_files]
    assert changed["recommitted_after_load"] is True
    assert details[("committed_not_loaded", HOURS[4].isoformat())]["empty_hour"] is True
    assert details[("never_committed", HOURS[3].isoformat())]["folder_present"] is True

    # Re-load what the audit flagged; Flink commits 03; load it too.
    for hour in (HOURS[1], HOURS[2], HOURS[4], HOURS[5]):
        load_hour(ingest_dag, hour)
    s3_client.put_object(Bucket=BUCKET, Key=HourLayout.from_env().success_key(HOURS[3]), Body=b"")
    load_hour(ingest_dag, HOURS[3])

    run = run_audit(audit_dag, monkeypatch)
    assert run.state == "success"
    assert recorded(warehouse, run.run_id) == {("audit_window_clean", "pass"): [None]}
    report = audit_report(run)
    assert report["hours_due"] == report["hours_committed"] == report["hours_loaded"] == 6
    assert report["details"] == [] and report["reload_commands"] == []
