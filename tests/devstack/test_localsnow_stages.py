"""Stages keep their comment, storage integration, directory setting and file format; ALTER STAGE, DESCRIBE
STAGE; ALTER FILE FORMAT."""

from __future__ import annotations

import json

import pytest
import snowflake.connector.errors

pytestmark = pytest.mark.timeout(120)


def show(cursor, what: str) -> list[dict]:
    rows = cursor.execute(f"SHOW {what} IN SCHEMA EVENT_LOG.RAW").fetchall()
    names = [d.name for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in rows]


def stage_row(cursor) -> tuple:
    (row,) = [r for r in show(cursor, "STAGES") if r["name"] == "ST"]
    return row["url"], row["storage_integration"], row["directory_enabled"], row["comment"]


def describe_stage(cursor) -> dict[str, str]:
    return {prop: value for _, prop, _, value, _ in cursor.execute("DESCRIBE STAGE EVENT_LOG.RAW.ST")}


@pytest.fixture
def cursor(localsnow):
    cur = localsnow.connect().cursor()
    cur.execute("CREATE DATABASE IF NOT EXISTS EVENT_LOG")
    cur.execute("CREATE SCHEMA IF NOT EXISTS EVENT_LOG.RAW")
    cur.execute("CREATE FILE FORMAT EVENT_LOG.RAW.FF TYPE = JSON COMPRESSION = AUTO COMMENT = 'lines'")
    cur.execute("CREATE FILE FORMAT EVENT_LOG.RAW.FF2 TYPE = JSON")
    return cur


def test_create_stage_keeps_what_show_and_describe_report(cursor, localsnow):
    create = (
        "CREATE STAGE IF NOT EXISTS EVENT_LOG.RAW.ST URL = %(url)s STORAGE_INTEGRATION = S3_INT "
        "FILE_FORMAT = (FORMAT_NAME = EVENT_LOG.RAW.FF) DIRECTORY = (ENABLE = TRUE) COMMENT = %(c)s"
    )
    cursor.execute(create, {"url": "s3://bucket-a/event_log/", "c": "Flink's folders"})
    assert stage_row(cursor) == ("s3://bucket-a/event_log/", "S3_INT", "Y", "Flink's folders")
    assert describe_stage(cursor) == {
        "FORMAT_NAME": "EVENT_LOG.RAW.FF",
        "URL": '["s3://bucket-a/event_log/"]',
        "STORAGE_INTEGRATION": "S3_INT",
        "ENABLE": "true",
    }
    # IF NOT EXISTS on the existing stage changes nothing
    cursor.execute(create.replace("S3_INT", "OTHER_INT"), {"url": "s3://bucket-b/x/", "c": "other"})
    assert stage_row(cursor) == ("s3://bucket-a/event_log/", "S3_INT", "Y", "Flink's folders")

    # kept across a restart (fakesnow's stage table and localsnow's are both in the data dir)
    localsnow.restart()
    assert stage_row(localsnow.connect().cursor()) == ("s3://bucket-a/event_log/", "S3_INT", "Y", "Flink's folders")


def test_alter_stage_sets_each_property(cursor):
    cursor.execute("CREATE STAGE EVENT_LOG.RAW.ST URL = 's3://bucket-a/p/' FILE_FORMAT = (FORMAT_NAME = FF)")
    assert stage_row(cursor) == ("s3://bucket-a/p/", None, "N", "")
    assert describe_stage(cursor)["FORMAT_NAME"] == "EVENT_LOG.RAW.FF"  # qualified in the current schema

    alter = "ALTER STAGE EVENT_LOG.RAW.ST SET URL = %(url)s COMMENT = %(c)s"
    cursor.execute(alter, {"url": "s3://b-2/q/", "c": "it's"})
    assert stage_row(cursor) == ("s3://b-2/q/", None, "N", "it's")
    cursor.execute("ALTER STAGE ST SET STORAGE_INTEGRATION = S3_INT FILE_FORMAT = (FORMAT_NAME = EVENT_LOG.RAW.FF2)")
    cursor.execute("ALTER STAGE EVENT_LOG.RAW.ST SET DIRECTORY = (ENABLE = TRUE)")
    assert stage_row(cursor) == ("s3://b-2/q/", "S3_INT", "Y", "it's")
    assert describe_stage(cursor)["FORMAT_NAME"] == "EVENT_LOG.RAW.FF2"
    cursor.execute("ALTER STAGE EVENT_LOG.RAW.ST SET DIRECTORY = (ENABLE = FALSE)")
    assert stage_row(cursor)[2] == "N"
    assert describe_stage(cursor)["ENABLE"] == "false"

    cursor.execute("ALTER STAGE IF EXISTS EVENT_LOG.RAW.NO_SUCH_STAGE SET COMMENT = 'x'")
    with pytest.raises(snowflake.connector.errors.ProgrammingError, match="NO_SUCH_STAGE' does not exist"):
        cursor.execute("ALTER STAGE EVENT_LOG.RAW.NO_SUCH_STAGE SET COMMENT = 'x'")


def test_alter_file_format_sets_options_and_comment_but_not_type(cursor):
    cursor.execute(
        "ALTER FILE FORMAT EVENT_LOG.RAW.FF SET COMPRESSION = GZIP REPLACE_INVALID_CHARACTERS = TRUE COMMENT = %(c)s",
        {"c": "Flink's lines"},
    )
    (row,) = [r for r in show(cursor, "FILE FORMATS") if r["name"] == "FF"]
    assert (row["type"], row["comment"]) == ("JSON", "Flink's lines")
    assert json.loads(row["format_options"]) == {
        "TYPE": "JSON",
        "COMPRESSION": "GZIP",
        "REPLACE_INVALID_CHARACTERS": True,
    }
    cursor.execute("ALTER FILE FORMAT EVENT_LOG.RAW.FF SET REPLACE_INVALID_CHARACTERS = FALSE")
    (row,) = [r for r in show(cursor, "FILE FORMATS") if r["name"] == "FF"]
    assert json.loads(row["format_options"])["REPLACE_INVALID_CHARACTERS"] is False
    assert row["comment"] == "Flink's lines"  # not given: kept

    with pytest.raises(snowflake.connector.errors.ProgrammingError, match="TYPE of a file format cannot be altered"):
        cursor.execute("ALTER FILE FORMAT EVENT_LOG.RAW.FF SET TYPE = CSV")
    cursor.execute("ALTER FILE FORMAT IF EXISTS EVENT_LOG.RAW.NOPE SET COMPRESSION = GZIP")
    with pytest.raises(snowflake.connector.errors.ProgrammingError, match="NOPE' does not exist"):
        cursor.execute("ALTER FILE FORMAT EVENT_LOG.RAW.NOPE SET COMPRESSION = GZIP")
