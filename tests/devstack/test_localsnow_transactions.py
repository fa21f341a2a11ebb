"""DELETE + COPY in one transaction (autocommit off), rollback after a failed COPY, concurrent sessions."""

from __future__ import annotations

import json
import threading

import pytest
import snowflake.connector.errors

pytestmark = pytest.mark.timeout(120)

DELETE_HOUR = "DELETE FROM EVENT_LOG.RAW.RAW_EVENTS WHERE REPLICATION_HOUR = %(hour)s::TIMESTAMP_NTZ"
COPY_HOUR = """
COPY INTO EVENT_LOG.RAW.RAW_EVENTS (RECORD, FILE_NAME, FILE_ROW_NUMBER, REPLICATION_HOUR, LOADED_AT, AIRFLOW_RUN_ID)
FROM (
    SELECT $1, METADATA$FILENAME, METADATA$FILE_ROW_NUMBER, %(hour)s::TIMESTAMP_NTZ,
           CURRENT_TIMESTAMP()::TIMESTAMP_NTZ, %(run_id)s
    FROM @EVENT_LOG.RAW.STAGE_EVENTS/{path}
)
FILES = (%(files)s)
FILE_FORMAT = (FORMAT_NAME = EVENT_LOG.RAW.FF_JSON)
ON_ERROR = ABORT_STATEMENT
FORCE = TRUE
"""
BY_ID = "SELECT RECORD:event_log_id::NUMBER, AIRFLOW_RUN_ID FROM RAW_EVENTS ORDER BY 1"
SNAPSHOT = (
    "SELECT RECORD:event_log_id::NUMBER, FILE_NAME, FILE_ROW_NUMBER, REPLICATION_HOUR, AIRFLOW_RUN_ID "
    "FROM EVENT_LOG.RAW.RAW_EVENTS ORDER BY 1, 2, 3"
)


def hour_path(hour: int) -> str:
    return f"2025/08/01/{hour:02d}/"


def put_hour(put_lines, hour: int, ids: list[int], name: str = "part-a-0-1.jsonl") -> str:
    put_lines(hour_path(hour) + name, [json.dumps({"event_log_id": i}) for i in ids])
    return name


def load_hour(cursor, hour: int, files: list[str], run_id: str) -> list[tuple]:
    params = {"hour": f"2025-08-01 {hour:02d}:00:00", "run_id": run_id, "files": tuple(files)}
    cursor.execute(DELETE_HOUR, params)
    return cursor.execute(COPY_HOUR.format(path=hour_path(hour)), params).fetchall()


def test_delete_then_copy_commit_replaces_the_hour_atomically(localsnow, event_log, put_lines):
    put_hour(put_lines, 3, [1, 2])
    load_hour(event_log.cursor(), 3, ["part-a-0-1.jsonl"], "run-1")
    put_hour(put_lines, 3, [3], "part-b-0-1.jsonl")  # late data re-opened the hour

    conn = localsnow.connect()
    conn.autocommit(False)
    cur = conn.cursor()
    load_hour(cur, 3, ["part-a-0-1.jsonl", "part-b-0-1.jsonl"], "run-2")

    # not committed yet: another session still sees the first load only
    other = event_log.cursor()
    assert other.execute(
        "SELECT RECORD:event_log_id::NUMBER, AIRFLOW_RUN_ID FROM RAW_EVENTS ORDER BY 1"
    ).fetchall() == [
        (1, "run-1"),
        (2, "run-1"),
    ]
    conn.commit()

    assert other.execute(
        "SELECT RECORD:event_log_id::NUMBER, AIRFLOW_RUN_ID FROM RAW_EVENTS ORDER BY 1"
    ).fetchall() == [
        (1, "run-2"),
        (2, "run-2"),
        (3, "run-2"),
    ]


@pytest.mark.parametrize("failure", ["invalid JSON", "missing file"])
def test_a_failed_copy_then_rollback_leaves_the_table_as_before(localsnow, event_log, put_lines, failure):
    put_hour(put_lines, 3, [1, 2])
    put_hour(put_lines, 4, [10])
    load_hour(event_log.cursor(), 3, ["part-a-0-1.jsonl"], "run-1")
    load_hour(event_log.cursor(), 4, ["part-a-0-1.jsonl"], "run-1")
    before = event_log.cursor().execute(SNAPSHOT).fetchall()
    if failure == "invalid JSON":
        put_lines(hour_path(3) + "part-b-0-1.jsonl", [json.dumps({"event_log_id": 3}), '{"event_log_id": 4'])
    files = ["part-a-0-1.jsonl", "part-b-0-1.jsonl"]

    conn = localsnow.connect()
    conn.autocommit(False)
    cur = conn.cursor()
    params = {"hour": "2025-08-01 03:00:00", "run_id": "run-2", "files": ("part-a-0-1.jsonl",)}
    cur.execute(DELETE_HOUR, params)
    cur.execute(COPY_HOUR.format(path=hour_path(3)), params)  # a first COPY succeeds...
    with pytest.raises(snowflake.connector.errors.ProgrammingError):  # ...the second fails
        cur.execute(COPY_HOUR.format(path=hour_path(3)), params | {"files": tuple(files)})
    conn.rollback()

    assert cur.execute(SNAPSHOT).fetchall() == before
    assert event_log.cursor().execute(SNAPSHOT).fetchall() == before
    # the session is usable after the rollback
    conn.autocommit(True)
    assert cur.execute("SELECT COUNT(*) FROM RAW_EVENTS").fetchall() == [(3,)]


def test_concurrent_sessions_load_different_hours_of_the_same_table(localsnow, event_log, put_lines):
    hours = range(6)
    for hour in hours:
        put_hour(put_lines, hour, [hour * 1000 + i for i in range(50)])
        put_hour(put_lines, hour, [hour * 1000 + 500 + i for i in range(50)], "part-b-0-1.jsonl.gz")
    errors: list[BaseException] = []
    connections = [localsnow.connect() for _ in hours]
    barrier = threading.Barrier(len(connections))

    def load(hour: int) -> None:
        try:
            conn = connections[hour]
            conn.autocommit(False)
            cur = conn.cursor()
            barrier.wait()
            for run in range(2):  # a re-run of the hour replaces it
                load_hour(cur, hour, ["part-a-0-1.jsonl", "part-b-0-1.jsonl.gz"], f"run-{run}")
                conn.commit()
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=load, args=(hour,)) for hour in hours]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert event_log.cursor().execute(
        "SELECT HOUR(REPLICATION_HOUR), COUNT(*), COUNT(DISTINCT RECORD:event_log_id), MIN(AIRFLOW_RUN_ID) "
        "FROM RAW_EVENTS GROUP BY 1 ORDER BY 1"
    ).fetchall() == [(hour, 100, 100, "run-1") for hour in hours]
