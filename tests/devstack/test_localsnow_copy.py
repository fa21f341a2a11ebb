"""COPY INTO with a transformation from the S3 stage: METADATA$ columns, gzip, FILES, PATTERN, ON_ERROR."""

from __future__ import annotations

import datetime
import gzip
import json

import pytest
import snowflake.connector.errors

pytestmark = pytest.mark.timeout(120)

COPY_SQL = """
COPY INTO EVENT_LOG.RAW.RAW_EVENTS (RECORD, FILE_NAME, FILE_ROW_NUMBER, REPLICATION_HOUR, LOADED_AT, AIRFLOW_RUN_ID)
FROM (
    SELECT $1, METADATA$FILENAME, METADATA$FILE_ROW_NUMBER, '2025-08-01 03:00:00'::TIMESTAMP_NTZ,
           CURRENT_TIMESTAMP()::TIMESTAMP_NTZ, 'run-1'
    FROM @EVENT_LOG.RAW.STAGE_EVENTS/2025/08/01/03/
)
{files}
FILE_FORMAT = (FORMAT_NAME = EVENT_LOG.RAW.FF_JSON)
ON_ERROR = {on_error}
FORCE = TRUE
"""


def copy_sql(files: list[str] | None = None, on_error: str = "ABORT_STATEMENT", pattern: str | None = None) -> str:
    clause = "FILES = (" + ", ".join(f"'{f}'" for f in files) + ")" if files else ""
    if pattern:
        clause += f" PATTERN = '{pattern}'"
    return COPY_SQL.format(files=clause, on_error=on_error)


def event(event_log_id: int, **fields) -> str:
    return json.dumps({"event_log_id": event_log_id, "organization_id": 1, "dagster_event_type": "STEP_START"} | fields)


def rows(cursor, sql: str) -> list[tuple]:
    return cursor.execute(sql).fetchall()


def test_copy_loads_plain_and_gzip_files_with_metadata(event_log, put_lines):
    put_lines("2025/08/01/03/part-a-0-1.jsonl", [event(1), "", event(2, run_id=None)])
    put_lines("2025/08/01/03/part-b-0-2.jsonl.gz", [event(3), event(4), event(5)])
    put_lines("2025/08/01/03/part-c-0-3.jsonl", [event(99)])  # not listed in FILES: not loaded
    cur = event_log.cursor()

    result = cur.execute(copy_sql(["part-a-0-1.jsonl", "part-b-0-2.jsonl.gz"])).fetchall()

    columns = [d.name.lower() for d in cur.description]
    assert columns == [
        "file",
        "status",
        "rows_parsed",
        "rows_loaded",
        "error_limit",
        "errors_seen",
        "first_error",
        "first_error_line",
        "first_error_character",
        "first_error_column_name",
    ]
    by_file = {r[0].rsplit("/", 1)[-1]: r for r in result}
    assert by_file["part-a-0-1.jsonl"][1:6] == ("LOADED", 2, 2, 1, 0)
    assert by_file["part-b-0-2.jsonl.gz"][1:6] == ("LOADED", 3, 3, 1, 0)
    assert by_file["part-a-0-1.jsonl"][0].endswith("/event_log/2025/08/01/03/part-a-0-1.jsonl")

    loaded = rows(
        cur,
        "SELECT RECORD:event_log_id::NUMBER, FILE_NAME, FILE_ROW_NUMBER, REPLICATION_HOUR, AIRFLOW_RUN_ID, "
        "LOADED_AT IS NOT NULL FROM EVENT_LOG.RAW.RAW_EVENTS ORDER BY 1",
    )
    hour = datetime.datetime(2025, 8, 1, 3)
    assert loaded == [
        (1, "2025/08/01/03/part-a-0-1.jsonl", 1, hour, "run-1", True),
        (2, "2025/08/01/03/part-a-0-1.jsonl", 3, hour, "run-1", True),  # line 2 is empty: not a row
        (3, "2025/08/01/03/part-b-0-2.jsonl.gz", 1, hour, "run-1", True),
        (4, "2025/08/01/03/part-b-0-2.jsonl.gz", 2, hour, "run-1", True),
        (5, "2025/08/01/03/part-b-0-2.jsonl.gz", 3, hour, "run-1", True),
    ]
    # $1 is the whole object, as a VARIANT
    record = json.loads(rows(cur, "SELECT RECORD FROM EVENT_LOG.RAW.RAW_EVENTS WHERE RECORD:event_log_id = 2")[0][0])
    assert record == {"event_log_id": 2, "organization_id": 1, "dagster_event_type": "STEP_START", "run_id": None}


def test_copy_without_files_loads_everything_under_the_path_matching_pattern(event_log, put_lines, s3_client, bucket):
    put_lines("2025/08/01/03/part-a-0-1.jsonl", [event(1)])
    put_lines("2025/08/01/03/part-b-0-1.jsonl.gz", [event(2)])
    put_lines("2025/08/01/03/part-c-0-1.inprogress.1234", [event(3)])
    put_lines("2025/08/01/03/_part-d_tmp_5678", [event(4)])
    put_lines("2025/08/01/04/part-e-0-1.jsonl", [event(5)])  # another hour
    s3_client.put_object(Bucket=bucket, Key="event_log/2025/08/01/03/_SUCCESS", Body=b"")
    cur = event_log.cursor()

    result = cur.execute(copy_sql(pattern=".*part-[^/]*[.]jsonl([.]gz)?")).fetchall()

    assert sorted(r[0].rsplit("/", 1)[-1] for r in result) == ["part-a-0-1.jsonl", "part-b-0-1.jsonl.gz"]
    assert rows(cur, "SELECT RECORD:event_log_id::NUMBER FROM EVENT_LOG.RAW.RAW_EVENTS ORDER BY 1") == [(1,), (2,)]


def test_invalid_json_aborts_the_statement_naming_file_and_line(event_log, put_lines):
    put_lines("2025/08/01/03/part-a-0-1.jsonl", [event(1), event(2)])
    put_lines("2025/08/01/03/part-b-0-1.jsonl", [event(3), "{not json", event(4)])
    cur = event_log.cursor()

    with pytest.raises(snowflake.connector.errors.ProgrammingError) as raised:
        cur.execute(copy_sql(["part-a-0-1.jsonl", "part-b-0-1.jsonl"]))

    assert "Error parsing JSON" in raised.value.msg
    assert "File '2025/08/01/03/part-b-0-1.jsonl', line 2" in raised.value.msg
    assert raised.value.errno == 100069
    # nothing of the statement is kept, not even the good file
    assert rows(cur, "SELECT COUNT(*) FROM EVENT_LOG.RAW.RAW_EVENTS") == [(0,)]


def test_truncated_last_line_aborts_the_statement(event_log, put_lines):
    put_lines("2025/08/01/03/part-a-0-1.jsonl.gz", event(1) + "\n" + event(2) + "\n" + event(3)[:15])
    cur = event_log.cursor()

    with pytest.raises(snowflake.connector.errors.ProgrammingError) as raised:
        cur.execute(copy_sql(["part-a-0-1.jsonl.gz"]))

    assert "File '2025/08/01/03/part-a-0-1.jsonl.gz', line 3" in raised.value.msg
    assert rows(cur, "SELECT COUNT(*) FROM EVENT_LOG.RAW.RAW_EVENTS") == [(0,)]


def test_a_missing_file_fails_naming_it(event_log, put_lines):
    put_lines("2025/08/01/03/part-a-0-1.jsonl", [event(1)])
    cur = event_log.cursor()

    with pytest.raises(snowflake.connector.errors.ProgrammingError) as raised:
        cur.execute(copy_sql(["part-a-0-1.jsonl", "part-gone-0-9.jsonl"]))

    assert "part-gone-0-9.jsonl" in raised.value.msg
    assert "not found" in raised.value.msg
    assert rows(cur, "SELECT COUNT(*) FROM EVENT_LOG.RAW.RAW_EVENTS") == [(0,)]


def test_on_error_continue_loads_good_lines_and_counts_the_rejected_ones_per_file(event_log, put_lines):
    put_lines("2025/08/01/03/part-a-0-1.jsonl", [event(1), "{broken", event(2), "", "[1, 2"])
    put_lines("2025/08/01/03/part-b-0-1.jsonl", [event(3)])
    cur = event_log.cursor()

    result = cur.execute(copy_sql(["part-a-0-1.jsonl", "part-b-0-1.jsonl"], on_error="CONTINUE")).fetchall()

    by_file = {r[0].rsplit("/", 1)[-1]: r for r in result}
    a = by_file["part-a-0-1.jsonl"]
    assert a[1:6] == ("PARTIALLY_LOADED", 4, 2, 4, 2)
    assert "Error parsing JSON" in a[6]
    assert a[7] == 2  # first_error_line
    assert a[8] >= 1  # first_error_character
    assert by_file["part-b-0-1.jsonl"][1:6] == ("LOADED", 1, 1, 1, 0)
    assert rows(cur, "SELECT RECORD:event_log_id::NUMBER FROM EVENT_LOG.RAW.RAW_EVENTS ORDER BY 1") == [
        (1,),
        (2,),
        (3,),
    ]


def test_on_error_continue_counts_lines_that_are_not_utf8_and_names_them(event_log, s3_client, bucket):
    """Snowflake counts a record with invalid UTF-8 as an error and goes on (ON_ERROR = CONTINUE), whatever the
    file's name says about its compression; a corrupt gzip stream fails the statement naming the file."""
    plain = b'{"event_log_id": 1}\n{"event_log_id": 2, "note": "\xff"}\n{"event_log_id": 3}\n'
    s3_client.put_object(Bucket=bucket, Key="event_log/2025/08/01/03/part-a-0-1", Body=gzip.compress(plain))
    s3_client.put_object(Bucket=bucket, Key="event_log/2025/08/01/03/part-b-0-1.gz", Body=b'{"event_log_id": 4}\n')
    cur = event_log.cursor()

    result = cur.execute(copy_sql(["part-a-0-1", "part-b-0-1.gz"], on_error="CONTINUE")).fetchall()

    by_file = {r[0].rsplit("/", 1)[-1]: r for r in result}
    assert by_file["part-a-0-1"][1:8] == ("PARTIALLY_LOADED", 3, 2, 3, 1, by_file["part-a-0-1"][6], 2)
    assert by_file["part-a-0-1"][6].startswith("Invalid UTF8 detected in string")
    assert by_file["part-b-0-1.gz"][1:6] == ("LOADED", 1, 1, 1, 0)
    assert rows(cur, "SELECT RECORD:event_log_id::NUMBER FROM EVENT_LOG.RAW.RAW_EVENTS ORDER BY 1") == [
        (1,),
        (3,),
        (4,),
    ]

    whole = gzip.compress(plain * 2000)
    s3_client.put_object(Bucket=bucket, Key="event_log/2025/08/01/03/part-c-0-1.gz", Body=whole[: len(whole) // 2])
    with pytest.raises(snowflake.connector.errors.ProgrammingError) as raised:
        cur.execute(copy_sql(["part-c-0-1.gz"], on_error="CONTINUE"))
    assert "part-c-0-1.gz" in raised.value.msg


def test_skip_file_and_validate_are_refused_saying_what_the_emulator_supports(event_log, put_lines):
    """The package's COPY uses ON_ERROR = CONTINUE: SKIP_FILE[_n[%]] and TABLE(VALIDATE(...)) fail, never load
    or answer something else silently."""
    put_lines("2025/08/01/03/part-a-0-1.jsonl", [event(1), "oops"])
    cur = event_log.cursor()

    for on_error, named in (
        ("SKIP_FILE", "SKIP_FILE"),
        ("SKIP_FILE_3", "SKIP_FILE_3"),
        ("'SKIP_FILE_10%'", "SKIP_FILE_10%"),
        ("'skip_file'", "SKIP_FILE"),
    ):
        with pytest.raises(snowflake.connector.errors.ProgrammingError) as raised:
            cur.execute(copy_sql(["part-a-0-1.jsonl"], on_error=on_error))
        assert f"ON_ERROR = {named} is not implemented by the local Snowflake" in raised.value.msg
        assert "supports ON_ERROR = ABORT_STATEMENT and CONTINUE only" in raised.value.msg
    with pytest.raises(snowflake.connector.errors.ProgrammingError) as raised:
        cur.execute(copy_sql(["part-a-0-1.jsonl"], on_error="SKIP_LINES"))
    assert "Invalid value 'SKIP_LINES' for property 'ON_ERROR'" in raised.value.msg
    assert rows(cur, "SELECT COUNT(*) FROM EVENT_LOG.RAW.RAW_EVENTS") == [(0,)]

    # after a COPY with a rejected line, VALIDATE still fails rather than return no rows
    assert [r[5] for r in cur.execute(copy_sql(["part-a-0-1.jsonl"], on_error="CONTINUE")).fetchall()] == [1]
    for query in (
        "SELECT * FROM TABLE(VALIDATE(EVENT_LOG.RAW.RAW_EVENTS, JOB_ID => '_last'))",
        "SELECT COUNT(*) FROM (SELECT FILE FROM TABLE(VALIDATE(RAW_EVENTS, JOB_ID => '_last')))",
    ):
        with pytest.raises(snowflake.connector.errors.ProgrammingError) as raised:
            cur.execute(query)
        assert "TABLE(VALIDATE(...))" in raised.value.msg
        assert "is not implemented by the local Snowflake (devstack.localsnow)" in raised.value.msg


def test_without_force_a_file_loaded_before_is_skipped(event_log, put_lines):
    put_lines("2025/08/01/03/part-a-0-1.jsonl", [event(1)])
    cur = event_log.cursor()
    no_force = copy_sql(["part-a-0-1.jsonl"]).replace("FORCE = TRUE", "")

    first = cur.execute(no_force).fetchall()
    second = cur.execute(no_force).fetchall()
    forced = cur.execute(copy_sql(["part-a-0-1.jsonl"])).fetchall()

    assert [r[1] for r in first] == ["LOADED"]
    assert second == [("Copy executed with 0 files processed.",)]
    assert [r[1] for r in forced] == ["LOADED"]
    assert rows(cur, "SELECT COUNT(*) FROM EVENT_LOG.RAW.RAW_EVENTS") == [(2,)]


def test_copy_without_transformation_into_a_single_variant_column(event_log, put_lines):
    put_lines("2025/08/01/03/part-a-0-1.jsonl", [event(1), event(2)])
    cur = event_log.cursor()
    cur.execute("CREATE TABLE EVENT_LOG.RAW.JUST_VARIANT (V VARIANT)")

    cur.execute(
        "COPY INTO EVENT_LOG.RAW.JUST_VARIANT FROM @EVENT_LOG.RAW.STAGE_EVENTS/2025/08/01/03/ "
        "FILE_FORMAT = (TYPE = JSON)"
    )

    assert rows(cur, "SELECT V:event_log_id::NUMBER FROM EVENT_LOG.RAW.JUST_VARIANT ORDER BY 1") == [(1,), (2,)]


def test_line_numbers_follow_the_file_on_a_large_file(event_log, put_lines):
    # Over 64 MB, the reader's buffer: DuckDB scans it in parallel chunks, numbering must still be line order.
    lines = [json.dumps({"event_log_id": i, "pad": "x" * 100}) for i in range(1, 600_001)]
    put_lines("2025/08/01/03/part-big-0-1.jsonl", lines)
    put_lines("2025/08/01/03/part-big-0-2.jsonl.gz", lines[:1000])
    cur = event_log.cursor()

    result = cur.execute(copy_sql(["part-big-0-1.jsonl", "part-big-0-2.jsonl.gz"])).fetchall()

    assert [r[3] for r in result] == [600_000, 1000]
    assert rows(
        cur,
        "SELECT COUNT(*), COUNT_IF(FILE_ROW_NUMBER = RECORD:event_log_id::NUMBER) FROM EVENT_LOG.RAW.RAW_EVENTS",
    ) == [(601_000, 601_000)]
