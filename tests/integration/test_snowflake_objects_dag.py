"""The snowflake_objects DAG with dag.test() on the local stack: it plans, applies and records each declaration
edit (XCom, asset event, check-results rows), then plans nothing; a destructive edit fails it and changes nothing.

The DAG reads an edited copy of the declaration (EVENT_LOG_OBJECTS_FILE) in a database of its own.
"""

from __future__ import annotations

import json
import re

import pytest

from include.event_log.config import IngestConfig
from include.event_log.glass.assets import snowflake_objects_asset
from include.event_log.objects.object_statements import external_table_fingerprint
from tests.integration.conftest import load_dag, query
from tests.integration.object_declarations import AIRFLOW_RUN_ID_COLUMN, RAW_ROWS, Declaration

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

DAG_ID = "snowflake_objects"
OBJECT_NAMES = [
    "RAW",
    "RAW.FF_FLINK_EVENT_LOG_JSON",
    "RAW.STAGE_FLINK_EVENT_LOG",
    "RAW.EXT_FLINK_EVENT_LOG",
    "RAW.RAW_FLINK_EVENT_LOG",
    "RAW.RAW_FLINK_EVENT_LOG_REJECTS",
    "RAW.EVENT_LOG_CHECK_RESULTS",
    "RAW.EVENT_LOG_HOUR_CHANGES",
    "RAW.EVENT_LOG_MODEL_BUILDS",
]


@pytest.fixture
def declaration(snowflake_objects, local_stack, warehouse, s3_client, tmp_path, monkeypatch, request):
    """The DAG's declaration for this test (after the session's own run of the DAG on the package's)."""
    from include.event_log.objects.declarations import event_log_objects

    declared = Declaration.in_own_database(tmp_path, warehouse, s3_client, "DAG_" + request.node.name)
    monkeypatch.setenv("EVENT_LOG_OBJECTS_FILE", str(declared.path))
    event_log_objects.cache_clear()
    yield declared
    event_log_objects.cache_clear()  # the next reader gets the package's declaration again


def run_dag(**conf):
    """A run as the scheduler's workers make it: each task process reads the declaration afresh (dag.test() runs
    the tasks in this process, where event_log_objects() is cached)."""
    from include.event_log.objects.declarations import event_log_objects

    event_log_objects.cache_clear()
    return load_dag(DAG_ID).test(run_conf=conf or None)


def task_states(run) -> dict[str, str]:
    return {ti.task_id: ti.state for ti in run.get_task_instances()}


def xcom(run, task_id: str):
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        (row,) = session.execute(
            XComModel.get_many(run_id=run.run_id, dag_ids=DAG_ID, task_ids=task_id, key="return_value")
        ).all()
        return XComModel.deserialize_value(row[0])


def asset_events(run) -> list[tuple[str, dict]]:
    from airflow.models.asset import AssetEvent
    from airflow.utils.session import create_session

    with create_session() as session:
        events = session.query(AssetEvent).filter(AssetEvent.source_run_id == run.run_id).all()
        return [(event.asset.uri, event.extra) for event in events]


def recorded(warehouse, declared, run) -> list[tuple[str, str, dict]]:
    rows = query(
        warehouse,
        f"SELECT STATUS, OBSERVED, DETAILS FROM {declared.fqn('EVENT_LOG_CHECK_RESULTS')} "
        "WHERE CHECK_NAME = 'snowflake_objects_plan' AND RUN_ID = %(run_id)s",
        {"run_id": run.run_id},
    )
    return sorted((json.loads(details)["object"], status, json.loads(details)) for status, _, details in rows)


def changes(objects: list[dict]) -> dict[str, tuple]:
    return {
        o["object"]: (o["action"], [(c["field"], c["before"], c["after"]) for c in o["changes"]])
        for o in objects
        if o["action"] != "unchanged"
    }


def raw_rows(warehouse, declared) -> list[tuple]:
    return query(
        warehouse,
        "SELECT RECORD:event_log_id::NUMBER, FILE_NAME, FILE_ROW_NUMBER, AIRFLOW_RUN_ID "
        f"FROM {declared.fqn('RAW_FLINK_EVENT_LOG')} ORDER BY 1",
    )


def test_each_edit_is_planned_applied_recorded_then_nothing_is_planned(declaration, warehouse):
    first = run_dag()
    assert first.state == "success"
    applied = xcom(first, "apply_changes")
    assert applied["changed"] == 9 and applied["allow_destructive_changes"] is False
    assert [(o["object"], o["action"]) for o in applied["objects"]] == [
        (f"{declaration.database}.{name}", "create") for name in OBJECT_NAMES
    ]
    assert xcom(first, "refresh_whole_location") == {}, "created with REFRESH_ON_CREATE: nothing new to register"
    declaration.insert_raw_rows(warehouse)
    before = raw_rows(warehouse, declaration)
    assert [row[:3] for row in before] == list(RAW_ROWS)

    declaration.edit("Lines the hourly COPY could not load", "Lines the hourly COPY couldn't load")
    declaration.edit("      COMPRESSION: AUTO\n", "      COMPRESSION: AUTO\n      IGNORE_UTF8_ERRORS: TRUE\n")
    declaration.edit(
        AIRFLOW_RUN_ID_COLUMN, AIRFLOW_RUN_ID_COLUMN + "      - name: LOADER_VERSION\n        type: VARCHAR\n"
    )
    old_fingerprint = external_table_fingerprint(declaration.objects)
    declaration.edit(
        "    partition_by: [REPLICATION_HOUR]\n",
        "      - name: STEP_KEY\n        type: VARCHAR\n        expression: VALUE:step_key::VARCHAR\n"
        "    partition_by: [REPLICATION_HOUR]\n",
    )
    second = run_dag()
    assert second.state == "success"
    applied = xcom(second, "apply_changes")
    assert changes(applied["objects"]) == {
        declaration.fqn("FF_FLINK_EVENT_LOG_JSON"): ("alter", [("option IGNORE_UTF8_ERRORS", "FALSE", "TRUE")]),
        declaration.fqn("EXT_FLINK_EVENT_LOG"): ("replace", [
            ("ddl_fingerprint", old_fingerprint, external_table_fingerprint(declaration.objects)),
            ("column STEP_KEY", None, "VARCHAR(16777216)"),
        ]),
        declaration.fqn("RAW_FLINK_EVENT_LOG"): ("alter", [("column LOADER_VERSION", None, "VARCHAR(16777216)")]),
        declaration.fqn("RAW_FLINK_EVENT_LOG_REJECTS"): ("alter", [(
            "comment",
            "Lines the hourly COPY could not load (not JSON, truncated), kept whole with where and why.",
            "Lines the hourly COPY couldn't load (not JSON, truncated), kept whole with where and why.",
        )]),
    }  # fmt: skip
    # The declared external table's asset (include/event_log/glass/external_assets.yaml): the package's, whichever
    # declaration file this test edits.
    ext_uri = snowflake_objects_asset(IngestConfig.from_env()).uri
    assert ext_uri == "snowflake://local/EVENT_LOG/RAW/EXT_FLINK_EVENT_LOG"
    assert asset_events(second) == [(ext_uri, applied)]
    statuses = {name: status for name, status, _ in recorded(warehouse, declaration, second)}
    assert statuses == {
        f"{declaration.database}.{name}": "warn" if name.split(".")[-1] in (
            "FF_FLINK_EVENT_LOG_JSON", "EXT_FLINK_EVENT_LOG", "RAW_FLINK_EVENT_LOG", "RAW_FLINK_EVENT_LOG_REJECTS"
        ) else "pass"
        for name in OBJECT_NAMES
    }  # fmt: skip

    # the live objects changed; the raw rows did not
    assert query(warehouse, f"SELECT STEP_KEY FROM {declaration.fqn('EXT_FLINK_EVENT_LOG')} ORDER BY 1") == [
        ("s0",), ("s0",), ("s1",), ("s1",)
    ]  # fmt: skip
    assert query(warehouse, f"SELECT COUNT(LOADER_VERSION) FROM {declaration.fqn('RAW_FLINK_EVENT_LOG')}") == [(0,)]
    assert raw_rows(warehouse, declaration) == before

    third = run_dag()
    assert third.state == "success"
    assert xcom(third, "apply_changes")["changed"] == 0
    assert {status for _, status, _ in recorded(warehouse, declaration, third)} == {"pass"}
    assert raw_rows(warehouse, declaration) == before


def test_a_destructive_edit_fails_the_dag_naming_object_and_field_and_changes_nothing(declaration, warehouse, capfd):
    assert run_dag().state == "success"
    declaration.insert_raw_rows(warehouse)
    before = raw_rows(warehouse, declaration)
    raw = declaration.fqn("RAW_FLINK_EVENT_LOG")
    columns = query(warehouse, f"DESC TABLE {raw}")
    declaration.edit(AIRFLOW_RUN_ID_COLUMN, "")
    declaration.edit("One row per loaded event line;", "One row per event line;")

    capfd.readouterr()
    refused = run_dag()
    task_log = "".join(capfd.readouterr())
    assert refused.state == "failed"
    assert task_states(refused) == {
        "plan_changes": "failed",
        "apply_changes": "upstream_failed",
        "refresh_whole_location": "upstream_failed",
    }
    message = re.search(r"AirflowFailException: (Refused .*?)\n", task_log)
    assert message, "plan_changes did not fail with the refusal"
    assert f"{raw} column AIRFLOW_RUN_ID: 'VARCHAR(16777216)' -> (none) [destructive]" in message[1]
    assert '{"allow_destructive_changes": true}' in message[1]
    assert "EVENT_LOG_ALLOW_DESTRUCTIVE_CHANGES=true" in message[1]
    assert [(name, status) for name, status, _ in recorded(warehouse, declaration, refused) if status != "pass"] == [
        (raw, "fail")
    ]
    assert query(warehouse, f"DESC TABLE {raw}") == columns, "nothing was changed: not the column"
    comment = query(warehouse, f"SHOW TABLES LIKE 'RAW_FLINK_EVENT_LOG' IN SCHEMA {declaration.database}.RAW")
    assert "One row per loaded event line;" in str(comment[0]), "nor the safe edit planned with it"
    assert raw_rows(warehouse, declaration) == before
    assert asset_events(refused) == []

    allowed = run_dag(allow_destructive_changes=True)
    assert allowed.state == "success"
    assert changes(xcom(allowed, "apply_changes")["objects"])[raw] == ("alter", [
        ("column AIRFLOW_RUN_ID", "VARCHAR(16777216)", None),
        ("comment", "One row per loaded event line; filled hour by hour by the event_log_ingest DAG.",
         "One row per event line; filled hour by hour by the event_log_ingest DAG."),
    ])  # fmt: skip
    assert [c[0] for c in query(warehouse, f"DESC TABLE {raw}")] == [c[0] for c in columns][:-1]
    assert query(
        warehouse, f"SELECT RECORD:event_log_id::NUMBER, FILE_NAME, FILE_ROW_NUMBER FROM {raw} ORDER BY 1"
    ) == [row[:3] for row in before]
    assert run_dag().state == "success", "and then nothing is left to plan, without the switch"
