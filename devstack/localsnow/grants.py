"""Privileges granted to roles on schemas, file formats, stages, external tables and tables.

fakesnow has no access control. Here GRANT / REVOKE <privileges> ON <kind> <name> TO / FROM ROLE <role> are
recorded in `_fs_global._localsnow.grants` (checked: the object must exist and the privilege must be one
Snowflake has for that kind of object), and SHOW GRANTS ON <kind> <name> lists them after the object's OWNERSHIP
(SYSADMIN, the owner fakesnow reports everywhere). Granting a privilege a role already has changes nothing, as in
Snowflake. Roles are not modelled: any role name is accepted, and nothing is enforced on queries.

Replacing an external table (external_tables.py) or a table (table_comments.py) forgets its grants, as Snowflake
does without COPY GRANTS; a DROP TABLE does not (yet).
"""

from __future__ import annotations

import datetime
import re
from typing import TYPE_CHECKING, Any

import duckdb
from fakesnow.transforms.stage import parts_from_var
from sqlglot import exp

from devstack.localsnow import fakesnow_bridge as bridge
from devstack.localsnow.fakesnow_bridge import ProgrammingError

if TYPE_CHECKING:
    from collections.abc import Callable

    from fakesnow.cursor import FakeSnowflakeCursor

REGISTRY_SQL = """
CREATE SCHEMA IF NOT EXISTS _fs_global._localsnow;
CREATE TABLE IF NOT EXISTS _fs_global._localsnow.grants (
    privilege VARCHAR, granted_on VARCHAR, name VARCHAR, grantee_name VARCHAR, created_on TIMESTAMPTZ,
    PRIMARY KEY (privilege, granted_on, name, grantee_name)
);
"""
PRIVILEGES = {
    "SCHEMA": {"USAGE", "MONITOR", "MODIFY"},
    "FILE FORMAT": {"USAGE"},
    "STAGE": {"USAGE", "READ", "WRITE"},
    "EXTERNAL TABLE": {"SELECT", "REFERENCES"},
    "TABLE": {"SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "REBUILD"},
}
SHOW_COLUMNS = (
    ("created_on", "TIMESTAMPTZ"),
    ("privilege", "VARCHAR"),
    ("granted_on", "VARCHAR"),
    ("name", "VARCHAR"),
    ("granted_to", "VARCHAR"),
    ("grantee_name", "VARCHAR"),
    ("grant_option", "VARCHAR"),
    ("granted_by", "VARCHAR"),
)
_NAME = r'(?:"[^"]+"|[^\s."]+)(?:\.(?:"[^"]+"|[^\s."]+)){0,2}'
_KIND = r"(?P<kind>SCHEMA|FILE\s+FORMAT|STAGE|EXTERNAL\s+TABLE|TABLE)"
_GRANT = re.compile(
    rf"\s*(?P<verb>GRANT|REVOKE)\s+(?P<privileges>\w+(?:\s*,\s*\w+)*)\s+ON\s+{_KIND}\s+(?P<name>{_NAME})"
    r"\s+(?:TO|FROM)\s+ROLE\s+(?P<role>\"[^\"]+\"|\w+)\s*;?\s*",
    re.IGNORECASE,
)
_SHOW = re.compile(rf"\s*SHOW\s+GRANTS\s+ON\s+{_KIND}\s+(?P<name>{_NAME})\s*;?\s*", re.IGNORECASE)


def create_registry(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(REGISTRY_SQL)


def handler(expression: exp.Expr, sql: str) -> Callable[[FakeSnowflakeCursor, Callable[[str], Any]], bool] | None:
    if isinstance(expression, (exp.Grant, exp.Revoke)) or (
        isinstance(expression, exp.Command) and expression.name.upper() in ("GRANT", "REVOKE", "SHOW")
    ):
        text = expression.sql(dialect="snowflake", comments=False)  # the statement without its SQL comments
        if match := _GRANT.fullmatch(text):
            return lambda cursor, _: _grant_or_revoke(cursor, match)
        if match := _SHOW.fullmatch(text):
            return lambda cursor, _: _show(cursor, match)
        if expression.name.upper() != "SHOW":
            return lambda cursor, _: _not_implemented(text)
    return None


def _not_implemented(text: str) -> bool:
    raise NotImplementedError(text[:80])


def forget(con: duckdb.DuckDBPyConnection, kind: str, obj: tuple[str, ...]) -> None:
    """The grants on an object that was dropped or replaced."""
    con.execute(
        "DELETE FROM _fs_global._localsnow.grants WHERE granted_on = ? AND name = ?", [_granted_on(kind), ".".join(obj)]
    )


def _grant_or_revoke(cursor: FakeSnowflakeCursor, match: re.Match[str]) -> bool:
    kind = " ".join(match["kind"].upper().split())
    obj = _resolve(cursor, kind, match["name"])
    privileges = [p.strip().upper() for p in match["privileges"].split(",")]
    if invalid := [p for p in privileges if p not in PRIVILEGES[kind]]:
        raise ProgrammingError(
            msg=f"SQL compilation error:\nInvalid privilege {invalid[0]} for object type {kind}.",
            errno=3011,
            sqlstate="42601",
        )
    role = match["role"].strip('"') if match["role"].startswith('"') else match["role"].upper()
    now = datetime.datetime.now(datetime.UTC)
    with bridge.ddl_transaction(cursor) as con:
        for privilege in privileges:
            if match["verb"].upper() == "GRANT":
                con.execute(
                    "INSERT OR IGNORE INTO _fs_global._localsnow.grants VALUES (?, ?, ?, ?, ?)",
                    [privilege, _granted_on(kind), ".".join(obj), role, now],
                )
            else:
                con.execute(
                    "DELETE FROM _fs_global._localsnow.grants "
                    "WHERE privilege = ? AND granted_on = ? AND name = ? AND grantee_name = ?",
                    [privilege, _granted_on(kind), ".".join(obj), role],
                )
    bridge.status_result(cursor, "Statement executed successfully.")
    return True


def _show(cursor: FakeSnowflakeCursor, match: re.Match[str]) -> bool:
    kind = " ".join(match["kind"].upper().split())
    obj = ".".join(_resolve(cursor, kind, match["name"]))
    rows = [(None, "OWNERSHIP", _granted_on(kind), obj, "ROLE", "SYSADMIN", "true", "SYSADMIN")]
    for created_on, privilege, grantee in (
        bridge.duck(cursor)
        .execute(
            "SELECT created_on, privilege, grantee_name FROM _fs_global._localsnow.grants "
            "WHERE granted_on = ? AND name = ? ORDER BY grantee_name, privilege",
            [_granted_on(kind), obj],
        )
        .fetchall()
    ):
        rows.append((created_on.isoformat(), privilege, _granted_on(kind), obj, "ROLE", grantee, "false", "SYSADMIN"))
    bridge.rows_result(cursor, SHOW_COLUMNS, rows)
    return True


def _identifier(part: str) -> str:
    return part[1:-1] if part.startswith('"') else part.upper()


def _granted_on(kind: str) -> str:
    return kind.replace(" ", "_")


def _resolve(cursor: FakeSnowflakeCursor, kind: str, name: str) -> tuple[str, ...]:
    """The object's (database, schema[, name]), after checking that it exists."""
    conn, con = bridge.session(cursor), bridge.duck(cursor)
    if kind == "SCHEMA":
        names = name.split(".")
        parts = tuple(_identifier(p) for p in names) if len(names) == 2 else (conn.database or "", _identifier(name))
        query = "SELECT 1 FROM information_schema.schemata WHERE catalog_name = ? AND schema_name = ?"
    else:
        parts = parts_from_var(name, conn.database, conn.schema)
        query = {
            "FILE FORMAT": "SELECT 1 FROM _fs_global._fs_information_schema._fs_file_formats "
            "WHERE database_name = ? AND schema_name = ? AND name = ?",
            "STAGE": "SELECT 1 FROM _fs_global._fs_information_schema._fs_stages "
            "WHERE database_name = ? AND schema_name = ? AND name = ?",
            "EXTERNAL TABLE": "SELECT 1 FROM _fs_global._localsnow.external_tables "
            "WHERE database_name = ? AND schema_name = ? AND name = ?",
            "TABLE": "SELECT 1 FROM duckdb_tables() t WHERE database_name = ? AND schema_name = ? AND table_name = ? "
            "AND NOT EXISTS (SELECT 1 FROM _fs_global._localsnow.external_tables x WHERE x.database_name = "
            "t.database_name AND x.schema_name = t.schema_name AND x.name = t.table_name)",
        }[kind]
    if not con.execute(query, list(parts)).fetchone():
        raise ProgrammingError(
            msg=f"SQL compilation error:\n{kind.title()} '{'.'.join(parts)}' does not exist or not authorized.",
            errno=2003,
            sqlstate="02000",
        )
    return tuple(parts)
