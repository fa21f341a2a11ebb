"""Everything survives a restart on the same --data-dir: databases, schemas, tables and rows, stages, file
formats, external tables with their registered files; and committed rows survive even a SIGKILL."""

from __future__ import annotations

import json

import pytest

from tests.devstack.test_localsnow_external_tables import create_ext

pytestmark = pytest.mark.timeout(120)


def test_objects_and_rows_survive_a_restart(localsnow, event_log, put_lines):
    put_lines("2025/08/01/03/part-a-0-1.jsonl", [json.dumps({"event_log_id": i}) for i in (1, 2)])
    cur = event_log.cursor()
    cur.execute("CREATE SCHEMA EVENT_LOG.MARTS")
    cur.execute("CREATE TABLE EVENT_LOG.MARTS.DAILY (DAY DATE, N NUMBER) COMMENT = 'per day'")
    cur.execute("INSERT INTO EVENT_LOG.MARTS.DAILY VALUES ('2025-08-01', 7)")
    cur.execute("CREATE DATABASE OTHER_DB")
    cur.execute("CREATE SCHEMA OTHER_DB.S")
    cur.execute("CREATE TABLE OTHER_DB.S.T (A VARCHAR)")
    cur.execute("INSERT INTO OTHER_DB.S.T VALUES ('kept')")
    create_ext(cur)

    localsnow.restart()

    cur = localsnow.connect().cursor()
    assert cur.execute("SELECT * FROM EVENT_LOG.MARTS.DAILY").fetchall()[0][1] == 7
    assert cur.execute("SELECT A FROM OTHER_DB.S.T").fetchall() == [("kept",)]
    assert {r[1] for r in cur.execute("SHOW DATABASES").fetchall()} >= {"EVENT_LOG", "OTHER_DB"}
    assert {r[1] for r in cur.execute("SHOW SCHEMAS IN DATABASE EVENT_LOG").fetchall()} >= {"RAW", "MARTS"}
    assert [r[1] for r in cur.execute("SHOW STAGES IN SCHEMA EVENT_LOG.RAW").fetchall()] == ["STAGE_EVENTS"]
    assert [r[1] for r in cur.execute("SHOW FILE FORMATS IN SCHEMA EVENT_LOG.RAW").fetchall()] == ["FF_JSON"]

    # the external table: its rows, its declaration (REFRESH works) and its registered files (nothing new)
    assert cur.execute("SELECT EVENT_LOG_ID FROM EXT_EVENTS ORDER BY 1").fetchall() == [(1,), (2,)]
    assert cur.execute("ALTER EXTERNAL TABLE EXT_EVENTS REFRESH").fetchall() == []
    put_lines("2025/08/01/04/part-b-0-1.jsonl", [json.dumps({"event_log_id": 3})])
    assert [r[1] for r in cur.execute("ALTER EXTERNAL TABLE EXT_EVENTS REFRESH '2025/08/01/04/'").fetchall()] == [
        "REGISTERED_NEW"
    ]

    # the stage and the file format work after the restart
    cur.execute(
        "COPY INTO RAW_EVENTS (RECORD, FILE_NAME) FROM (SELECT $1, METADATA$FILENAME FROM @STAGE_EVENTS/2025/) "
        "FILE_FORMAT = (FORMAT_NAME = FF_JSON)"
    )
    assert cur.execute("SELECT COUNT(*) FROM RAW_EVENTS").fetchall() == [(3,)]

    # and all of it again after a second restart
    localsnow.restart()
    cur = localsnow.connect().cursor()
    assert cur.execute("SELECT COUNT(*) FROM EVENT_LOG.RAW.RAW_EVENTS").fetchall() == [(3,)]
    assert cur.execute("SELECT COUNT(*) FROM EVENT_LOG.RAW.EXT_EVENTS").fetchall() == [(3,)]


def test_committed_rows_survive_a_kill(localsnow, event_log):
    cur = event_log.cursor()
    cur.execute("INSERT INTO RAW_EVENTS (AIRFLOW_RUN_ID) VALUES ('committed')")
    localsnow.proc.kill()  # no checkpoint: DuckDB replays its write-ahead log at the next start
    localsnow.proc.wait()
    localsnow.connections.clear()

    localsnow.start()

    assert localsnow.connect().cursor().execute("SELECT AIRFLOW_RUN_ID FROM RAW_EVENTS").fetchall() == [("committed",)]
