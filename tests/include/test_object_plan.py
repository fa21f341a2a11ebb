"""The plan on its own: declaration edits against a live state built by hand, the exact changes and statements.

The same edits against the local Snowflake, applied: tests/integration/test_snowflake_objects_plan.py.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from include.event_log.config import OBJECTS_FILE
from include.event_log.objects.declarations import DeclarationError, load_objects
from include.event_log.objects.live_objects import LiveColumn, LiveObject
from include.event_log.objects.object_plan import (
    ALTER,
    CREATE,
    REPLACE,
    UNCHANGED,
    Change,
    DestructiveChangeRefused,
    canonical_type,
    plan_objects,
)
from include.event_log.objects.object_statements import (
    external_table_comment,
    external_table_fingerprint,
    plan_statements,
)

RAW = "EVENT_LOG.RAW.RAW_FLINK_EVENT_LOG"
EXT = "EVENT_LOG.RAW.EXT_FLINK_EVENT_LOG"
FF = "EVENT_LOG.RAW.FF_FLINK_EVENT_LOG_JSON"
STAGE = "EVENT_LOG.RAW.STAGE_FLINK_EVENT_LOG"


@pytest.fixture(autouse=True)
def _environment(monkeypatch):
    monkeypatch.setenv("EVENT_LOG_BUCKET", "flink-event-log")
    monkeypatch.setenv("EVENT_LOG_PREFIX", "event_log")
    monkeypatch.delenv("EVENT_LOG_STORAGE_INTEGRATION", raising=False)


@pytest.fixture
def declared(tmp_path):
    """load(edits...): the package's declaration with (old, new) text replacements, from a copy in tmp_path."""

    def load(*edits: tuple[str, str]):
        text = OBJECTS_FILE.read_text()
        for old, new in edits:
            assert text.count(old) == 1, old
            text = text.replace(old, new)
        path = tmp_path / "objects.yaml"
        path.write_text(text)
        return load_objects(path)

    return load


def live_as_declared(objects, rows: int = 3) -> dict[str, LiveObject]:
    """What SHOW / DESCRIBE would read after the declaration was applied."""

    def grants(obj):
        return {obj.role: frozenset(obj.privileges)}

    ff, stage, ext = objects.file_format, objects.stage, objects.external_table
    live = {"EVENT_LOG.RAW": LiveObject(grants={"EVENT_LOG_LOADER": frozenset({"USAGE"})})}
    live[ff.fqn] = LiveObject(ff.description, dict(ff.file_format_options), grants=grants(ff))
    stage_properties = {"url": stage.url, "file_format": ff.fqn, "directory": "disabled"}
    live[stage.fqn] = LiveObject(stage.description, stage_properties, grants=grants(stage))
    comment = external_table_comment(ext.description, external_table_fingerprint(objects))
    columns = tuple(LiveColumn(c.name, canonical_type(c.type)) for c in ext.columns)
    live[ext.fqn] = LiveObject(comment, columns=columns, grants=grants(ext))
    for table in objects.tables.values():
        columns = tuple(LiveColumn(c.name, canonical_type(c.type), c.description) for c in table.columns)
        live[table.fqn] = LiveObject(table.description, columns=columns, grants=grants(table), rows=rows)
    return live


def plan_of(objects, live):
    return plan_objects(objects, live, external_table_fingerprint(objects))


def changed(plan) -> dict[str, tuple]:
    return {e.name: (e.action, e.changes, e.why) for e in plan.objects if e.action != UNCHANGED}


def test_canonical_types_are_what_describe_reports():
    assert canonical_type("VARCHAR") == canonical_type("string") == "VARCHAR(16777216)"
    assert canonical_type("NUMBER") == canonical_type("INTEGER") == canonical_type("NUMBER(38, 0)") == "NUMBER(38,0)"
    assert canonical_type("NUMBER(10)") == "NUMBER(10,0)"
    assert canonical_type("TIMESTAMP_NTZ") == canonical_type("DATETIME") == "TIMESTAMP_NTZ(9)"
    assert canonical_type("VARIANT") == "VARIANT"
    assert canonical_type("VARCHAR(64)") == "VARCHAR(64)"


def test_nothing_live_creates_everything_and_a_matching_live_state_plans_nothing(declared):
    objects = declared()
    plan = plan_of(objects, {})
    assert [(e.name, e.action) for e in plan.objects] == [
        ("EVENT_LOG.RAW", CREATE),
        (FF, CREATE),
        (STAGE, CREATE),
        (EXT, CREATE),
        (RAW, CREATE),
        ("EVENT_LOG.RAW.RAW_FLINK_EVENT_LOG_REJECTS", CREATE),
        ("EVENT_LOG.RAW.EVENT_LOG_CHECK_RESULTS", CREATE),
        ("EVENT_LOG.RAW.EVENT_LOG_HOUR_CHANGES", CREATE),
        ("EVENT_LOG.RAW.EVENT_LOG_MODEL_BUILDS", CREATE),
    ]
    assert plan_of(objects, live_as_declared(objects)).changed == []


def test_each_declared_edit_is_one_exact_change(declared):
    live = live_as_declared(declared())
    edited = declared(
        ("One row per loaded event line;", "One row per event line loaded;"),
        ("      COMPRESSION: AUTO", "      COMPRESSION: AUTO\n      REPLACE_INVALID_CHARACTERS: TRUE"),
        (
            "      - name: AIRFLOW_RUN_ID\n        type: VARCHAR\n        description: The event_log_ingest run",
            "      - name: INGEST_VERSION\n        type: VARCHAR\n        description: The package version.\n"
            "      - name: AIRFLOW_RUN_ID\n        type: VARCHAR\n        description: The event_log_ingest run",
        ),
        ("    partition_by: [REPLICATION_HOUR]", "      - name: STEP_KEY\n        type: VARCHAR\n"
         "        expression: VALUE:step_key::VARCHAR\n    partition_by: [REPLICATION_HOUR]"),
    )  # fmt: skip
    plan = plan_of(edited, live)
    old_fingerprint = external_table_fingerprint(declared())
    assert changed(plan) == {
        FF: (ALTER, (Change("option", "REPLACE_INVALID_CHARACTERS", "FALSE", "TRUE"),), ""),
        EXT: (
            REPLACE,
            (
                Change("ddl_fingerprint", "", old_fingerprint, external_table_fingerprint(edited)),
                Change("add_column", "STEP_KEY", None, "VARCHAR(16777216)"),
            ),
            "its declared DDL differs from the live one's; it is refreshed once replaced",
        ),
        RAW: (
            ALTER,
            (
                Change("add_column", "INGEST_VERSION", None, "VARCHAR(16777216)"),
                Change(
                    "comment",
                    "",
                    "One row per loaded event line; filled hour by hour by the event_log_ingest DAG.",
                    "One row per event line loaded; filled hour by hour by the event_log_ingest DAG.",
                ),
            ),
            "",
        ),
    }
    assert plan.destructive == []
    plan.refuse_destructive(allowed=False)  # nothing to refuse


def test_the_statements_of_an_alter_plan(declared):
    live = live_as_declared(declared())
    edited = declared(
        ("      COMPRESSION: AUTO", "      COMPRESSION: GZIP"),
        ("    description: One row per loaded event line;", "    description: The loaded lines;"),
        ("      - name: LOADED_AT\n        type: TIMESTAMP_NTZ\n        description: When the COPY ran (UTC).",
         "      - name: LOADED_AT\n        type: TIMESTAMP_NTZ\n        description: When the COPY ran."),
    )  # fmt: skip
    entries = {e.name: e for e in plan_of(edited, live).objects}
    assert plan_statements(entries[FF], edited) == [
        (f"ALTER FILE FORMAT {FF} SET\n    COMPRESSION = GZIP", {"description": edited.file_format.description})
    ]
    assert plan_statements(entries[RAW], edited) == [
        (f"ALTER TABLE {RAW} ALTER COLUMN LOADED_AT COMMENT %(comment)s", {"comment": "When the COPY ran."}),
        (f"ALTER TABLE {RAW} SET COMMENT = %(description)s", {"description": edited.raw_table.description}),
    ]
    assert plan_statements(entries[EXT], edited) == []


def test_dropping_or_retyping_a_native_column_is_destructive_and_refused(declared):
    objects = declared()
    live = live_as_declared(objects, rows=42)
    edited = declared(
        ("      - name: AIRFLOW_RUN_ID\n        type: VARCHAR\n"
         "        description: The event_log_ingest run that loaded the row.\n", ""),
        ("      - name: LINE_NUMBER\n        type: NUMBER", "      - name: LINE_NUMBER\n        type: VARCHAR"),
    )  # fmt: skip
    plan = plan_of(edited, live)
    rejects = "EVENT_LOG.RAW.RAW_FLINK_EVENT_LOG_REJECTS"
    assert changed(plan) == {
        RAW: (ALTER, (Change("drop_column", "AIRFLOW_RUN_ID", "VARCHAR(16777216)", None, True),), ""),
        rejects: (
            REPLACE,
            (Change("retype_column", "LINE_NUMBER", "NUMBER(38,0)", "VARCHAR(16777216)", True),),
            "a column's type changes only by replacing the table: its 42 rows are lost",
        ),
    }
    with pytest.raises(DestructiveChangeRefused) as refused:
        plan.refuse_destructive(allowed=False)
    message = str(refused.value)
    assert f"{RAW} column AIRFLOW_RUN_ID: 'VARCHAR(16777216)' -> (none) [destructive]" in message
    assert f"{rejects} column LINE_NUMBER type: 'NUMBER(38,0)' -> 'VARCHAR(16777216)' [destructive]" in message
    assert "allow_destructive_changes" in message and "EVENT_LOG_ALLOW_DESTRUCTIVE_CHANGES=true" in message
    plan.refuse_destructive(allowed=True)

    entries = {e.name: e for e in plan.objects}
    assert plan_statements(entries[RAW], edited) == [(f"ALTER TABLE {RAW} DROP COLUMN AIRFLOW_RUN_ID", {})]
    (create, grant) = plan_statements(entries[rejects], edited)
    assert create[0].startswith(f"CREATE OR REPLACE TABLE {rejects} (\n    REPLICATION_HOUR TIMESTAMP_NTZ,")
    assert "    LINE_NUMBER VARCHAR,\n" in create[0]
    assert grant == (f"GRANT DELETE, INSERT, SELECT ON TABLE {rejects} TO ROLE EVENT_LOG_LOADER", {})


def test_stage_directory_url_and_grants_converge(declared):
    objects = declared()
    live = live_as_declared(objects)
    stage = objects.stage
    live[stage.fqn] = replace(
        live[stage.fqn],
        properties={"url": "s3://old-bucket/event_log/", "file_format": FF, "directory": "enabled"},
        grants={},
    )
    live[RAW] = replace(live[RAW], grants={"EVENT_LOG_LOADER": frozenset({"SELECT", "TRUNCATE", "OWNERSHIP"})})
    plan = plan_of(objects, live)
    assert changed(plan) == {
        STAGE: (
            ALTER,
            (
                Change("url", "", "s3://old-bucket/event_log/", "s3://flink-event-log/event_log/"),
                Change("directory", "", "enabled", "disabled"),
                Change("privileges", "EVENT_LOG_LOADER", None, "USAGE"),
            ),
            "",
        ),
        RAW: (ALTER, (Change("privileges", "EVENT_LOG_LOADER", "SELECT, TRUNCATE", "DELETE, INSERT, SELECT"),), ""),
    }
    entries = {e.name: e for e in plan.objects}
    assert plan_statements(entries[STAGE], objects) == [
        (f"ALTER STAGE {STAGE} SET\n    URL = %(url)s", {"url": stage.url, "description": stage.description}),
        (f"ALTER STAGE {STAGE} SET DIRECTORY = (ENABLE = FALSE)", {}),
        (f"GRANT USAGE ON STAGE {STAGE} TO ROLE EVENT_LOG_LOADER", {}),
    ]
    assert plan_statements(entries[RAW], objects) == [
        (f"GRANT DELETE, INSERT ON TABLE {RAW} TO ROLE EVENT_LOG_LOADER", {}),
        (f"REVOKE TRUNCATE ON TABLE {RAW} FROM ROLE EVENT_LOG_LOADER", {}),
    ]


def test_a_file_format_of_another_type_is_replaced_and_its_external_table_with_it(declared):
    objects = declared()
    live = live_as_declared(objects)
    live[FF] = replace(live[FF], properties={"TYPE": "CSV", "COMPRESSION": "AUTO"})
    plan = plan_of(objects, live)
    assert changed(plan) == {
        FF: (REPLACE, (Change("option", "TYPE", "CSV", "JSON"),), "a file format's TYPE cannot be altered"),
        EXT: (REPLACE, (), "its file format is replaced; it is refreshed once replaced"),
    }
    assert plan.destructive == []


@pytest.mark.parametrize(
    ("old", "new", "error"),
    [
        ("      COMPRESSION: AUTO", "      COMPRESSION: LZ4", "COMPRESSION = 'LZ4', expected one of"),
        ("      COMPRESSION: AUTO", "      SKIP_HEADER: 1", "SKIP_HEADER is not one of"),
        ("      TYPE: JSON", "      TYPE: CSV", "TYPE = 'CSV', expected one of ['JSON']"),
        (
            "    privileges: [SELECT, INSERT, DELETE]\n    description: >-\n      Every data check",
            "    description: >-\n      Every data check",
            "role and privileges go together",
        ),
        ("    privileges: [SELECT]\n", "    privileges: [INSERT]\n", "privileges ['INSERT'] do not apply"),
        ("        expression: VALUE:event_log_id::NUMBER\n", "", "column EVENT_LOG_ID of a external_table needs"),
    ],
)
def test_every_declared_setting_is_validated(declared, old, new, error):
    with pytest.raises(DeclarationError, match=error.replace("[", r"\[").replace("(", r"\(")):
        declared((old, new))


def test_check_results_of_a_plan(declared):
    from include.event_log.objects.snowflake_objects import plan_check_results

    live = live_as_declared(declared())
    retyped = ("      - name: LINE_NUMBER\n        type: NUMBER", "      - name: LINE_NUMBER\n        type: VARCHAR")
    edited = declared(("One row per loaded event line;", "Rows;"), retyped)
    plan = plan_of(edited, live)
    results = {r.details["object"]: (r.status, r.observed, r.expected) for r in plan_check_results(plan, False)}
    assert results[RAW] == ("warn", 1, 0)
    assert results["EVENT_LOG.RAW.RAW_FLINK_EVENT_LOG_REJECTS"] == ("fail", 1, 0)
    assert results[FF] == results["EVENT_LOG.RAW"] == ("pass", 0, 0)
    assert {r.check_name for r in plan_check_results(plan, False)} == {"snowflake_objects_plan"}
    allowed = {r.details["object"]: r.status for r in plan_check_results(plan, True)}
    assert allowed["EVENT_LOG.RAW.RAW_FLINK_EVENT_LOG_REJECTS"] == "warn"
    assert [r.status for r in plan_check_results(plan_of(edited, {}), False)] == ["warn"] * 9  # all created
