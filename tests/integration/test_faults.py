"""Faults on the local stack: a warehouse lost in the middle of an hour's load, then the retry."""

from __future__ import annotations

from collections import Counter

import pytest

from devstack.localsnow import client as localsnow_client
from devstack.simulator import SimulationOptions, recommit_late, simulate
from devstack.simulator.reader import read_landed_hour
from devstack.stack import BUCKET, PREFIX
from tests.integration.conftest import hour, load_dag, query

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]


def lines_in_warehouse(warehouse_factory, n: int) -> Counter:
    with warehouse_factory() as conn:
        rows = query(
            conn,
            "SELECT FILE_NAME, FILE_ROW_NUMBER FROM EVENT_LOG.RAW.RAW_FLINK_EVENT_LOG WHERE REPLICATION_HOUR = %(h)s",
            {"h": hour(n).replace(tzinfo=None)},
        )
    return Counter((name.rsplit("/", 1)[-1], int(number)) for name, number in rows)


def lines_in_s3(s3_client, n: int) -> Counter:
    landed = read_landed_hour(s3_client, BUCKET, PREFIX, hour(n))
    return Counter((line.key.rsplit("/", 1)[-1], line.line_number) for line in landed.lines)


@pytest.fixture
def warehouse_factory(local_stack):
    def connect():
        return localsnow_client.connect(local_stack.snowflake_port)

    return connect


def test_warehouse_lost_mid_copy_leaves_the_hour_as_it_was_and_the_retry_loads_it(
    snowflake_objects, local_stack, s3_client, warehouse_factory, monkeypatch
):
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook

    import include.event_log.load.ingest as ingest
    from include.event_log.config import SNOWFLAKE_CONN_ID, IngestConfig

    n = 14
    options = SimulationOptions(
        bucket=BUCKET, prefix=PREFIX, end_hour=hour(n + 1), hours=1, events_per_hour=1500, files_per_hour=3, seed=31,
    )  # fmt: skip
    simulate(s3_client, options)
    dag = load_dag("event_log_ingest").partial_subset(task_ids=["load_hour.check_hour"], include_upstream=True)
    assert dag.test(logical_date=hour(n + 1)).state == "success"
    first_load = lines_in_warehouse(warehouse_factory, n)
    assert first_load == lines_in_s3(s3_client, n)

    late = recommit_late(s3_client, options, hour(n), 50)
    config = IngestConfig.from_env()
    s3_hook = S3Hook(aws_conn_id="aws_event_log")
    listing = ingest.list_committed_part_files(s3_hook, hour(n).isoformat(), config)
    files_before = {name for name, _ in first_load}
    assert len(listing["files"]) == len(files_before) + len(late.part_files)

    real_copy_results = ingest._copy_results
    crashed = []

    def copy_results_then_crash(cursor):
        results = real_copy_results(cursor)
        if not crashed:
            # The DELETE and the COPY ran; before the commit the warehouse goes away.
            crashed.append(True)
            local_stack.crash_and_restart_snowflake()
        return results

    monkeypatch.setattr(ingest, "_copy_results", copy_results_then_crash)
    with pytest.raises(Exception):  # noqa: B017 - whatever the connector raises for a lost session
        ingest.copy_hour(SNOWFLAKE_CONN_ID, s3_hook, listing, "attempt-1", config)
    assert crashed
    assert lines_in_warehouse(warehouse_factory, n) == first_load, "the lost transaction left the hour as it was"

    report = ingest.copy_hour(SNOWFLAKE_CONN_ID, s3_hook, listing, "attempt-2", config)
    after_retry = lines_in_warehouse(warehouse_factory, n)
    assert after_retry == lines_in_s3(s3_client, n), "the retry loaded the union of the files, each line once"
    assert report.rows_loaded == sum(after_retry.values())
    assert max(after_retry.values()) == 1
