"""event_log_ingest end to end on the local stack: simulator files in, warehouse rows compared.

Every DAG run here is `dag.test()` in this process, under a hard timeout (see conftest).
"""

from __future__ import annotations

from collections import Counter

import pytest

from devstack.simulator import SimulationOptions, read_landed_hour, recommit_late, simulate
from devstack.stack import BUCKET, PREFIX
from tests.integration.conftest import hour, load_dag, query

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

RAW = "EVENT_LOG.RAW.RAW_FLINK_EVENT_LOG"
EXT = "EVENT_LOG.RAW.EXT_FLINK_EVENT_LOG"


@pytest.fixture(scope="module")
def ingest_dag(snowflake_objects):
    """The load part of event_log_ingest (sensor, list, COPY, refresh): the dbt task group has its
    own tests (tests/integration/test_event_log_models.py), which run the whole DAG."""
    return load_dag("event_log_ingest").partial_subset(task_ids=["hours_to_load", "load_hour.*"])


def run_hour(dag, n: int):
    """Run the DAG for hour n. dag.test() infers a manual run's interval as the last whole one before
    the given date, so the run that loads [h, h+1) is the one given h+1."""
    return dag.test(logical_date=hour(n + 1))


def raw_rows(warehouse, n: int) -> list[tuple]:
    return query(
        warehouse,
        f"SELECT FILE_NAME, FILE_ROW_NUMBER, RECORD:event_log_id::NUMBER, AIRFLOW_RUN_ID FROM {RAW} "
        "WHERE REPLICATION_HOUR = %(h)s",
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
        (ext_count,) = query(warehouse, f"SELECT COUNT(*) FROM {EXT} WHERE REPLICATION_HOUR = %(h)s",
                             {"h": hour(n).replace(tzinfo=None)})[0]  # fmt: skip
        assert ext_count == len(rows), f"hour {n}: external table and raw table disagree"
    assert raw_rows(warehouse, 2) == [], "an empty committed hour loads nothing and succeeds"
    # Ignored objects (in-progress, multipart temp) are in S3 but never loaded.
    ignored = {k.rsplit("/", 1)[-1] for h in landed.hours for k in h.ignored_keys}
    assert ignored
    loaded_files = {f.rsplit("/", 1)[-1] for (f,) in query(warehouse, f"SELECT DISTINCT FILE_NAME FROM {RAW}")}
    assert not ignored & loaded_files


def test_the_hour_report_reaches_xcom_and_the_asset_event(ingest_dag, landed, warehouse):
    from airflow.models.asset import AssetEvent
    from airflow.utils.session import create_session

    run = run_hour(ingest_dag, 1)
    assert run.state == "success"
    with create_session() as session:
        events = (
            session.query(AssetEvent)
            .filter(AssetEvent.source_run_id == run.run_id, AssetEvent.source_task_id == "load_hour.copy_partition")
            .all()
        )
        assert len(events) == 1
        extra = events[0].extra
    manifest = landed.hour(hour(1))
    assert extra["hour_start"] == hour(1).isoformat()
    assert extra["files_listed"] == extra["files_loaded"] == len(manifest.part_files)
    assert extra["rows_parsed"] == extra["rows_loaded"] == manifest.records
    assert extra["errors"] == 0
    assert extra["rows_replaced"] == manifest.records, "re-running the hour replaced the earlier load"


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


def test_a_malformed_line_fails_the_hour_and_leaves_it_as_it_was(ingest_dag, s3_client, warehouse, capfd):
    options = SimulationOptions(
        bucket=BUCKET, prefix=PREFIX, end_hour=hour(6), hours=1, events_per_hour=300, files_per_hour=2, seed=11,
    )  # fmt: skip
    simulate(s3_client, options)
    assert run_hour(ingest_dag, 5).state == "success"
    good = loaded_lines(raw_rows(warehouse, 5))
    assert sum(good.values()) > 0
    bad_key = f"{PREFIX}/2025/08/01/05/part-0000dead-0000-0000-0000-00000000beef-0-99.jsonl"
    s3_client.put_object(Bucket=BUCKET, Key=bad_key, Body=b'{"event_log_id": 1}\nnot json at all\n')
    s3_client.put_object(Bucket=BUCKET, Key=f"{PREFIX}/2025/08/01/05/_SUCCESS", Body=b"")
    run = run_hour(ingest_dag, 5)
    assert run.state == "failed"
    assert loaded_lines(raw_rows(warehouse, 5)) == good, "the failed transaction left the hour as it was"
    task_log = "".join(capfd.readouterr())
    assert "Error parsing JSON" in task_log
    assert "part-0000dead-0000-0000-0000-00000000beef-0-99.jsonl" in task_log
    s3_client.delete_object(Bucket=BUCKET, Key=bad_key)


def test_gzip_part_files_load(ingest_dag, s3_client, warehouse):
    options = SimulationOptions(
        bucket=BUCKET, prefix=PREFIX, end_hour=hour(8), hours=1, events_per_hour=500, files_per_hour=2,
        gzip=True, seed=13,
    )  # fmt: skip
    manifest = simulate(s3_client, options)
    assert all(f.key.endswith(".jsonl.gz") for f in manifest.hours[0].part_files)
    assert run_hour(ingest_dag, 7).state == "success"
    assert loaded_lines(raw_rows(warehouse, 7)) == expected_lines(s3_client, 7)


def test_more_than_one_copy_batch_per_hour(ingest_dag, s3_client, warehouse, monkeypatch):
    """An hour with more files than one COPY's FILES list takes: every batch in the same transaction."""
    import include.event_log.ingest as ingest

    monkeypatch.setattr(ingest, "MAX_FILES_PER_COPY", 2)
    options = SimulationOptions(
        bucket=BUCKET, prefix=PREFIX, end_hour=hour(9), hours=1, events_per_hour=400, files_per_hour=5, seed=17,
    )  # fmt: skip
    manifest = simulate(s3_client, options)
    assert run_hour(ingest_dag, 8).state == "success"
    assert loaded_lines(raw_rows(warehouse, 8)) == expected_lines(s3_client, 8)
    assert len(raw_rows(warehouse, 8)) == manifest.records
