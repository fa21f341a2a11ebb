"""event_log_ingest end to end on the local stack: simulator files in, warehouse rows compared.

Every DAG run here is `dag.test()` in this process, under a hard timeout (see conftest).
"""

from __future__ import annotations

import json
from collections import Counter

import pytest

from devstack.simulator import SimulationOptions, recommit_late, simulate
from devstack.simulator.reader import read_landed_hour
from devstack.stack import BUCKET, PREFIX
from include.event_log.land.hour_layout import HourLayout
from tests.integration.conftest import hour, load_dag, query

# The layout the DAG reads (EVENT_LOG_LAYOUT, the lander's `hive` by default), which the simulator lands too.
LAYOUT = HourLayout.from_env()

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]


@pytest.fixture(scope="module")
def ingest_dag(snowflake_objects):
    """The load part of event_log_ingest (sensor, list, COPY, refresh): the dbt task group has its
    own tests (tests/integration/test_event_log_models.py), which run the whole DAG."""
    return load_dag("event_log_ingest").partial_subset(task_ids=["load_hour.check_hour"], include_upstream=True)


def run_hour(dag, n: int):
    """Run the DAG for hour n. dag.test() infers a manual run's interval as the last whole one before
    the given date, so the run that loads [h, h+1) is the one given h+1."""
    return dag.test(logical_date=hour(n + 1))


def raw_rows(warehouse, n: int) -> list[tuple]:
    return query(
        warehouse,
        "SELECT FILE_NAME, FILE_ROW_NUMBER, RECORD:event_log_id::NUMBER, AIRFLOW_RUN_ID "
        "FROM EVENT_LOG.RAW.RAW_FLINK_EVENT_LOG WHERE REPLICATION_HOUR = %(h)s",
        {"h": hour(n).replace(tzinfo=None)},
    )


def expected_lines(s3_client, n: int) -> Counter:
    """(file name, line number) of every valid record the simulator's files hold, read back from S3."""
    landed = read_landed_hour(s3_client, BUCKET, PREFIX, hour(n))
    return Counter((line.key.rsplit("/", 1)[-1], line.line_number) for line in landed.lines)


def loaded_lines(rows: list[tuple]) -> Counter:
    return Counter((file_name.rsplit("/", 1)[-1], int(row_number)) for file_name, row_number, _, _ in rows)


@pytest.fixture(scope="module")
def landed(s3_client, local_stack):
    """Hours 0-3 of plain part files; hour 2 committed empty; hour 0 has events duplicated in it and in hour 1."""
    options = SimulationOptions(
        bucket=BUCKET, prefix=PREFIX, end_hour=hour(4), hours=4, events_per_hour=1500, files_per_hour=3,
        empty_hours=(hour(2),), duplicate_hours=(hour(0),), duplicates_per_hour=4, seed=7,
    )  # fmt: skip
    return simulate(s3_client, options)


def test_each_hour_loads_exactly_the_committed_files(ingest_dag, landed, s3_client, warehouse):
    for n in (0, 1, 2, 3):
        run = run_hour(ingest_dag, n)
        assert run.state == "success", f"hour {n}"
        rows = raw_rows(warehouse, n)
        expected = expected_lines(s3_client, n)
        assert loaded_lines(rows) == expected, f"hour {n}: warehouse lines differ from the landed files"
        assert len(rows) == landed.hour(hour(n)).records
        assert {run_id for *_, run_id in rows} <= {run.run_id}
        ext_sql = "SELECT COUNT(*) FROM EVENT_LOG.RAW.EXT_FLINK_EVENT_LOG WHERE REPLICATION_HOUR = %(h)s"
        ((ext_count,),) = query(warehouse, ext_sql, {"h": hour(n).replace(tzinfo=None)})
        assert ext_count == len(rows), f"hour {n}: external table and raw table disagree"
    assert raw_rows(warehouse, 2) == [], "an empty committed hour loads nothing and succeeds"
    # Ignored objects (in-progress, multipart temp) are in S3 but never loaded.
    ignored = {k.rsplit("/", 1)[-1] for h in landed.hours for k in h.ignored_keys}
    assert ignored
    files_sql = "SELECT DISTINCT FILE_NAME FROM EVENT_LOG.RAW.RAW_FLINK_EVENT_LOG"
    loaded_files = {f.rsplit("/", 1)[-1] for (f,) in query(warehouse, files_sql)}
    assert not ignored & loaded_files


def test_the_hour_report_reaches_xcom_and_the_asset_event(ingest_dag, landed, warehouse):
    from airflow.models.asset import AssetEvent
    from airflow.utils.session import create_session

    run = run_hour(ingest_dag, 1)
    assert run.state == "success"
    with create_session() as session:
        events = (
            session.query(AssetEvent)
            .filter(AssetEvent.source_run_id == run.run_id, AssetEvent.source_task_id == "load_hour.check_hour")
            .all()
        )
        assert len(events) == 1
        extra = events[0].extra
    manifest = landed.hour(hour(1))
    assert extra["hour_start"] == hour(1).isoformat()
    assert extra["files_listed"] == extra["files_loaded"] == len(manifest.part_files)
    assert extra["rows_parsed"] == extra["rows_loaded"] == manifest.records
    assert extra["errors"] == extra["rows_rejected"] == 0
    assert extra["rows_replaced"] == manifest.records, "re-running the hour replaced the earlier load"
    assert {name: check["status"] for name, check in extra["checks"].items()} == {
        "unexpected_objects_in_hour": "pass",
        "loadable_files_in_hour": "pass",
        "files_listed_equal_files_loaded": "pass",
        "rows_parsed_equal_loaded_plus_rejected": "pass",
        "raw_rows_equal_rows_loaded": "pass",
        "raw_rows_equal_external_table_rows": "pass",
        "rejects_table_rows_equal_rejects_kept": "pass",
        "rejected_lines": "pass",
        "rejected_lines_not_kept": "pass",
        "unknown_event_types": "pass",
        "new_fields": "pass",
        "duplicate_event_log_ids_in_hour": "pass",
        # Hour 0's duplicated events were written again in hour 1: counted, not dropped.
        "duplicate_event_log_ids_across_hours": "warn",
    }
    across = extra["checks"]["duplicate_event_log_ids_across_hours"]
    assert across["observed"] == len(landed.hour(hour(0)).duplicate_ids_across_hours) > 0
    recorded = query(
        warehouse,
        "SELECT CHECK_NAME, STATUS FROM EVENT_LOG.RAW.EVENT_LOG_CHECK_RESULTS WHERE RUN_ID = %(run_id)s",
        {"run_id": run.run_id},
    )
    assert sorted(recorded) == sorted((name, check["status"]) for name, check in extra["checks"].items())


def test_rerunning_an_hour_leaves_each_event_once(ingest_dag, landed, s3_client, warehouse):
    assert run_hour(ingest_dag, 0).state == "success"
    first = loaded_lines(raw_rows(warehouse, 0))
    assert run_hour(ingest_dag, 0).state == "success"
    second = raw_rows(warehouse, 0)
    assert loaded_lines(second) == first == expected_lines(s3_client, 0)
    assert max(loaded_lines(second).values()) == 1


def test_duplicated_events_are_loaded_as_landed(ingest_dag, landed, warehouse):
    """The loader keeps every line (dedup is the staging model's job); the duplicate is visible."""
    assert run_hour(ingest_dag, 0).state == "success"
    assert run_hour(ingest_dag, 1).state == "success"
    ids = Counter(event_id for _, _, event_id, _ in raw_rows(warehouse, 0))
    duplicated = {i for i, count in ids.items() if count > 1}
    assert duplicated == set(landed.hour(hour(0)).duplicate_ids_within_hour)
    next_hour_ids = {event_id for _, _, event_id, _ in raw_rows(warehouse, 1)}
    assert set(landed.hour(hour(0)).duplicate_ids_across_hours) <= next_hour_ids | set(ids)


def test_late_recommit_reloads_the_union_of_files(ingest_dag, landed, s3_client, warehouse):
    assert run_hour(ingest_dag, 3).state == "success"
    before = loaded_lines(raw_rows(warehouse, 3))
    late = recommit_late(s3_client, landed.options, hour(3), 25)
    assert run_hour(ingest_dag, 3).state == "success"
    after = loaded_lines(raw_rows(warehouse, 3))
    assert after == expected_lines(s3_client, 3)
    assert sum(after.values()) == sum(before.values()) + sum(f.records for f in late.part_files)
    assert max(after.values()) == 1


def rejects(warehouse, n: int) -> list[tuple]:
    return query(
        warehouse,
        "SELECT FILE_NAME, LINE_NUMBER, ERROR, REJECTED_RECORD FROM EVENT_LOG.RAW.RAW_FLINK_EVENT_LOG_REJECTS "
        "WHERE REPLICATION_HOUR = %(h)s ORDER BY 1, 2",
        {"h": hour(n).replace(tzinfo=None)},
    )


def checks_of(warehouse, run_id: str) -> dict[str, tuple]:
    rows = query(
        warehouse,
        "SELECT CHECK_NAME, STATUS, OBSERVED, DETAILS FROM EVENT_LOG.RAW.EVENT_LOG_CHECK_RESULTS WHERE RUN_ID = %(r)s",
        {"r": run_id},
    )
    return {name: (status, observed, json.loads(details)) for name, status, observed, details in rows}


def test_malformed_lines_are_rejected_counted_and_kept_while_good_rows_load(ingest_dag, s3_client, warehouse):
    options = SimulationOptions(
        bucket=BUCKET, prefix=PREFIX, end_hour=hour(11), hours=2, events_per_hour=2000, files_per_hour=3, seed=29,
        malformed_hours=(hour(9),), non_json_lines_per_hour=3, truncated_last_line=True,
    )  # fmt: skip
    manifest = simulate(s3_client, options)
    malformed = manifest.hour(hour(9)).malformed_lines
    assert len(malformed) == 4  # 3 lines that are not JSON and one truncated last line
    run = run_hour(ingest_dag, 9)
    assert run.state == "success", "4 bad lines in ~2,000 are under the 1% reject ratio: the hour loads"
    assert loaded_lines(raw_rows(warehouse, 9)) == expected_lines(s3_client, 9)
    kept = rejects(warehouse, 9)
    assert [(f.rsplit("/", 1)[-1], line) for f, line, _, _ in kept] == sorted(
        (m.key.rsplit("/", 1)[-1], m.line_number) for m in malformed
    )
    assert all(error.startswith("Error parsing JSON") and record for _, _, error, record in kept)
    checks = checks_of(warehouse, run.run_id)
    assert checks["rejected_lines"][:2] == ("warn", 4)
    assert checks["rows_parsed_equal_loaded_plus_rejected"][0] == "pass"
    assert checks["raw_rows_equal_external_table_rows"][0] == "pass"


def test_too_many_malformed_lines_fail_the_hour_and_leave_it_as_it_was(s3_client, warehouse, capfd, monkeypatch):
    monkeypatch.setenv("EVENT_LOG_MAX_REJECT_RATIO", "0.001")
    dag = load_dag("event_log_ingest").partial_subset(task_ids=["load_hour.check_hour"], include_upstream=True)
    options = SimulationOptions(
        bucket=BUCKET, prefix=PREFIX, end_hour=hour(6), hours=1, events_per_hour=300, files_per_hour=2, seed=11,
    )  # fmt: skip
    simulate(s3_client, options)
    assert run_hour(dag, 5).state == "success"
    good = loaded_lines(raw_rows(warehouse, 5))
    bad_key = LAYOUT.hour_prefix(hour(5)) + "part-0000dead-0000-0000-0000-00000000beef-0-99"
    s3_client.put_object(Bucket=BUCKET, Key=bad_key, Body=b'{"event_log_id": 1}\nnot json at all\n')
    s3_client.put_object(Bucket=BUCKET, Key=LAYOUT.success_key(hour(5)), Body=b"")
    capfd.readouterr()
    run = run_hour(dag, 5)
    assert run.state == "failed"
    assert loaded_lines(raw_rows(warehouse, 5)) == good, "the rolled-back load left the hour as it was"
    assert [(f.rsplit("/", 1)[-1], line) for f, line, _, _ in rejects(warehouse, 5)] == [
        ("part-0000dead-0000-0000-0000-00000000beef-0-99", 2)
    ], "the rejected line is kept even though the load rolled back"
    task_log = "".join(capfd.readouterr())
    assert "part-0000dead-0000-0000-0000-00000000beef-0-99 line 2" in task_log
    s3_client.delete_object(Bucket=BUCKET, Key=bad_key)


def test_unknown_event_types_new_fields_and_duplicates_are_kept_and_counted(ingest_dag, s3_client, warehouse):
    folder = LAYOUT.hour_prefix(hour(12))
    known = {"event_log_id": 900001, "organization_id": 1, "deployment_id": 1, "run_id": None,
             "dagster_event_type": "STEP_START", "event_data": "{}", "created_at": "2025-08-01T12:00:01Z"}  # fmt: skip
    novel = {**known, "event_log_id": 900002, "dagster_event_type": "RUN_QUEUED", "tenant_tier": "gold"}
    lines = [known, novel, known]  # the first event twice
    body = "".join(json.dumps(record) + "\n" for record in lines).encode()
    s3_client.put_object(Bucket=BUCKET, Key=folder + "part-00000000-0000-0000-0000-0000000000aa-0-0.jsonl", Body=body)
    s3_client.put_object(Bucket=BUCKET, Key=folder + "_SUCCESS", Body=b"")
    run = run_hour(ingest_dag, 12)
    assert run.state == "success"
    stored = query(
        warehouse,
        "SELECT RECORD:tenant_tier::VARCHAR, RECORD:dagster_event_type::VARCHAR FROM EVENT_LOG.RAW.RAW_FLINK_EVENT_LOG "
        "WHERE REPLICATION_HOUR = %(h)s AND RECORD:event_log_id::NUMBER = 900002",
        {"h": hour(12).replace(tzinfo=None)},
    )
    assert stored == [("gold", "RUN_QUEUED")], "the raw record stays whole: new field and unknown type kept"
    checks = checks_of(warehouse, run.run_id)
    assert checks["unknown_event_types"][:2] == ("warn", 1)
    assert checks["unknown_event_types"][2]["types"] == {"RUN_QUEUED": 1}
    assert checks["new_fields"][:2] == ("warn", 1)
    assert checks["new_fields"][2]["fields"] == {"tenant_tier": 1}
    assert checks["duplicate_event_log_ids_in_hour"][:2] == ("warn", 1)


def test_gzip_part_files_load(ingest_dag, s3_client, warehouse):
    options = SimulationOptions(
        bucket=BUCKET, prefix=PREFIX, end_hour=hour(8), hours=1, events_per_hour=500, files_per_hour=2,
        gzip=True, seed=13,
    )  # fmt: skip
    manifest = simulate(s3_client, options)
    assert all(f.key.endswith(".gz") for f in manifest.hours[0].part_files)
    assert run_hour(ingest_dag, 7).state == "success"
    assert loaded_lines(raw_rows(warehouse, 7)) == expected_lines(s3_client, 7)


def test_more_than_one_copy_batch_per_hour(ingest_dag, s3_client, warehouse, monkeypatch):
    """An hour with more files than one COPY's FILES list takes: every batch in the same transaction."""
    import include.event_log.load.ingest as ingest

    monkeypatch.setattr(ingest, "MAX_FILES_PER_COPY", 2)
    options = SimulationOptions(
        bucket=BUCKET, prefix=PREFIX, end_hour=hour(9), hours=1, events_per_hour=400, files_per_hour=5, seed=17,
    )  # fmt: skip
    manifest = simulate(s3_client, options)
    assert run_hour(ingest_dag, 8).state == "success"
    assert loaded_lines(raw_rows(warehouse, 8)) == expected_lines(s3_client, 8)
    assert len(raw_rows(warehouse, 8)) == manifest.records


def test_a_committed_hour_of_files_the_package_cannot_load_fails_naming_them(
    snowflake_objects, s3_client, warehouse, capfd
):
    """Never silent: objects that are neither finished part files nor known Flink by-products fail the hour's
    checks with their names; a hour of nothing loadable is counted, not an ordinary success."""
    dag = load_dag("event_log_ingest").partial_subset(task_ids=["load_hour.check_hour"], include_upstream=True)
    folder = LAYOUT.hour_prefix(hour(13))
    strays = ["events-2025-08-01T13.json", "nested/part-00000000-0000-0000-0000-0000000000bb-0-0"]
    for name in strays:
        s3_client.put_object(Bucket=BUCKET, Key=folder + name, Body=b'{"event_log_id": 1}\n')
    s3_client.put_object(Bucket=BUCKET, Key=folder + "_SUCCESS", Body=b"")
    capfd.readouterr()
    run = run_hour(dag, 13)
    assert run.state == "failed"
    assert raw_rows(warehouse, 13) == [], "nothing loadable, nothing loaded"
    checks = checks_of(warehouse, run.run_id)
    assert checks["unexpected_objects_in_hour"][:2] == ("fail", 2)
    assert checks["unexpected_objects_in_hour"][2]["objects"] == sorted(strays)
    assert checks["loadable_files_in_hour"][:2] == ("warn", 0)
    task_log = "".join(capfd.readouterr())
    assert "unexpected_objects_in_hour" in task_log and all(name in task_log for name in strays)
