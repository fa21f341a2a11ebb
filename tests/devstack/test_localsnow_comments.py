"""Table and column comments: apostrophes, column comments, DESCRIBE TABLE and SHOW TABLES reporting them."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.timeout(120)


def describe(cursor, table: str) -> list[tuple]:
    rows = cursor.execute(f"DESC TABLE {table}").fetchall()
    return [(name, type_, comment) for name, type_, _, _, _, _, _, _, _, comment, *_ in rows]


def show_tables(cursor) -> dict[str, tuple]:
    rows = cursor.execute("SHOW TABLES IN SCHEMA EVENT_LOG.RAW").fetchall()
    names = [d.name for d in cursor.description]
    return {row[names.index("name")]: (row[names.index("comment")], row[names.index("is_external")]) for row in rows}


def test_a_comment_with_an_apostrophe_is_kept_whole(localsnow):
    """The emulator bug: fakesnow inlined the value unescaped and the statement failed (connector-bound value)."""
    cur = localsnow.connect().cursor()
    cur.execute("CREATE DATABASE IF NOT EXISTS EVENT_LOG")
    cur.execute("CREATE SCHEMA IF NOT EXISTS EVENT_LOG.RAW")
    cur.execute(
        "CREATE TABLE IF NOT EXISTS EVENT_LOG.RAW.T (A VARCHAR) COMMENT = %(description)s",
        {"description": "written in the load's own transaction"},
    )
    assert show_tables(cur)["T"] == ("written in the load's own transaction", "N")

    cur.execute("ALTER TABLE EVENT_LOG.RAW.T SET COMMENT = %(c)s", {"c": "it's 'quoted' twice"})
    assert show_tables(cur)["T"] == ("it's 'quoted' twice", "N")


def test_column_comments_from_create_add_and_alter_column(localsnow):
    cur = localsnow.connect().cursor()
    cur.execute("CREATE DATABASE IF NOT EXISTS EVENT_LOG")
    cur.execute("CREATE SCHEMA IF NOT EXISTS EVENT_LOG.RAW")
    create = (
        "CREATE TABLE IF NOT EXISTS EVENT_LOG.RAW.T (RECORD VARIANT COMMENT %(record)s, N NUMBER, "
        "LOADED_AT TIMESTAMP_NTZ COMMENT 'when') COMMENT = 'the table'"
    )
    cur.execute(create, {"record": "the line's JSON"})
    cur.execute("INSERT INTO EVENT_LOG.RAW.T (N) VALUES (1), (2)")
    assert describe(cur, "EVENT_LOG.RAW.T") == [
        ("RECORD", "VARIANT", "the line's JSON"),
        ("N", "NUMBER(38,0)", None),
        ("LOADED_AT", "TIMESTAMP_NTZ(9)", "when"),
    ]

    cur.execute("ALTER TABLE EVENT_LOG.RAW.T ADD COLUMN RUN_ID VARCHAR COMMENT %(c)s", {"c": "the run"})
    cur.execute("ALTER TABLE EVENT_LOG.RAW.T ALTER COLUMN N COMMENT 'a number'")
    cur.execute("ALTER TABLE EVENT_LOG.RAW.T ALTER COLUMN LOADED_AT COMMENT 'changed'")
    assert describe(cur, "T") == [
        ("RECORD", "VARIANT", "the line's JSON"),
        ("N", "NUMBER(38,0)", "a number"),
        ("LOADED_AT", "TIMESTAMP_NTZ(9)", "changed"),
        ("RUN_ID", "VARCHAR(16777216)", "the run"),
    ]
    assert cur.execute("SELECT N, RUN_ID FROM EVENT_LOG.RAW.T ORDER BY N").fetchall() == [(1, None), (2, None)]

    # IF NOT EXISTS on the existing table changes nothing, comments included
    cur.execute(create, {"record": "another comment"})
    assert describe(cur, "T")[0] == ("RECORD", "VARIANT", "the line's JSON")
    assert show_tables(cur)["T"] == ("the table", "N")


def test_column_comments_survive_a_restart(localsnow):
    cur = localsnow.connect().cursor()
    cur.execute("CREATE DATABASE IF NOT EXISTS EVENT_LOG")
    cur.execute("CREATE SCHEMA IF NOT EXISTS EVENT_LOG.RAW")
    cur.execute("CREATE TABLE EVENT_LOG.RAW.T (A VARCHAR COMMENT 'kept') COMMENT = 'also kept'")
    localsnow.restart()
    cur = localsnow.connect().cursor()
    assert describe(cur, "EVENT_LOG.RAW.T") == [("A", "VARCHAR(16777216)", "kept")]
    assert show_tables(cur)["T"] == ("also kept", "N")


def test_show_tables_marks_external_tables(event_log, put_lines):
    put_lines("2025/08/01/03/part-a-0-1.jsonl", ['{"event_log_id": 1}'])
    cur = event_log.cursor()
    cur.execute(
        "CREATE EXTERNAL TABLE EVENT_LOG.RAW.EXT (N NUMBER AS (VALUE:event_log_id::NUMBER)) "
        "LOCATION = @EVENT_LOG.RAW.STAGE_EVENTS/ FILE_FORMAT = (FORMAT_NAME = EVENT_LOG.RAW.FF_JSON) "
        "AUTO_REFRESH = FALSE COMMENT = 'the external one'"
    )
    assert show_tables(cur) == {"RAW_EVENTS": ("", "N"), "EXT": ("the external one", "Y")}


def test_describe_a_table_of_another_database_than_the_sessions(localsnow):
    """fakesnow read the columns from the session's database only: a table elsewhere had none."""
    cur = localsnow.connect().cursor()  # the session's database is EVENT_LOG
    cur.execute("CREATE DATABASE IF NOT EXISTS EVENT_LOG")
    cur.execute("CREATE DATABASE OTHER_DB")
    cur.execute("CREATE SCHEMA OTHER_DB.RAW")
    cur.execute("CREATE TABLE OTHER_DB.RAW.T (A NUMBER COMMENT 'a', B VARCHAR)")
    cur.execute("USE DATABASE EVENT_LOG")
    assert describe(cur, "OTHER_DB.RAW.T") == [("A", "NUMBER(38,0)", "a"), ("B", "VARCHAR(16777216)", None)]
