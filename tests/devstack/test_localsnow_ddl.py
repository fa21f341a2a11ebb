"""The project's own SQL files, rendered from its YAML declaration, run unchanged on the local Snowflake.

The rendering is done here with Jinja from include/event_log/snowflake_objects.yaml (fqn = DATABASE.SCHEMA.NAME,
`%(name)s` left for the connector's client-side pyformat binding), independently of the DAG code, so that this
test pins what localsnow must accept: every file of include/sql/objects and include/sql/ingest.
"""

from __future__ import annotations

import datetime
import json
from pathlib import Path
from types import SimpleNamespace

import jinja2
import pytest
import yaml

pytestmark = pytest.mark.timeout(120)

PROJECT_DIR = Path(__file__).resolve().parents[2]
SQL_DIR = PROJECT_DIR / "include" / "sql"
OBJECTS_FILE = PROJECT_DIR / "include" / "event_log" / "snowflake_objects.yaml"
PREFIX = "event_log"
# The files this test renders and runs; a new SQL file must be added here (and work locally).
COVERED = {
    "objects/create_schema.sql",
    "objects/create_file_format.sql",
    "objects/create_stage.sql",
    "objects/create_external_table.sql",
    "objects/create_raw_table.sql",
    "objects/refresh_external_table.sql",
    "ingest/delete_hour.sql",
    "ingest/copy_hour_files.sql",
}


def declaration(bucket: str) -> dict[str, SimpleNamespace]:
    text = OBJECTS_FILE.read_text()
    text = text.replace("${EVENT_LOG_BUCKET}", bucket).replace("${EVENT_LOG_PREFIX}", PREFIX)
    text = text.replace("${EVENT_LOG_STORAGE_INTEGRATION}", "")
    objects = {}
    for raw in yaml.safe_load(text)["objects"]:
        obj = SimpleNamespace(
            **{
                "columns": [],
                "partition_by": [],
                "storage_integration": "",
                **raw,
            }
        )
        obj.columns = [SimpleNamespace(**c) for c in obj.columns]
        obj.fqn = f"{obj.database}.{obj.schema}.{obj.name}"
        objects[obj.type] = obj
    return {
        "file_format": objects["file_format"],
        "stage": objects["stage"],
        "external_table": objects["external_table"],
        "raw_table": objects["table"],
    }


def render(name: str, **context) -> str:
    environment = jinja2.Environment(loader=jinja2.FileSystemLoader(SQL_DIR), undefined=jinja2.StrictUndefined)
    return environment.get_template(name).render(**context)


def test_every_project_sql_file_is_covered_here():
    on_disk = {str(p.relative_to(SQL_DIR)) for d in ("objects", "ingest") for p in (SQL_DIR / d).glob("*.sql")}
    assert on_disk == COVERED, "a SQL file was added or removed: run it in test_project_sql_runs_unchanged"


def test_project_sql_runs_unchanged(localsnow, bucket, put_lines, s3_client):
    objects = declaration(bucket)
    ff, stage, ext, raw = (objects[k] for k in ("file_format", "stage", "external_table", "raw_table"))
    conn = localsnow.connect()
    cur = conn.cursor()

    # Created twice: every statement is idempotent.
    for _ in range(2):
        cur.execute("CREATE DATABASE IF NOT EXISTS EVENT_LOG")
        cur.execute("CREATE SCHEMA IF NOT EXISTS EVENT_LOG.RAW")
        cur.execute(render("objects/create_schema.sql", database=ff.database, schema=ff.schema))
        cur.execute(render("objects/create_file_format.sql", **objects), {"description": ff.description})
        cur.execute(render("objects/create_stage.sql", **objects), {"url": stage.url, "description": stage.description})
        cur.execute(
            render("objects/create_external_table.sql", **objects),
            {"pattern": ext.pattern, "description": ext.description},
        )
        cur.execute(render("objects/create_raw_table.sql", **objects), {"description": raw.description})

    hour = "2025/08/01/03/"
    put_lines(hour + "part-1111-0-1.jsonl", [json.dumps({"event_log_id": 1, "dagster_event_type": "STEP_START"})])
    put_lines(
        hour + "part-2222-1-1.jsonl.gz",
        [json.dumps({"event_log_id": i, "dagster_event_type": "STEP_SUCCESS"}) for i in (2, 3)],
    )
    put_lines(hour + "part-3333-0-2.inprogress.abcd", [json.dumps({"event_log_id": 4})])
    s3_client.put_object(Bucket=bucket, Key=f"{PREFIX}/{hour}_SUCCESS", Body=b"")

    refresh = render("objects/refresh_external_table.sql", **objects, sub_path=hour)
    refreshed = cur.execute(refresh, {"sub_path": hour}).fetchall()
    assert sorted((r[0], r[1]) for r in refreshed) == [
        (hour + "part-1111-0-1.jsonl", "REGISTERED_NEW"),
        (hour + "part-2222-1-1.jsonl.gz", "REGISTERED_NEW"),
    ]
    assert cur.execute(
        f"SELECT EVENT_LOG_ID, DAGSTER_EVENT_TYPE, FILENAME FROM {ext.fqn} "
        "WHERE REPLICATION_HOUR = '2025-08-01 03:00:00' ORDER BY 1"
    ).fetchall() == [
        (1, "STEP_START", hour + "part-1111-0-1.jsonl"),
        (2, "STEP_SUCCESS", hour + "part-2222-1-1.jsonl.gz"),
        (3, "STEP_SUCCESS", hour + "part-2222-1-1.jsonl.gz"),
    ]

    # Without a sub-path: the whole location, where nothing changed since.
    assert cur.execute(render("objects/refresh_external_table.sql", **objects, sub_path="")).fetchall() == []

    params = {
        "replication_hour": "2025-08-01 03:00:00",
        "run_id": "scheduled__2025-08-01T04:00:00+00:00",
        "files": ("part-1111-0-1.jsonl", "part-2222-1-1.jsonl.gz"),
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
        (1, hour + "part-1111-0-1.jsonl", 1, datetime.datetime(2025, 8, 1, 3), params["run_id"]),
        (2, hour + "part-2222-1-1.jsonl.gz", 1, datetime.datetime(2025, 8, 1, 3), params["run_id"]),
        (3, hour + "part-2222-1-1.jsonl.gz", 2, datetime.datetime(2025, 8, 1, 3), params["run_id"]),
    ]
