"""GRANT / REVOKE / SHOW GRANTS ON schemas, file formats, stages, external tables and tables."""

from __future__ import annotations

import pytest
import snowflake.connector.errors

pytestmark = pytest.mark.timeout(120)


def grants(cursor, kind: str, name: str) -> list[tuple[str, str, str]]:
    rows = cursor.execute(f"SHOW GRANTS ON {kind} {name}").fetchall()
    names = [d.name for d in cursor.description]
    return [(r[names.index("privilege")], r[names.index("granted_to")], r[names.index("grantee_name")]) for r in rows]


def test_grant_is_idempotent_and_revoke_removes_only_what_it_names(event_log):
    cur = event_log.cursor()
    for _ in range(2):
        cur.execute("GRANT SELECT, INSERT, DELETE ON TABLE EVENT_LOG.RAW.RAW_EVENTS TO ROLE EVENT_LOG_LOADER")
    cur.execute("GRANT SELECT ON TABLE RAW_EVENTS TO ROLE ANALYST")
    assert grants(cur, "TABLE", "EVENT_LOG.RAW.RAW_EVENTS") == [
        ("OWNERSHIP", "ROLE", "SYSADMIN"),
        ("SELECT", "ROLE", "ANALYST"),
        ("DELETE", "ROLE", "EVENT_LOG_LOADER"),
        ("INSERT", "ROLE", "EVENT_LOG_LOADER"),
        ("SELECT", "ROLE", "EVENT_LOG_LOADER"),
    ]
    cur.execute("REVOKE INSERT, DELETE ON TABLE EVENT_LOG.RAW.RAW_EVENTS FROM ROLE EVENT_LOG_LOADER")
    assert grants(cur, "TABLE", "RAW_EVENTS")[1:] == [
        ("SELECT", "ROLE", "ANALYST"),
        ("SELECT", "ROLE", "EVENT_LOG_LOADER"),
    ]


def test_grants_on_each_kind_of_object(event_log):
    cur = event_log.cursor()
    cur.execute(
        "CREATE EXTERNAL TABLE EVENT_LOG.RAW.EXT (N NUMBER AS (VALUE:n::NUMBER)) "
        "LOCATION = @EVENT_LOG.RAW.STAGE_EVENTS/ FILE_FORMAT = (FORMAT_NAME = EVENT_LOG.RAW.FF_JSON) "
        "AUTO_REFRESH = FALSE"
    )
    for kind, name, privilege in (
        ("SCHEMA", "EVENT_LOG.RAW", "USAGE"),
        ("FILE FORMAT", "EVENT_LOG.RAW.FF_JSON", "USAGE"),
        ("STAGE", "EVENT_LOG.RAW.STAGE_EVENTS", "USAGE"),
        ("EXTERNAL TABLE", "EVENT_LOG.RAW.EXT", "SELECT"),
    ):
        cur.execute(f"GRANT {privilege} ON {kind} {name} TO ROLE EVENT_LOG_LOADER")
        assert grants(cur, kind, name) == [("OWNERSHIP", "ROLE", "SYSADMIN"), (privilege, "ROLE", "EVENT_LOG_LOADER")]
        invalid = f"Invalid privilege TRUNCATE for object type {kind}"
        with pytest.raises(snowflake.connector.errors.ProgrammingError, match=invalid):
            cur.execute(f"GRANT TRUNCATE ON {kind} {name} TO ROLE EVENT_LOG_LOADER")


def test_grant_on_a_missing_object_fails(event_log):
    with pytest.raises(snowflake.connector.errors.ProgrammingError, match="NO_SUCH' does not exist"):
        event_log.cursor().execute("GRANT SELECT ON TABLE EVENT_LOG.RAW.NO_SUCH TO ROLE R")


def test_replacing_an_object_drops_its_grants(event_log):
    cur = event_log.cursor()
    ext = (
        "CREATE OR REPLACE EXTERNAL TABLE EVENT_LOG.RAW.EXT (N NUMBER AS (VALUE:n::NUMBER)) "
        "LOCATION = @EVENT_LOG.RAW.STAGE_EVENTS/ FILE_FORMAT = (FORMAT_NAME = EVENT_LOG.RAW.FF_JSON) "
        "AUTO_REFRESH = FALSE"
    )
    cur.execute(ext)
    cur.execute("GRANT SELECT ON EXTERNAL TABLE EVENT_LOG.RAW.EXT TO ROLE R")
    cur.execute("GRANT SELECT ON TABLE EVENT_LOG.RAW.RAW_EVENTS TO ROLE R")
    cur.execute(ext)
    cur.execute("CREATE OR REPLACE TABLE EVENT_LOG.RAW.RAW_EVENTS (RECORD VARIANT)")
    assert grants(cur, "EXTERNAL TABLE", "EVENT_LOG.RAW.EXT") == [("OWNERSHIP", "ROLE", "SYSADMIN")]
    assert grants(cur, "TABLE", "EVENT_LOG.RAW.RAW_EVENTS") == [("OWNERSHIP", "ROLE", "SYSADMIN")]
