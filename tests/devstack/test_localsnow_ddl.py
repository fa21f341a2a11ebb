"""The project's own SQL files, rendered from its YAML declaration, run unchanged on the local Snowflake.

The rendering is done here with Jinja from include/event_log/objects/snowflake_objects.yaml (fqn = DATABASE.SCHEMA.NAME,
`%(name)s` left for the connector's client-side pyformat binding), independently of the DAG code, so that this
test pins what localsnow must accept: every file of include/sql/objects, include/sql/ingest and include/sql/rejects.
"""

from __future__ import annotations

import datetime
import json
from dataclasses import replace
from pathlib import Path

import jinja2
import pytest

pytestmark = pytest.mark.timeout(120)

PROJECT_DIR = Path(__file__).resolve().parents[2]
SQL_DIR = PROJECT_DIR / "include" / "sql"
OBJECTS_FILE = PROJECT_DIR / "include" / "event_log" / "objects" / "snowflake_objects.yaml"
PREFIX = "event_log"
# The files this test renders and runs; a new SQL file must be added here (and work locally).
COVERED = {
    "objects/create_schema.sql",
    "objects/create_file_format.sql",
    "objects/create_stage.sql",
    "objects/create_external_table.sql",
    "objects/create_table.sql",
    "objects/refresh_external_table.sql",
    # planning and applying changes to the objects: test_object_management_sql_runs_unchanged
    "objects/show_schemas.sql",
    "objects/show_file_formats.sql",
    "objects/show_stages.sql",
    "objects/show_external_tables.sql",
    "objects/show_tables.sql",
    "objects/show_grants.sql",
    "objects/describe_stage.sql",
    "objects/describe_external_table.sql",
    "objects/describe_table.sql",
    "objects/count_table_rows.sql",
    "objects/alter_file_format.sql",
    "objects/alter_stage.sql",
    "objects/disable_stage_directory.sql",
    "objects/alter_table_comment.sql",
    "objects/add_table_column.sql",
    "objects/comment_table_column.sql",
    "objects/drop_table_column.sql",
    "objects/grant_privileges.sql",
    "objects/revoke_privileges.sql",
    "ingest/delete_hour.sql",
    "ingest/copy_hour_files.sql",
    "rejects/delete_hour_rejects.sql",
    "rejects/delete_expired_rejects.sql",
    "rejects/insert_rejects.sql",
    "checks/insert_check_result.sql",
    "checks/delete_check_results.sql",
    "checks/merge_check_result_once.sql",
    "checks/hour_counts.sql",
    "checks/duplicate_ids_across_hours.sql",
    "checks/event_types_in_hour.sql",
    "checks/fields_in_hour.sql",
    "ingest/insert_hour_change.sql",
    "modeling/select_pending_changes.sql",
    "modeling/select_run_changes.sql",
    "modeling/insert_build.sql",
    "modeling/finish_build.sql",
    "modeling/mark_changes_modeled.sql",
    "modeling/select_builds.sql",
    "modeling/select_builds_since.sql",
}


# The audit DAG's queries run in its own integration test (tests/integration/test_event_log_audit.py), the
# Event log page's in tests/integration/test_hour_states_warehouse.py.
AUDIT_SQL = {str(p.relative_to(SQL_DIR)) for folder in ("audit", "glass") for p in (SQL_DIR / folder).glob("*.sql")}


def declaration(bucket: str, monkeypatch) -> dict:
    """The project's own declaration, read with this test's bucket."""
    from include.event_log.objects.declarations import load_objects

    monkeypatch.setenv("EVENT_LOG_BUCKET", bucket)
    monkeypatch.setenv("EVENT_LOG_PREFIX", PREFIX)
    monkeypatch.setenv("EVENT_LOG_STORAGE_INTEGRATION", "")
    catalog = load_objects(OBJECTS_FILE)
    return {**catalog.template_context(), "tables": catalog.tables}


def render(name: str, **context) -> str:
    environment = jinja2.Environment(loader=jinja2.FileSystemLoader(SQL_DIR), undefined=jinja2.StrictUndefined)
    return environment.get_template(name).render(**context)


def column_comments(table) -> dict[str, str]:
    """create_table.sql's bound column comments: column_<1-based position>."""
    return {f"column_{i}": c.description for i, c in enumerate(table.columns, start=1) if c.description}


def test_every_project_sql_file_is_covered_here():
    on_disk = {str(p.relative_to(SQL_DIR)) for p in SQL_DIR.glob("*/*.sql")} - AUDIT_SQL
    assert on_disk == COVERED, "a SQL file was added or removed: run it in test_project_sql_runs_unchanged"


def test_project_sql_runs_unchanged(localsnow, bucket, put_lines, s3_client, monkeypatch):
    objects = declaration(bucket, monkeypatch)
    tables = objects.pop("tables")
    ff, stage, ext, raw = (objects[k] for k in ("file_format", "stage", "external_table", "raw_table"))
    conn = localsnow.connect()
    cur = conn.cursor()

    # Created twice: every statement is idempotent.
    for _ in range(2):
        cur.execute("CREATE DATABASE IF NOT EXISTS EVENT_LOG")
        cur.execute("CREATE SCHEMA IF NOT EXISTS EVENT_LOG.RAW")
        cur.execute(render("objects/create_schema.sql", database=ff.database, schema=ff.schema))
        cur.execute(render("objects/create_file_format.sql", replace=False, **objects), {"description": ff.description})
        cur.execute(render("objects/create_stage.sql", **objects), {"url": stage.url, "description": stage.description})
        cur.execute(
            render("objects/create_external_table.sql", replace=False, **objects),
            {"pattern": ext.pattern, "description": ext.description},
        )
        for table in tables.values():
            params = {"description": table.description, **column_comments(table)}
            cur.execute(render("objects/create_table.sql", table=table, replace=False), params)

    # The lander's layout (the package default): Hive-style folders, part files without an extension.
    hour = "dt=2025-08-01/hr=03/"
    put_lines(
        hour + "part-1111aaaa-0000-0000-0000-000000000000-0-1",
        [json.dumps({"event_log_id": 1, "dagster_event_type": "STEP_START"})],
    )
    put_lines(
        hour + "part-2222bbbb-0000-0000-0000-000000000000-1-1.gz",
        [json.dumps({"event_log_id": i, "dagster_event_type": "STEP_SUCCESS"}) for i in (2, 3)],
    )
    put_lines(
        hour + ".part-3333cccc-0000-0000-0000-000000000000-0-2.inprogress.abcd", [json.dumps({"event_log_id": 4})]
    )
    s3_client.put_object(Bucket=bucket, Key=f"{PREFIX}/{hour}_SUCCESS", Body=b"")

    refresh = render("objects/refresh_external_table.sql", **objects, sub_path=hour)
    refreshed = cur.execute(refresh, {"sub_path": hour}).fetchall()
    assert sorted((r[0], r[1]) for r in refreshed) == [
        (hour + "part-1111aaaa-0000-0000-0000-000000000000-0-1", "REGISTERED_NEW"),
        (hour + "part-2222bbbb-0000-0000-0000-000000000000-1-1.gz", "REGISTERED_NEW"),
    ]
    assert cur.execute(
        f"SELECT EVENT_LOG_ID, DAGSTER_EVENT_TYPE, FILENAME FROM {ext.fqn} "
        "WHERE REPLICATION_HOUR = '2025-08-01 03:00:00' ORDER BY 1"
    ).fetchall() == [
        (1, "STEP_START", hour + "part-1111aaaa-0000-0000-0000-000000000000-0-1"),
        (2, "STEP_SUCCESS", hour + "part-2222bbbb-0000-0000-0000-000000000000-1-1.gz"),
        (3, "STEP_SUCCESS", hour + "part-2222bbbb-0000-0000-0000-000000000000-1-1.gz"),
    ]

    # Without a sub-path: the whole location, where nothing changed since.
    assert cur.execute(render("objects/refresh_external_table.sql", **objects, sub_path="")).fetchall() == []

    params = {
        "replication_hour": "2025-08-01 03:00:00",
        "run_id": "scheduled__2025-08-01T04:00:00+00:00",
        "files": ("part-1111aaaa-0000-0000-0000-000000000000-0-1", "part-2222bbbb-0000-0000-0000-000000000000-1-1.gz"),
        "loaded_at": "2025-08-01 04:01:00",
    }
    for _ in range(2):  # a re-run of the hour ends with each event once
        conn.autocommit(False)
        cur.execute(render("ingest/delete_hour.sql", **objects), params)
        copied = cur.execute(render("ingest/copy_hour_files.sql", **objects, hour_path=hour), params).fetchall()
        conn.commit()
        conn.autocommit(True)
        assert sorted((r[1], r[3]) for r in copied) == [("LOADED", 1), ("LOADED", 2)]

    assert cur.execute(
        f"SELECT RECORD:event_log_id::NUMBER, FILE_NAME, FILE_ROW_NUMBER, REPLICATION_HOUR, AIRFLOW_RUN_ID "
        f"FROM {raw.fqn} ORDER BY 1"
    ).fetchall() == [
        (
            1,
            hour + "part-1111aaaa-0000-0000-0000-000000000000-0-1",
            1,
            datetime.datetime(2025, 8, 1, 3),
            params["run_id"],
        ),
        (
            2,
            hour + "part-2222bbbb-0000-0000-0000-000000000000-1-1.gz",
            1,
            datetime.datetime(2025, 8, 1, 3),
            params["run_id"],
        ),
        (
            3,
            hour + "part-2222bbbb-0000-0000-0000-000000000000-1-1.gz",
            2,
            datetime.datetime(2025, 8, 1, 3),
            params["run_id"],
        ),
    ]


def test_reject_and_check_sql_runs_unchanged(localsnow, bucket, monkeypatch):
    objects = declaration(bucket, monkeypatch)
    tables = objects.pop("tables")
    conn = localsnow.connect()
    cur = conn.cursor()
    ff, stage, ext = objects["file_format"], objects["stage"], objects["external_table"]
    cur.execute(render("objects/create_file_format.sql", replace=False, **objects), {"description": ff.description})
    cur.execute(render("objects/create_stage.sql", **objects), {"url": stage.url, "description": stage.description})
    cur.execute(
        render("objects/create_external_table.sql", replace=False, **objects),
        {"pattern": ext.pattern, "description": ""},
    )
    for table in tables.values():
        params = {"description": table.description, **column_comments(table)}
        cur.execute(render("objects/create_table.sql", table=table, replace=False), params)
    hour = {"replication_hour": "2025-08-01 03:00:00"}
    # The rejects' statements take `?` values bound in the warehouse (a qmark connection), in batches.
    bound = localsnow.connect(paramstyle="qmark").cursor()
    old = ("2025-07-01 03:00:00", "2025/07/01/03/part-o-0-1.jsonl", 1, "Error parsing JSON: y", "{", "r0",
           "2025-07-01 04:00:00")  # fmt: skip
    batch = [("2025-08-01 03:00:00", "2025/08/01/03/part-a-0-1.jsonl", line, "Error parsing JSON: x", "{cut'); --",
              "r1", "2025-08-01 04:01:00") for line in (7, 9)]  # fmt: skip
    bound.executemany(render("rejects/insert_rejects.sql", **objects), [old])
    for _ in range(2):  # replaced, not added, on a re-run
        bound.execute(render("rejects/delete_hour_rejects.sql", **objects), (hour["replication_hour"],))
        bound.executemany(render("rejects/insert_rejects.sql", **objects), batch)
    rejects_fqn = objects["rejects_table"].fqn
    select = "SELECT FILE_NAME, LINE_NUMBER, ERROR, REJECTED_RECORD, AIRFLOW_RUN_ID, REJECTED_AT FROM " + rejects_fqn
    assert cur.execute(select + " ORDER BY 2, 1").fetchall() == [
        ("2025/07/01/03/part-o-0-1.jsonl", 1, "Error parsing JSON: y", "{", "r0", datetime.datetime(2025, 7, 1, 4)),
        ("2025/08/01/03/part-a-0-1.jsonl", 7, "Error parsing JSON: x", "{cut'); --", "r1",
         datetime.datetime(2025, 8, 1, 4, 1)),
        ("2025/08/01/03/part-a-0-1.jsonl", 9, "Error parsing JSON: x", "{cut'); --", "r1",
         datetime.datetime(2025, 8, 1, 4, 1)),
    ]  # fmt: skip
    bound.execute(render("rejects/delete_expired_rejects.sql", **objects), ("2025-07-31 00:00:00",))
    assert bound.rowcount == 1
    assert [r[1] for r in cur.execute(select).fetchall()] == [7, 9], "the retention deleted the July reject only"
    cur.execute("DELETE FROM " + rejects_fqn + " WHERE LINE_NUMBER = 9")

    raw_fqn = objects["raw_table"].fqn
    rows = ((1, "STEP_START", "03"), (1, "STEP_START", "03"), (2, "NEW_TYPE", "03"), (2, "X", "04"))
    for event_id, event_type, at in rows:
        cur.execute(
            "INSERT INTO " + raw_fqn + " (RECORD, REPLICATION_HOUR) SELECT PARSE_JSON(%(r)s), %(h)s::TIMESTAMP_NTZ",
            {"r": json.dumps({"event_log_id": event_id, "dagster_event_type": event_type, "extra_field": 1}),
             "h": f"2025-08-01 {at}:00:00"},
        )  # fmt: skip
    counts = cur.execute(render("checks/hour_counts.sql", **objects), hour).fetchall()
    assert counts == [(3, 0, 1, 1)]  # raw rows, external rows (none registered), rejects, duplicate rows
    assert cur.execute(render("checks/duplicate_ids_across_hours.sql", **objects), hour).fetchall() == [(1,)]
    types = dict(cur.execute(render("checks/event_types_in_hour.sql", **objects), hour).fetchall())
    assert types == {"STEP_START": 2, "NEW_TYPE": 1}
    fields = dict(cur.execute(render("checks/fields_in_hour.sql", **objects), hour).fetchall())
    assert fields == {"event_log_id": 3, "dagster_event_type": 3, "extra_field": 3}

    result = {**hour, "dag_id": "event_log_ingest", "run_id": "r1", "check_name": "new_fields", "status": "warn",
              "observed": 1, "expected": 0, "details": '{"fields": {"extra_field": 3}}',
              "checked_at": "2025-08-01 04:02:00", "result_key": None}  # fmt: skip
    for _ in range(2):  # a retried task replaces its results, in one transaction
        names = {"dag_id": "event_log_ingest", "run_id": "r1", "replication_hour": hour["replication_hour"],
                 "check_names": ("new_fields",)}  # fmt: skip
        cur.execute(render("checks/delete_check_results.sql", **objects), names)
        cur.execute(render("checks/insert_check_result.sql", **objects), result)
    miss = {**result, "check_name": "deadline_missed", "status": "fail", "details": "{}", "result_key": "d-1"}
    merged = [cur.execute(render("checks/merge_check_result_once.sql", **objects), miss).rowcount for _ in range(2)]
    assert merged == [1, 0], "a missed deadline is recorded once"
    cur.execute("DELETE FROM " + objects["check_results_table"].fqn + " WHERE CHECK_NAME = 'deadline_missed'")
    assert cur.execute(
        "SELECT CHECK_NAME, STATUS, OBSERVED, EXPECTED, DETAILS, REPLICATION_HOUR FROM "
        + objects["check_results_table"].fqn
    ).fetchall() == [("new_fields", "warn", 1, 0, '{"fields": {"extra_field": 3}}', datetime.datetime(2025, 8, 1, 3))]


def test_modeling_state_sql_runs_unchanged(localsnow, bucket, monkeypatch):
    """Loads record their hour; a build reads what is pending, marks exactly what it read, and a change that
    committed during the build stays pending for the next one."""
    objects = declaration(bucket, monkeypatch)
    tables = objects.pop("tables")
    conn = localsnow.connect()
    cur = conn.cursor()
    for table in (tables["hour_changes"], tables["model_builds"]):
        params = {"description": table.description, **column_comments(table)}
        cur.execute(render("objects/create_table.sql", table=table, replace=False), params)

    def change(load_id: str, hour: str, run_id: str) -> dict:
        return {"load_id": load_id, "replication_hour": f"2025-08-01 {hour}:00:00",
                "changed_at": f"2025-08-01 {hour}:05:00", "dag_id": "event_log_ingest", "run_id": run_id,
                "rows_loaded": 10, "rows_replaced": 0, "files_loaded": 2}  # fmt: skip

    def pending() -> list[tuple]:
        return [(r[0], r[4]) for r in cur.execute(render("modeling/select_pending_changes.sql", **objects)).fetchall()]

    insert = render("ingest/insert_hour_change.sql", **objects)
    cur.execute(insert, change("a", "03", "run-3"))
    cur.execute(insert, change("b", "05", "run-5"))
    assert pending() == [("a", "run-3"), ("b", "run-5")]

    build = {"build_id": "B1", "dag_id": "event_log_ingest", "run_id": "run-5", "try_number": 1,
             "started_at": "2025-08-01 06:00:00", "hours": 2, "first_hour": "2025-08-01 03:00:00",
             "last_hour": "2025-08-01 05:00:00", "changes": 2, "details": '{"hours": []}'}  # fmt: skip
    cur.execute(render("modeling/insert_build.sql", **objects), build)
    cur.execute(insert, change("c", "05", "run-5b"))  # committed while B1 builds
    cur.execute(
        render("modeling/finish_build.sql", **objects),
        {"build_id": "B1", "finished_at": "2025-08-01 06:01:00", "status": "success", "details": "{}"},
    )
    cur.execute(
        render("modeling/mark_changes_modeled.sql", **objects),
        {"build_id": "B1", "modeled_at": "2025-08-01 06:01:00", "load_ids": ("a", "b")},
    )
    assert cur.rowcount == 2
    assert pending() == [("c", "run-5b")], "the change that committed during the build waits for the next one"
    run_changes = cur.execute(
        render("modeling/select_run_changes.sql", **objects), {"dag_id": "event_log_ingest", "run_id": "run-5"}
    ).fetchall()
    assert [(r[0], r[5]) for r in run_changes] == [("b", "B1")]
    builds = cur.execute(render("modeling/select_builds.sql", **objects), {"build_ids": ("B1",)}).fetchall()
    assert [(b[0], b[2], b[6], b[7]) for b in builds] == [("B1", "run-5", "success", 2)]
    since = render("modeling/select_builds_since.sql", **objects)
    assert [(b[0], b[3], b[4]) for b in cur.execute(since, {"since": "2025-08-01 06:00:00"}).fetchall()] == [
        ("B1", "success", 2)
    ]
    assert cur.execute(since, {"since": "2025-08-01 06:00:01"}).fetchall() == []


def rows_by_name(cursor, sql: str, params=None) -> list[dict]:
    rows = cursor.execute(sql, params).fetchall()
    names = [d.name.lower() for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in rows]


def test_object_management_sql_runs_unchanged(localsnow, bucket, put_lines, monkeypatch):
    """What planning reads (SHOW / DESCRIBE / COUNT) and applying runs (ALTER, GRANT, REVOKE, OR REPLACE)."""
    objects = declaration(bucket, monkeypatch)
    tables = objects.pop("tables")
    ff, stage, ext, raw = (objects[k] for k in ("file_format", "stage", "external_table", "raw_table"))
    in_schema = {"database": ff.database, "schema": ff.schema}
    put_lines("2025/08/01/03/part-1111-0-1.jsonl", [json.dumps({"event_log_id": 1})])
    cur = localsnow.connect().cursor()
    cur.execute("CREATE DATABASE IF NOT EXISTS EVENT_LOG")
    cur.execute(render("objects/create_schema.sql", **in_schema))
    cur.execute(render("objects/create_file_format.sql", replace=False, **objects), {"description": "JSON"})
    cur.execute(render("objects/create_stage.sql", **objects), {"url": stage.url, "description": "stage"})
    cur.execute(
        render("objects/create_external_table.sql", replace=False, **objects),
        {"pattern": ext.pattern, "description": "ext [ddl sha256:0123456789abcdef]"},
    )
    cur.execute(
        render("objects/create_table.sql", table=raw, replace=False), {"description": "raw", **column_comments(raw)}
    )
    cur.execute(f"INSERT INTO {raw.fqn} (FILE_NAME) VALUES ('a'), ('b')")

    assert "RAW" in [r["name"] for r in rows_by_name(cur, render("objects/show_schemas.sql", database="EVENT_LOG"))]
    (shown_ff,) = rows_by_name(cur, render("objects/show_file_formats.sql", **in_schema))
    assert (shown_ff["name"], shown_ff["type"], json.loads(shown_ff["format_options"])["COMPRESSION"]) == (
        ff.name, "JSON", "AUTO"
    )  # fmt: skip
    (shown_stage,) = rows_by_name(cur, render("objects/show_stages.sql", **in_schema))
    assert (shown_stage["url"], shown_stage["directory_enabled"]) == (stage.url, "N")
    (shown_ext,) = rows_by_name(cur, render("objects/show_external_tables.sql", **in_schema))
    assert shown_ext["comment"] == "ext [ddl sha256:0123456789abcdef]"
    shown_tables = rows_by_name(cur, render("objects/show_tables.sql", **in_schema))
    assert {(r["name"], r["is_external"]) for r in shown_tables} == {(raw.name, "N"), (ext.name, "Y")}
    described = {
        r["property"]: r["property_value"] for r in rows_by_name(cur, render("objects/describe_stage.sql", **objects))
    }
    assert described["FORMAT_NAME"] == ff.fqn
    ext_columns = rows_by_name(cur, render("objects/describe_external_table.sql", **objects))
    assert [r["name"] for r in ext_columns if r["kind"] == "VIRTUAL"] == [c.name for c in ext.columns]
    assert [r["name"] for r in rows_by_name(cur, render("objects/describe_table.sql", table=raw))] == [
        c.name for c in raw.columns
    ]
    assert rows_by_name(cur, render("objects/count_table_rows.sql", table=raw)) == [{"row_count": 2}]

    # applying changes
    cur.execute(render("objects/alter_file_format.sql", options={"COMPRESSION": "GZIP"}, comment=True, **objects),
                {"description": "gzipped"})  # fmt: skip
    changed = {"url", "comment"}
    cur.execute(
        render("objects/alter_stage.sql", changed=changed, **objects), {"url": stage.url + "x/", "description": "s"}
    )
    cur.execute(render("objects/disable_stage_directory.sql", **objects))
    cur.execute(render("objects/alter_table_comment.sql", table=raw), {"description": "raw's rows"})
    new_column = replace(raw.columns[1], name="INGEST_VERSION", description="the version")
    cur.execute(render("objects/add_table_column.sql", table=raw, column=new_column), {"comment": "the version"})
    cur.execute(render("objects/comment_table_column.sql", table=raw, column=raw.columns[1]), {"comment": "file"})
    cur.execute(render("objects/drop_table_column.sql", table=raw, column_name="AIRFLOW_RUN_ID"))
    grant = {"object_kind": "TABLE", "object_name": raw.fqn, "role": "EVENT_LOG_LOADER"}
    cur.execute(render("objects/grant_privileges.sql", privileges=["DELETE", "INSERT", "SELECT"], **grant))
    cur.execute(render("objects/revoke_privileges.sql", privileges=["DELETE"], **grant))
    (shown_ff,) = rows_by_name(cur, render("objects/show_file_formats.sql", **in_schema))
    assert (shown_ff["comment"], json.loads(shown_ff["format_options"])["COMPRESSION"]) == ("gzipped", "GZIP")
    (shown_stage,) = rows_by_name(cur, render("objects/show_stages.sql", **in_schema))
    assert (shown_stage["url"], shown_stage["comment"]) == (stage.url + "x/", "s")
    described = rows_by_name(cur, render("objects/describe_table.sql", table=raw))
    assert [(r["name"], r["comment"]) for r in described][-2:] == [
        ("LOADED_AT", "When the COPY ran (UTC)."),
        ("INGEST_VERSION", "the version"),
    ]
    assert described[1]["comment"] == "file" and "AIRFLOW_RUN_ID" not in [r["name"] for r in described]
    granted = rows_by_name(cur, render("objects/show_grants.sql", object_kind="TABLE", object_name=raw.fqn))
    assert sorted((r["privilege"], r["grantee_name"]) for r in granted) == [
        ("INSERT", "EVENT_LOG_LOADER"), ("OWNERSHIP", "SYSADMIN"), ("SELECT", "EVENT_LOG_LOADER")
    ]  # fmt: skip
    assert rows_by_name(cur, render("objects/count_table_rows.sql", table=raw)) == [{"row_count": 2}]

    # OR REPLACE, as a plan replaces: the external table is refreshed on creation, the table starts empty
    cur.execute(render("objects/create_file_format.sql", replace=True, **objects), {"description": "JSON"})
    cur.execute(render("objects/create_external_table.sql", replace=True, **objects),
                {"pattern": ext.pattern, "description": "replaced"})  # fmt: skip
    cur.execute(
        render("objects/create_table.sql", table=raw, replace=True), {"description": "raw", **column_comments(raw)}
    )
    assert rows_by_name(cur, render("objects/count_table_rows.sql", table=raw)) == [{"row_count": 0}]
    assert cur.execute(f"SELECT COUNT(*) FROM {ext.fqn}").fetchall() == [(0,)]  # the stage now reads .../x/
    assert len(tables) == 5
