"""Plan and apply against the local Snowflake: each declaration edit gives an exact plan, is applied, changes the
live object, and leaves an empty plan; the raw table's rows are intact after every apply.

Each test has a database of its own and a stage prefix of its own, declared by an edited copy of the package's
YAML in tmp_path (the repository's file is never edited).
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from devstack.stack import BUCKET, REPO
from include.event_log.config import SNOWFLAKE_CONN_ID
from include.event_log.objects.object_plan import DestructiveChangeRefused
from include.event_log.objects.object_statements import external_table_fingerprint
from include.event_log.objects.snowflake_objects import PlanChanged, apply_object_changes, plan_object_changes
from tests.integration.conftest import query
from tests.integration.object_declarations import AIRFLOW_RUN_ID_COLUMN, Declaration

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

RAW_COLUMNS = "RECORD:event_log_id::NUMBER, FILE_NAME, FILE_ROW_NUMBER, REPLICATION_HOUR, LOADED_AT, AIRFLOW_RUN_ID"


@pytest.fixture
def declaration(local_stack, warehouse, s3_client, tmp_path, request):
    """A declaration applied once, with two part files landed and three rows in its raw table."""
    declared = Declaration.in_own_database(tmp_path, warehouse, s3_client, "OBJ_" + request.node.name)
    apply_object_changes(SNOWFLAKE_CONN_ID, allow_destructive=False, objects=declared.objects)
    declared.insert_raw_rows(warehouse)
    return declared


def changes(plan) -> list[tuple]:
    """The changed entries: (object, action, why, [(field, from, to, destructive)])."""
    return [
        (e.name, e.action, e.why, [(c.field, c.before, c.after, c.destructive) for c in e.changes])
        for e in plan.changed
    ]


def plan_of(declared):
    return plan_object_changes(SNOWFLAKE_CONN_ID, declared.objects)


def raw_rows(warehouse, declared) -> list[tuple]:
    return query(warehouse, f"SELECT {RAW_COLUMNS} FROM {declared.fqn('RAW_FLINK_EVENT_LOG')} ORDER BY 1")


def shown(warehouse, what: str, declared, name: str) -> dict:
    with warehouse.cursor() as cursor:
        cursor.execute(f"SHOW {what} IN SCHEMA {declared.database}.RAW")
        names = [d.name.lower() for d in cursor.description]
        (row,) = [dict(zip(names, r, strict=True)) for r in cursor.fetchall() if r[names.index("name")] == name]
    return row


def described(warehouse, kind: str, fqn: str) -> list[tuple]:
    return [
        (name, type_, comment)
        for name, type_, _, _, _, _, _, _, _, comment, *_ in query(warehouse, f"DESC {kind} {fqn}")
    ]


def test_the_first_apply_creates_everything_then_nothing_is_planned(declaration, warehouse):
    assert plan_of(declaration).changed == []
    assert raw_rows(warehouse, declaration)[0][:3] == (10, "a", 1)
    ext = declaration.fqn("EXT_FLINK_EVENT_LOG")
    assert query(warehouse, f"SELECT EVENT_LOG_ID, FILENAME FROM {ext} ORDER BY 1") == [
        (10, "dt=2025-08-01/hr=01/part-00000001-0000-0000-0000-000000000000-0-1.jsonl"),
        (11, "dt=2025-08-01/hr=01/part-00000001-0000-0000-0000-000000000000-0-1.jsonl"),
        (20, "dt=2025-08-01/hr=02/part-00000002-0000-0000-0000-000000000000-0-1.jsonl"),
        (21, "dt=2025-08-01/hr=02/part-00000002-0000-0000-0000-000000000000-0-1.jsonl"),
    ]
    comment = shown(warehouse, "EXTERNAL TABLES", declaration, "EXT_FLINK_EVENT_LOG")["comment"]
    assert comment.endswith(f"[ddl sha256:{external_table_fingerprint(declaration.objects)}]")
    assert shown(warehouse, "STAGES", declaration, "STAGE_FLINK_EVENT_LOG")["directory_enabled"] == "N"
    assert described(warehouse, "TABLE", declaration.fqn("RAW_FLINK_EVENT_LOG"))[0] == (
        "RECORD", "VARIANT", "The whole JSON record as landed, new fields included."
    )  # fmt: skip
    grants = query(warehouse, f"SHOW GRANTS ON TABLE {declaration.fqn('EVENT_LOG_CHECK_RESULTS')}")
    assert sorted((g[1], g[5]) for g in grants) == [
        ("DELETE", "EVENT_LOG_LOADER"), ("INSERT", "EVENT_LOG_LOADER"), ("OWNERSHIP", "SYSADMIN"),
        ("SELECT", "EVENT_LOG_LOADER"),
    ]  # fmt: skip


def test_a_comment(declaration, warehouse):
    before = raw_rows(warehouse, declaration)
    declaration.edit("One row per loaded event line;", "One row per event line, as in the load's files;")
    plan = plan_of(declaration)
    assert changes(plan) == [
        (declaration.fqn("RAW_FLINK_EVENT_LOG"), "alter", "", [(
            "comment", "One row per loaded event line; filled hour by hour by the event_log_ingest DAG.",
            "One row per event line, as in the load's files; filled hour by hour by the event_log_ingest DAG.", False,
        )]),
    ]  # fmt: skip
    apply_object_changes(SNOWFLAKE_CONN_ID, False, plan.as_dicts(), declaration.objects)
    assert shown(warehouse, "TABLES", declaration, "RAW_FLINK_EVENT_LOG")["comment"] == (
        "One row per event line, as in the load's files; filled hour by hour by the event_log_ingest DAG."
    )
    assert plan_of(declaration).changed == []
    assert raw_rows(warehouse, declaration) == before


def test_a_file_format_option(declaration, warehouse):
    before = raw_rows(warehouse, declaration)
    declaration.edit("      COMPRESSION: AUTO\n", "      COMPRESSION: AUTO\n      REPLACE_INVALID_CHARACTERS: TRUE\n")
    plan = plan_of(declaration)
    ff = declaration.fqn("FF_FLINK_EVENT_LOG_JSON")
    assert changes(plan) == [(ff, "alter", "", [("option REPLACE_INVALID_CHARACTERS", "FALSE", "TRUE", False)])]
    apply_object_changes(SNOWFLAKE_CONN_ID, False, plan.as_dicts(), declaration.objects)
    options = json.loads(shown(warehouse, "FILE FORMATS", declaration, "FF_FLINK_EVENT_LOG_JSON")["format_options"])
    assert options == {"TYPE": "JSON", "COMPRESSION": "AUTO", "REPLACE_INVALID_CHARACTERS": True}
    assert plan_of(declaration).changed == []

    # taken out of the declaration again: back to Snowflake's default
    declaration.edit("      REPLACE_INVALID_CHARACTERS: TRUE\n", "")
    plan = plan_of(declaration)
    assert changes(plan) == [(ff, "alter", "", [("option REPLACE_INVALID_CHARACTERS", "TRUE", "FALSE", False)])]
    apply_object_changes(SNOWFLAKE_CONN_ID, False, plan.as_dicts(), declaration.objects)
    assert plan_of(declaration).changed == []
    assert raw_rows(warehouse, declaration) == before


def test_a_new_raw_table_column(declaration, warehouse):
    before = raw_rows(warehouse, declaration)
    declaration.edit(
        AIRFLOW_RUN_ID_COLUMN,
        AIRFLOW_RUN_ID_COLUMN + "      - name: LOADER_VERSION\n        type: VARCHAR(32)\n"
        "        description: The package version that loaded the row.\n",
    )
    plan = plan_of(declaration)
    raw = declaration.fqn("RAW_FLINK_EVENT_LOG")
    assert changes(plan) == [(raw, "alter", "", [("column LOADER_VERSION", None, "VARCHAR(32)", False)])]
    apply_object_changes(SNOWFLAKE_CONN_ID, False, plan.as_dicts(), declaration.objects)
    assert described(warehouse, "TABLE", raw)[-2:] == [
        ("AIRFLOW_RUN_ID", "VARCHAR(16777216)", "The event_log_ingest run that loaded the row."),
        ("LOADER_VERSION", "VARCHAR(32)", "The package version that loaded the row."),
    ]
    assert plan_of(declaration).changed == []
    assert raw_rows(warehouse, declaration) == before
    assert query(warehouse, f"SELECT COUNT(*), COUNT(LOADER_VERSION) FROM {raw}") == [(3, 0)]


def test_an_external_table_column(declaration, warehouse):
    before = raw_rows(warehouse, declaration)
    old_fingerprint = external_table_fingerprint(declaration.objects)
    declaration.edit(
        "    partition_by: [REPLICATION_HOUR]\n",
        "      - name: STEP_KEY\n        type: VARCHAR\n        expression: VALUE:step_key::VARCHAR\n"
        "    partition_by: [REPLICATION_HOUR]\n",
    )
    plan = plan_of(declaration)
    ext = declaration.fqn("EXT_FLINK_EVENT_LOG")
    new_fingerprint = external_table_fingerprint(declaration.objects)
    assert changes(plan) == [
        (ext, "replace", "its declared DDL differs from the live one's; it is refreshed once replaced", [
            ("ddl_fingerprint", old_fingerprint, new_fingerprint, False),
            ("column STEP_KEY", None, "VARCHAR(16777216)", False),
        ]),
    ]  # fmt: skip
    apply_object_changes(SNOWFLAKE_CONN_ID, False, plan.as_dicts(), declaration.objects)
    assert [c[0] for c in described(warehouse, "EXTERNAL TABLE", ext)][-2:] == ["DAGSTER_EVENT_TYPE", "STEP_KEY"]
    assert query(warehouse, f"SELECT EVENT_LOG_ID, STEP_KEY FROM {ext} ORDER BY 1") == [
        (10, "s0"), (11, "s1"), (20, "s0"), (21, "s1")
    ], "replaced, then refreshed: every file registered again"  # fmt: skip
    assert shown(warehouse, "EXTERNAL TABLES", declaration, "EXT_FLINK_EVENT_LOG")["comment"].endswith(
        f"[ddl sha256:{new_fingerprint}]"
    )
    grants = query(warehouse, f"SHOW GRANTS ON EXTERNAL TABLE {ext}")
    assert sorted((g[1], g[5]) for g in grants) == [("OWNERSHIP", "SYSADMIN"), ("SELECT", "EVENT_LOG_LOADER")]
    assert plan_of(declaration).changed == []
    assert raw_rows(warehouse, declaration) == before


def test_a_destructive_edit_is_refused_and_changes_nothing_unless_allowed(declaration, warehouse):
    before = raw_rows(warehouse, declaration)
    raw = declaration.fqn("RAW_FLINK_EVENT_LOG")
    columns = described(warehouse, "TABLE", raw)
    declaration.edit(AIRFLOW_RUN_ID_COLUMN, "")
    declaration.edit("Every data check and deadline miss", "Every check and deadline miss")  # a safe edit with it
    plan = plan_of(declaration)
    assert [(name, action) for name, action, _, _ in changes(plan)] == [
        (raw, "alter"),
        (declaration.fqn("EVENT_LOG_CHECK_RESULTS"), "alter"),
    ]
    assert changes(plan)[0][3] == [("column AIRFLOW_RUN_ID", "VARCHAR(16777216)", None, True)]

    with pytest.raises(DestructiveChangeRefused) as refused:
        apply_object_changes(SNOWFLAKE_CONN_ID, False, plan.as_dicts(), declaration.objects)
    assert f"{raw} column AIRFLOW_RUN_ID: 'VARCHAR(16777216)' -> (none) [destructive]" in str(refused.value)
    assert "allow_destructive_changes" in str(refused.value)
    assert described(warehouse, "TABLE", raw) == columns
    assert shown(warehouse, "TABLES", declaration, "EVENT_LOG_CHECK_RESULTS")["comment"].startswith("Every data check")
    assert plan_of(declaration).as_dicts() == plan.as_dicts(), "the refused plan changed nothing"

    apply_object_changes(SNOWFLAKE_CONN_ID, True, plan.as_dicts(), declaration.objects)
    assert [c[0] for c in described(warehouse, "TABLE", raw)] == [c[0] for c in columns][:-1]
    assert query(
        warehouse, f"SELECT RECORD:event_log_id::NUMBER, FILE_NAME, FILE_ROW_NUMBER FROM {raw} ORDER BY 1"
    ) == [row[:3] for row in before], "only the dropped column's values are gone"
    assert plan_of(declaration).changed == []


def test_retyping_a_column_replaces_the_table_only_when_allowed(declaration, warehouse):
    rejects = declaration.fqn("RAW_FLINK_EVENT_LOG_REJECTS")
    query(warehouse, f"INSERT INTO {rejects} (FILE_NAME, LINE_NUMBER) VALUES ('f', 7)")
    declaration.edit(
        "      - name: LINE_NUMBER\n        type: NUMBER\n", "      - name: LINE_NUMBER\n        type: VARCHAR\n"
    )
    plan = plan_of(declaration)
    assert changes(plan) == [(
        rejects, "replace", "a column's type changes only by replacing the table: its 1 rows are lost",
        [("column LINE_NUMBER type", "NUMBER(38,0)", "VARCHAR(16777216)", True)],
    )]  # fmt: skip
    with pytest.raises(DestructiveChangeRefused, match="LINE_NUMBER type"):
        apply_object_changes(SNOWFLAKE_CONN_ID, False, objects=declaration.objects)
    assert query(warehouse, f"SELECT FILE_NAME, LINE_NUMBER FROM {rejects}") == [("f", 7)]

    apply_object_changes(SNOWFLAKE_CONN_ID, True, objects=declaration.objects)
    assert ("LINE_NUMBER", "VARCHAR(16777216)", None) in described(warehouse, "TABLE", rejects)
    assert query(warehouse, f"SELECT COUNT(*) FROM {rejects}") == [(0,)]
    assert plan_of(declaration).changed == [], "grants included: the replaced table got them again"


def test_objects_created_before_plans_converge(local_stack, warehouse, tmp_path, s3_client):
    """What the previous version created (IF NOT EXISTS only): a directory table, no fingerprint, no column
    comments, no grants. The first plan brings it to the declaration; nothing is lost."""
    query(warehouse, "CREATE DATABASE IF NOT EXISTS OBJ_BEFORE")
    declared = Declaration(tmp_path / "objects.yaml", "OBJ_BEFORE")
    s3_client.put_object(
        Bucket=BUCKET,
        Key=f"{declared.prefix}/dt=2025-08-01/hr=01/part-0000000a-0000-0000-0000-000000000000-0-1.jsonl",
        Body=b'{"a": 1}\n',
    )
    objects = declared.objects
    ff, stage, ext, raw = objects.file_format, objects.stage, objects.external_table, objects.raw_table
    for sql in (
        "CREATE SCHEMA IF NOT EXISTS OBJ_BEFORE.RAW",
        f"CREATE FILE FORMAT {ff.fqn} TYPE = JSON COMPRESSION = AUTO COMMENT = '{ff.description}'",
        f"CREATE STAGE {stage.fqn} URL = '{stage.url}' FILE_FORMAT = (FORMAT_NAME = {ff.fqn}) "
        f"DIRECTORY = (ENABLE = TRUE) COMMENT = '{stage.description}'",
        f"CREATE EXTERNAL TABLE {ext.fqn} (FILENAME VARCHAR AS (METADATA$FILENAME)) LOCATION = @{stage.fqn}/ "
        f"FILE_FORMAT = (FORMAT_NAME = {ff.fqn}) AUTO_REFRESH = FALSE COMMENT = '{ext.description}'",
        f"CREATE TABLE {raw.fqn} ({', '.join(f'{c.name} {c.type}' for c in raw.columns)}) "
        f"COMMENT = '{raw.description}'",
        f"INSERT INTO {raw.fqn} (FILE_NAME) VALUES ('kept')",
    ):
        query(warehouse, sql)
    plan = plan_of(declared)
    entries = {name.split(".")[-1]: (action, fields) for name, action, _, fields in changes(plan)}
    assert entries["RAW"] == ("alter", [("privileges of role EVENT_LOG_LOADER", None, "USAGE", False)])
    assert entries["FF_FLINK_EVENT_LOG_JSON"] == (
        "alter",
        [("privileges of role EVENT_LOG_LOADER", None, "USAGE", False)],
    )
    assert entries["STAGE_FLINK_EVENT_LOG"] == ("alter", [
        ("directory", "enabled", "disabled", False), ("privileges of role EVENT_LOG_LOADER", None, "USAGE", False)
    ])  # fmt: skip
    assert entries["EXT_FLINK_EVENT_LOG"][0] == "replace"
    assert entries["EXT_FLINK_EVENT_LOG"][1][0] == (
        "ddl_fingerprint", None, external_table_fingerprint(objects), False
    )  # fmt: skip
    assert entries["RAW_FLINK_EVENT_LOG"] == ("alter", [
        (f"column {c.name} comment", None, c.description, False) for c in raw.columns
    ] + [("privileges of role EVENT_LOG_LOADER", None, "DELETE, INSERT, SELECT", False)])  # fmt: skip
    assert entries["EVENT_LOG_CHECK_RESULTS"] == ("create", [])
    assert plan.destructive == []

    apply_object_changes(SNOWFLAKE_CONN_ID, False, plan.as_dicts(), objects)
    assert plan_of(declared).changed == []
    assert shown(warehouse, "STAGES", declared, "STAGE_FLINK_EVENT_LOG")["directory_enabled"] == "N"
    assert query(warehouse, f"SELECT FILE_NAME FROM {raw.fqn}") == [("kept",)]
    assert query(warehouse, f"SELECT FILENAME, REPLICATION_HOUR IS NOT NULL FROM {ext.fqn}") == [
        ("dt=2025-08-01/hr=01/part-0000000a-0000-0000-0000-000000000000-0-1.jsonl", True)
    ]  # fmt: skip


def test_apply_refuses_a_plan_that_is_no_longer_the_plan(declaration, warehouse):
    declaration.edit("One row per loaded event line;", "One row per event line;")
    planned = plan_of(declaration).as_dicts()
    query(warehouse, f"ALTER TABLE {declaration.fqn('RAW_FLINK_EVENT_LOG')} ADD COLUMN BY_HAND VARCHAR")
    with pytest.raises(PlanChanged, match="changed since the plan; nothing was applied"):
        apply_object_changes(SNOWFLAKE_CONN_ID, False, planned, declaration.objects)
    assert shown(warehouse, "TABLES", declaration, "RAW_FLINK_EVENT_LOG")["comment"].startswith("One row per loaded")


def test_the_cli_prints_the_plan_and_changes_nothing(declaration, warehouse):
    declaration.edit("One row per loaded event line;", "One row per event line;")
    command = [sys.executable, "-m", "include.event_log.objects.snowflake_objects", "plan"]
    result = subprocess.run(
        [*command, "--objects", str(declaration.path)],
        cwd=REPO, capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    raw = declaration.fqn("RAW_FLINK_EVENT_LOG")
    assert result.stdout.splitlines()[:3] == [
        "1 of 9 objects change",
        f"{declaration.database}.RAW (schema): unchanged",
        f"{declaration.fqn('FF_FLINK_EVENT_LOG_JSON')} (file_format): unchanged",
    ]
    assert f"{raw} (table): alter\n    comment: 'One row per loaded event line; filled" in result.stdout
    assert shown(warehouse, "TABLES", declaration, "RAW_FLINK_EVENT_LOG")["comment"].startswith("One row per loaded")

    result = subprocess.run(
        [*command[:-1], "apply", "--objects", str(declaration.path)],
        cwd=REPO, capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    assert "Applied." in result.stdout
    assert shown(warehouse, "TABLES", declaration, "RAW_FLINK_EVENT_LOG")["comment"].startswith("One row per event")
