"""CREATE / ALTER ... REFRESH / DROP EXTERNAL TABLE on the S3 stage, and queries on the external table."""

from __future__ import annotations

import datetime
import json

import pytest
import snowflake.connector.errors

pytestmark = pytest.mark.timeout(120)

CREATE_EXT = """
CREATE EXTERNAL TABLE {if_not_exists} EVENT_LOG.RAW.EXT_EVENTS (
    FILENAME VARCHAR AS (METADATA$FILENAME),
    REPLICATION_HOUR TIMESTAMP_NTZ AS (TO_TIMESTAMP_NTZ(REGEXP_SUBSTR(METADATA$FILENAME,
        '([0-9]{{4}}/[0-9]{{2}}/[0-9]{{2}}/[0-9]{{2}})/[^/]+$', 1, 1, 'e', 1), 'YYYY/MM/DD/HH24')),
    EVENT_LOG_ID NUMBER AS (VALUE:event_log_id::NUMBER),
    DAGSTER_EVENT_TYPE VARCHAR AS (VALUE:dagster_event_type::VARCHAR)
)
PARTITION BY (REPLICATION_HOUR)
LOCATION = @EVENT_LOG.RAW.STAGE_EVENTS/
PATTERN = '.*part-[^/]*[.]jsonl([.]gz)?'
FILE_FORMAT = (FORMAT_NAME = EVENT_LOG.RAW.FF_JSON)
AUTO_REFRESH = FALSE
REFRESH_ON_CREATE = {refresh_on_create}
COMMENT = 'events on the stage'
"""
HOUR_03 = datetime.datetime(2025, 8, 1, 3)


def create_ext(cursor, if_not_exists: bool = True, refresh_on_create: bool = True) -> list[tuple]:
    sql = CREATE_EXT.format(
        if_not_exists="IF NOT EXISTS" if if_not_exists else "",
        refresh_on_create="TRUE" if refresh_on_create else "FALSE",
    )
    return cursor.execute(sql).fetchall()


def event(event_log_id: int, event_type: str = "STEP_START") -> str:
    return json.dumps({"event_log_id": event_log_id, "dagster_event_type": event_type})


def test_create_registers_only_committed_part_files_and_computes_columns(event_log, put_lines, s3_client, bucket):
    put_lines("2025/08/01/03/part-a-0-1.jsonl", [event(1), event(2, "STEP_SUCCESS")])
    put_lines("2025/08/01/03/part-b-0-1.jsonl.gz", [event(3)])
    put_lines("2025/08/01/03/part-c-0-2.inprogress.0f0e", [event(4)])
    put_lines("2025/08/01/03/_part-d-0-3_tmp_1a2b", [event(5)])
    put_lines("2025/08/01/04/part-e-0-1.jsonl", [event(6)])
    s3_client.put_object(Bucket=bucket, Key="event_log/2025/08/01/03/_SUCCESS", Body=b"")
    cur = event_log.cursor()

    assert create_ext(cur) == [("Table EXT_EVENTS successfully created.",)]

    assert cur.execute(
        "SELECT EVENT_LOG_ID, DAGSTER_EVENT_TYPE, FILENAME, REPLICATION_HOUR FROM EVENT_LOG.RAW.EXT_EVENTS "
        "WHERE REPLICATION_HOUR = '2025-08-01 03:00:00' ORDER BY 1"
    ).fetchall() == [
        (1, "STEP_START", "2025/08/01/03/part-a-0-1.jsonl", HOUR_03),
        (2, "STEP_SUCCESS", "2025/08/01/03/part-a-0-1.jsonl", HOUR_03),
        (3, "STEP_START", "2025/08/01/03/part-b-0-1.jsonl.gz", HOUR_03),
    ]
    assert cur.execute("SELECT COUNT(*) FROM EXT_EVENTS WHERE REPLICATION_HOUR = '2025-08-01 04:00:00'").fetchall() == [
        (1,)
    ]
    # VALUE is the whole record, METADATA$ columns are queryable
    value, filename, row_number = cur.execute(
        "SELECT VALUE, METADATA$FILENAME, METADATA$FILE_ROW_NUMBER FROM EXT_EVENTS WHERE EVENT_LOG_ID = 2"
    ).fetchone()
    assert json.loads(value) == {"event_log_id": 2, "dagster_event_type": "STEP_SUCCESS"}
    assert (filename, row_number) == ("2025/08/01/03/part-a-0-1.jsonl", 2)


def test_refresh_of_a_sub_path_registers_new_and_changed_files_and_unregisters_gone_ones(
    event_log, put_lines, s3_client, bucket
):
    put_lines("2025/08/01/03/part-a-0-1.jsonl", [event(1)])
    put_lines("2025/08/01/03/part-b-0-1.jsonl", [event(2)])
    put_lines("2025/08/01/03/part-c-0-1.jsonl", [event(3)])
    cur = event_log.cursor()
    create_ext(cur)

    put_lines("2025/08/01/03/part-b-0-1.jsonl", [event(20), event(21)])  # rewritten
    s3_client.delete_object(Bucket=bucket, Key="event_log/2025/08/01/03/part-c-0-1.jsonl")  # gone
    put_lines("2025/08/01/03/part-d-0-1.jsonl.gz", [event(4)])  # new
    put_lines("2025/08/01/03/part-e-0-1.inprogress.9", [event(5)])  # never registered
    put_lines("2025/08/01/04/part-f-0-1.jsonl", [event(6)])  # outside the sub-path

    refreshed = cur.execute("ALTER EXTERNAL TABLE EVENT_LOG.RAW.EXT_EVENTS REFRESH '2025/08/01/03/'").fetchall()

    assert [d.name.lower() for d in cur.description] == ["file", "status", "description"]
    assert sorted(r[:2] for r in refreshed) == [
        ("2025/08/01/03/part-b-0-1.jsonl", "REGISTERED_UPDATE"),
        ("2025/08/01/03/part-c-0-1.jsonl", "UNREGISTERED"),
        ("2025/08/01/03/part-d-0-1.jsonl.gz", "REGISTERED_NEW"),
    ]
    assert cur.execute("SELECT EVENT_LOG_ID FROM EXT_EVENTS ORDER BY 1").fetchall() == [(1,), (4,), (20,), (21,)]

    # unchanged files: nothing to report
    assert cur.execute("ALTER EXTERNAL TABLE EXT_EVENTS REFRESH '2025/08/01/03/'").fetchall() == []

    # without a path: the whole location, so hour 04 now
    refreshed = cur.execute("ALTER EXTERNAL TABLE EXT_EVENTS REFRESH").fetchall()
    assert [r[:2] for r in refreshed] == [("2025/08/01/04/part-f-0-1.jsonl", "REGISTERED_NEW")]
    assert cur.execute("SELECT REPLICATION_HOUR, COUNT(*) FROM EXT_EVENTS GROUP BY 1 ORDER BY 1").fetchall() == [
        (HOUR_03, 4),
        (datetime.datetime(2025, 8, 1, 4), 1),
    ]


def test_refresh_on_create_false_and_lines_that_are_not_json(event_log, put_lines):
    put_lines("2025/08/01/03/part-a-0-1.jsonl", [event(1), "{not json", "", event(2)])
    cur = event_log.cursor()

    create_ext(cur, refresh_on_create=False)
    assert cur.execute("SELECT COUNT(*) FROM EXT_EVENTS").fetchall() == [(0,)]

    (row,) = cur.execute("ALTER EXTERNAL TABLE EXT_EVENTS REFRESH").fetchall()
    assert row[1] == "REGISTERED_NEW"
    assert "1 line(s) are not valid JSON" in row[2]
    assert cur.execute("SELECT EVENT_LOG_ID, METADATA$FILE_ROW_NUMBER FROM EXT_EVENTS ORDER BY 1").fetchall() == [
        (1, 1),
        (2, 4),
    ]


def test_if_not_exists_or_replace_and_drop(event_log, put_lines):
    put_lines("2025/08/01/03/part-a-0-1.jsonl", [event(1)])
    cur = event_log.cursor()
    create_ext(cur)
    put_lines("2025/08/01/03/part-b-0-1.jsonl", [event(2)])

    # IF NOT EXISTS on an existing table: succeeds, changes nothing (no refresh)
    assert create_ext(cur) == [("EXT_EVENTS already exists, statement succeeded.",)]
    assert cur.execute("SELECT COUNT(*) FROM EXT_EVENTS").fetchall() == [(1,)]

    with pytest.raises(snowflake.connector.errors.ProgrammingError, match="already exists"):
        create_ext(cur, if_not_exists=False)

    cur.execute(CREATE_EXT.format(if_not_exists="", refresh_on_create="TRUE").replace("CREATE", "CREATE OR REPLACE", 1))
    assert cur.execute("SELECT EVENT_LOG_ID FROM EXT_EVENTS ORDER BY 1").fetchall() == [(1,), (2,)]

    assert cur.execute("DROP EXTERNAL TABLE EVENT_LOG.RAW.EXT_EVENTS").fetchall() == [
        ("EXT_EVENTS successfully dropped.",)
    ]
    with pytest.raises(snowflake.connector.errors.ProgrammingError, match="does not exist"):
        cur.execute("ALTER EXTERNAL TABLE EXT_EVENTS REFRESH")
    cur.execute("DROP EXTERNAL TABLE IF EXISTS EXT_EVENTS")

    # created again from scratch: registers the files anew
    create_ext(cur)
    assert cur.execute("SELECT COUNT(*) FROM EXT_EVENTS").fetchall() == [(2,)]


def test_show_external_tables_and_describe(event_log, put_lines):
    put_lines("2025/08/01/03/part-a-0-1.jsonl", [event(1)])
    cur = event_log.cursor()
    create_ext(cur)
    cur.execute(
        "CREATE OR REPLACE EXTERNAL TABLE EVENT_LOG.RAW.OTHER (N NUMBER AS (VALUE:n::NUMBER)) "
        "LOCATION = @EVENT_LOG.RAW.STAGE_EVENTS/2025/ FILE_FORMAT = (FORMAT_NAME = EVENT_LOG.RAW.FF_JSON) "
        "AUTO_REFRESH = FALSE REFRESH_ON_CREATE = FALSE COMMENT = %(c)s",
        {"c": "another's"},
    )

    rows = cur.execute("SHOW EXTERNAL TABLES IN SCHEMA EVENT_LOG.RAW").fetchall()
    names = [d.name for d in cur.description]
    shown = [dict(zip(names, row, strict=True)) for row in rows]
    assert [(r["name"], r["comment"], r["stage"], r["file_format_name"]) for r in shown] == [
        ("EXT_EVENTS", "events on the stage", "EVENT_LOG.RAW.STAGE_EVENTS", "EVENT_LOG.RAW.FF_JSON"),
        ("OTHER", "another's", "EVENT_LOG.RAW.STAGE_EVENTS", "EVENT_LOG.RAW.FF_JSON"),
    ]
    assert shown[0]["location"].endswith("/event_log/") and shown[1]["location"].endswith("/event_log/2025/")
    assert shown[0]["last_refreshed_on"] is not None and shown[1]["last_refreshed_on"] is None
    assert [r[1] for r in cur.execute("SHOW EXTERNAL TABLES LIKE 'ext%' IN SCHEMA EVENT_LOG.RAW")] == ["EXT_EVENTS"]
    assert [r[1] for r in cur.execute("SHOW EXTERNAL TABLES LIKE 'OTHER'")] == ["OTHER"]  # the current schema
    assert cur.execute("SHOW EXTERNAL TABLES IN SCHEMA EVENT_LOG.NOT_THERE").fetchall() == []

    described = cur.execute("DESCRIBE EXTERNAL TABLE EVENT_LOG.RAW.EXT_EVENTS").fetchall()
    assert [(name, type_, kind) for name, type_, kind, *_ in described] == [
        ("VALUE", "VARIANT", "COLUMN"),
        ("FILENAME", "VARCHAR(16777216)", "VIRTUAL"),
        ("REPLICATION_HOUR", "TIMESTAMP_NTZ(9)", "VIRTUAL"),
        ("EVENT_LOG_ID", "NUMBER(38,0)", "VIRTUAL"),
        ("DAGSTER_EVENT_TYPE", "VARCHAR(16777216)", "VIRTUAL"),
    ]
    assert described[1][8] == "METADATA$FILENAME"

    cur.execute("DROP EXTERNAL TABLE EVENT_LOG.RAW.OTHER")
    assert [r[1] for r in cur.execute("SHOW EXTERNAL TABLES IN SCHEMA EVENT_LOG.RAW")] == ["EXT_EVENTS"]
    with pytest.raises(snowflake.connector.errors.ProgrammingError, match="does not exist"):
        cur.execute("DESCRIBE EXTERNAL TABLE EVENT_LOG.RAW.OTHER")
