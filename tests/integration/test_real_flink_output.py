"""event_log_ingest loads exactly what real Flink wrote, in both layouts and with both completion signals.

Real Apache Flink (devstack/flink_lander.py, in .venv-flink: the project's own flink/lander.sql for the
Hive-style layout, a DataStream FileSink for plain folders) lands simulated events, with one hour that has
none, a late event that re-opens an hour, a line that is not JSON in one hour and an event with a field the
contract does not know in another (the lander passes every value through unchanged); its output goes into
S3 as Flink's S3 writer leaves it (finished files, hidden in-progress files, multipart `_…_tmp_` objects).
Then the DAG's load part runs hour by hour with `dag.test()` against a Snowflake emulator and bucket of this
module's own, with the layout and completion signal of the case, and every hour's rows must be exactly the
events given to Flink for that hour: the empty hour completes and loads nothing, the re-opened hour holds
each event once, the line that is not JSON is counted and kept as a reject while its hour loads, and the
new field warns in its hour's `new_fields` check and stays in the raw RECORD.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from devstack.flink_lander import KafkaRecord, land_with_flink
from devstack.localsnow import client as localsnow_client
from devstack.localsnow.process import start_server, stop_server
from devstack.ports import free_port
from devstack.simulator import SimulationOptions, late_event_stream
from devstack.stack import PREFIX, connection_env
from include.event_log.land.hour_layout import Completion, HourLayout, Layout
from tests.integration.conftest import load_dag, query

pytestmark = [pytest.mark.integration, pytest.mark.flink, pytest.mark.timeout(1500)]

END = datetime(2025, 8, 7, 6, tzinfo=UTC)
HOURS = [END - timedelta(hours=5 - i) for i in range(5)]  # 01:00 .. 05:00
EMPTY, LATE = HOURS[2], HOURS[1]
DIRTY, NOVEL = HOURS[0], HOURS[3]  # a line that is not JSON; an event with a field the contract lacks
NOT_JSON = b"<<corrupted record at kafka offset 4242>>"

CASES = [
    # What each Flink sink writes, read the way a deployment of it would be configured.
    pytest.param((Layout.HIVE, Completion.SUCCESS_FILE), id="sql-sink-hive-success-file"),
    pytest.param((Layout.PLAIN, Completion.QUIET_PERIOD), id="filesink-plain-quiet-period"),
    # The SQL sink's folders read without trusting its _SUCCESS: the other completion signal, same data.
    pytest.param((Layout.HIVE, Completion.QUIET_PERIOD), id="sql-sink-hive-quiet-period"),
]


@pytest.fixture
def case_stack(request, local_stack, s3_endpoint_url, s3_client, tmp_path, monkeypatch):
    """A bucket, a Snowflake emulator and Airflow connections of the case's own, the DAGs' configuration
    set for its layout, and the Snowflake objects created by the snowflake_objects DAG."""
    from include.event_log.objects.declarations import event_log_objects

    layout, completion = request.param
    bucket = f"flink-{layout.value}-{completion.value.replace('_', '-')}"
    s3_client.create_bucket(Bucket=bucket)
    port = free_port()
    log = (tmp_path / "localsnow.log").open("ab")
    server = start_server(tmp_path / "localsnow", s3_endpoint_url, port, log_file=log)

    class Ports:
        s3_port, snowflake_port = int(s3_endpoint_url.rsplit(":", 1)[1]), port

    for name, value in {
        **connection_env(Ports),
        "EVENT_LOG_BUCKET": bucket,
        "EVENT_LOG_PREFIX": PREFIX,
        "EVENT_LOG_LAYOUT": layout.value,
        "EVENT_LOG_COMPLETION": completion.value,
        "EVENT_LOG_QUIET_PERIOD_SECONDS": "900",
        # One bad line in an hour of about 80 is above the default 1%: this hour must load and keep it.
        "EVENT_LOG_MAX_REJECT_RATIO": "0.05",
    }.items():
        monkeypatch.setenv(name, value)
    event_log_objects.cache_clear()  # the declaration names the bucket and the layout's file pattern
    try:
        assert load_dag("snowflake_objects").test().state == "success"
        yield layout, completion, bucket, port
    finally:
        event_log_objects.cache_clear()
        stop_server(server)
        log.close()


@pytest.mark.parametrize("case_stack", CASES, indirect=True)
def test_each_hour_holds_exactly_the_events_flink_wrote(case_stack, s3_client, tmp_path):

    layout, completion, bucket, port = case_stack
    options = SimulationOptions(bucket=bucket, prefix=PREFIX, end_hour=END, hours=5, events_per_hour=80,
                                empty_hours=(EMPTY,))  # fmt: skip
    (base,) = late_event_stream(options, NOVEL, 1, pass_number=2)  # an event no other record has
    novel = KafkaRecord(base.replicated_at_us, (base.line[:-1] + ',"tenant_tier":"gold"}').encode())
    not_json = KafkaRecord(int((DIRTY + timedelta(minutes=20)).timestamp()) * 1_000_000, NOT_JSON)
    assert novel.hour == NOVEL and not_json.hour == DIRTY
    run = land_with_flink(
        s3_client, options, layout, tmp_path / "flink", late_hours=(LATE,), late_events=1,
        extra_records=[novel, not_json],
    )  # fmt: skip
    given = {hour: Counter(ids) for hour, ids in run.given.items()}
    assert EMPTY not in given and sum(given[LATE].values()) >= 2
    assert novel.event_log_id in given[NOVEL] and NOT_JSON in run.given_values[DIRTY]
    # Where Flink wrote the bad line: the reject must name that file and line.
    dirty_prefix = HourLayout(layout, PREFIX).hour_prefix(DIRTY)
    (not_json_at,) = [
        (key.rsplit("/", 1)[-1], number)
        for key in run.flink_keys
        if key.startswith(dirty_prefix) and "/_" not in key
        for number, line in enumerate(s3_client.get_object(Bucket=bucket, Key=key)["Body"].read().split(b"\n"), 1)
        if line == NOT_JSON
    ]

    dag = load_dag("event_log_ingest").partial_subset(task_ids=["load_hour.check_hour"], include_upstream=True)
    warehouse = localsnow_client.connect(port)
    # The newest hour is complete only once a later hour is (its _SUCCESS, or a later hour's files and the quiet
    # period): Flink has moved on from every other hour.
    for hour in HOURS[:-1] if completion is Completion.QUIET_PERIOD else HOURS:
        dag_run = dag.test(logical_date=hour + timedelta(hours=1))
        assert dag_run.state == "success", f"{layout} / {completion}: the run of {hour} ended {dag_run.state}"
        rows = query(
            warehouse,
            "SELECT RECORD:event_log_id::NUMBER FROM EVENT_LOG.RAW.RAW_FLINK_EVENT_LOG WHERE REPLICATION_HOUR = %(h)s",
            {"h": hour.replace(tzinfo=None)},
        )
        assert Counter(int(event_id) for (event_id,) in rows) == given.get(hour, Counter()), hour
        checks = {name: (status, observed, json.loads(details)) for name, status, observed, details in query(
            warehouse,
            "SELECT CHECK_NAME, STATUS, OBSERVED, DETAILS FROM EVENT_LOG.RAW.EVENT_LOG_CHECK_RESULTS "
            "WHERE RUN_ID = %(r)s AND CHECK_NAME IN ('unexpected_objects_in_hour', 'loadable_files_in_hour', "
            "'raw_rows_equal_external_table_rows', 'rows_parsed_equal_loaded_plus_rejected', "
            "'rejects_table_rows_equal_rejects_kept', 'rejected_lines', 'new_fields')",
            {"r": dag_run.run_id},
        )}  # fmt: skip
        assert {name: status for name, (status, _, _) in checks.items()} == {
            "unexpected_objects_in_hour": "pass",  # Flink's by-products are known, never unexpected
            "loadable_files_in_hour": "pass",  # the empty hour is reported complete and empty, not warned
            "raw_rows_equal_external_table_rows": "pass",  # the external table reads the same layout
            "rows_parsed_equal_loaded_plus_rejected": "pass",
            "rejects_table_rows_equal_rejects_kept": "pass",
            "rejected_lines": "warn" if hour == DIRTY else "pass",
            "new_fields": "warn" if hour == NOVEL else "pass",
        }, hour
        kept = query(
            warehouse,
            "SELECT FILE_NAME, LINE_NUMBER, REJECTED_RECORD FROM EVENT_LOG.RAW.RAW_FLINK_EVENT_LOG_REJECTS "
            "WHERE REPLICATION_HOUR = %(h)s",
            {"h": hour.replace(tzinfo=None)},
        )
        if hour == DIRTY:
            # The line that is not JSON: counted, kept whole where Flink wrote it, and the hour loaded.
            assert checks["rejected_lines"][1] == 1
            assert [(name.rsplit("/", 1)[-1], int(number), text) for name, number, text in kept] == [
                (*not_json_at, NOT_JSON.decode())
            ]
        else:
            assert kept == [], hour
        if hour == NOVEL:
            assert checks["new_fields"][1:] == (1, {"fields": {"tenant_tier": 1}})
            ((record,),) = query(
                warehouse,
                "SELECT RECORD FROM EVENT_LOG.RAW.RAW_FLINK_EVENT_LOG WHERE REPLICATION_HOUR = %(h)s "
                "AND RECORD:event_log_id::NUMBER = %(id)s",
                {"h": hour.replace(tzinfo=None), "id": novel.event_log_id},
            )
            # The raw RECORD is the value Flink was given, the new field with it.
            assert json.loads(record) == json.loads(novel.value) and json.loads(record)["tenant_tier"] == "gold"
    ((empty_state,),) = query(
        warehouse,
        "SELECT DETAILS FROM EVENT_LOG.RAW.EVENT_LOG_CHECK_RESULTS WHERE CHECK_NAME = 'loadable_files_in_hour' "
        "AND REPLICATION_HOUR = %(h)s",
        {"h": EMPTY.replace(tzinfo=None)},
    )
    assert '"state": "complete_empty"' in empty_state
    warehouse.close()
