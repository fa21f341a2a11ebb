"""SHOW EXTERNAL TABLES and DESCRIBE EXTERNAL TABLE, from the declarations external_tables.py keeps.

- SHOW EXTERNAL TABLES [LIKE '<pattern>'] [IN { SCHEMA [<db>.]<schema> | DATABASE <db> | ACCOUNT }]: one row per
  external table with Snowflake's columns for what the emulator knows (name, database, schema, owner, the
  comment, the stage and location, the file format, when it was last refreshed); without IN, the current schema.
- DESCRIBE EXTERNAL TABLE t: `VALUE` (kind COLUMN) then each declared column (kind VIRTUAL) with its type as
  DESCRIBE TABLE reports it and its expression as declared.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from sqlglot import exp

from devstack.localsnow import external_tables
from devstack.localsnow import fakesnow_bridge as bridge
from devstack.localsnow.fakesnow_bridge import ProgrammingError

if TYPE_CHECKING:
    from collections.abc import Callable

    from fakesnow.cursor import FakeSnowflakeCursor

SHOW_COLUMNS = (
    ("created_on", "TIMESTAMPTZ"),
    ("name", "VARCHAR"),
    ("database_name", "VARCHAR"),
    ("schema_name", "VARCHAR"),
    ("invalid", "VARCHAR"),
    ("owner", "VARCHAR"),
    ("comment", "VARCHAR"),
    ("stage", "VARCHAR"),
    ("location", "VARCHAR"),
    ("file_format_name", "VARCHAR"),
    ("file_format_type", "VARCHAR"),
    ("cloud", "VARCHAR"),
    ("last_refreshed_on", "TIMESTAMPTZ"),
    ("owner_role_type", "VARCHAR"),
)
DESCRIBE_COLUMNS = (
    ("name", "VARCHAR"),
    ("type", "VARCHAR"),
    ("kind", "VARCHAR"),
    ("null?", "VARCHAR"),
    ("default", "VARCHAR"),
    ("primary key", "VARCHAR"),
    ("unique key", "VARCHAR"),
    ("check", "VARCHAR"),
    ("expression", "VARCHAR"),
    ("comment", "VARCHAR"),
)
_NAME = r'(?:"[^"]+"|[^\s."]+)'
_SHOW = re.compile(
    r"\s*EXTERNAL\s+TABLES(?:\s+LIKE\s+(?P<like>'(?:[^']|'')*'))?"
    rf"(?:\s+IN\s+(?:(?P<account>ACCOUNT)|(?P<scope>SCHEMA|DATABASE)\s+(?P<scope_name>{_NAME}(?:\.{_NAME})?)))?\s*;?\s*",
    re.IGNORECASE,
)


def handler(expression: exp.Expr, sql: str) -> Callable[[FakeSnowflakeCursor, Callable[[str], Any]], bool] | None:
    show = isinstance(expression, exp.Command) and expression.name.upper() == "SHOW"
    if show and (match := _SHOW.fullmatch(str(expression.expression))):
        return lambda cursor, _: _show(cursor, match)
    if isinstance(expression, exp.Describe) and any(
        isinstance(p, exp.ExternalProperty) for p in (expression.args.get("properties") or exp.Properties()).expressions
    ):
        return lambda cursor, run_snowflake_sql: _describe(cursor, expression, run_snowflake_sql)
    return None


def _show(cursor: FakeSnowflakeCursor, match: re.Match[str]) -> bool:
    conn, con = bridge.session(cursor), bridge.duck(cursor)
    params: list[Any] = []
    where = [
        "EXISTS (SELECT 1 FROM duckdb_tables() d WHERE d.database_name = x.database_name "
        "AND d.schema_name = x.schema_name AND d.table_name = x.name)"
    ]
    if match["like"]:
        where.append("x.name ILIKE ?")
        params.append(_string(match["like"]))
    if not match["account"]:
        scope, scope_name = (match["scope"] or "SCHEMA").upper(), match["scope_name"]
        names = [_identifier(n) for n in scope_name.split(".")] if scope_name else []
        if scope == "DATABASE":
            where.append("x.database_name = ?")
            params.append(names[0] if names else conn.database)
        else:
            database, schema = names if len(names) == 2 else (conn.database, names[0] if names else conn.schema)
            where += ["x.database_name = ?", "x.schema_name = ?"]
            params += [database, schema]
    rows = []
    for database, schema, name, ddl, current_database, current_schema, created_on, refreshed in con.execute(
        "SELECT x.database_name, x.schema_name, x.name, x.ddl, x.current_database, x.current_schema, x.created_on, "
        "(SELECT max(registered_on) FROM _fs_global._localsnow.external_table_files f WHERE f.database_name = "
        "x.database_name AND f.schema_name = x.schema_name AND f.table_name = x.name) "
        "FROM _fs_global._localsnow.external_tables x WHERE " + " AND ".join(where) + " ORDER BY 1, 2, 3",
        params,
    ).fetchall():
        declaration = external_tables.Declaration.parse(ddl, current_database, current_schema)
        stage, path = declaration.location
        stage_fqn, url = bridge.stage_url(con, stage, current_database, current_schema)
        format_name = _format_name(declaration)
        rows.append(
            (created_on.isoformat(), name, database, schema, "false", "SYSADMIN", declaration.comment or "",
             stage_fqn, url + path, format_name, "JSON", "AWS", refreshed.isoformat() if refreshed else None, "ROLE")
        )  # fmt: skip
    bridge.rows_result(cursor, SHOW_COLUMNS, rows)
    return True


def _describe(cursor: FakeSnowflakeCursor, expression: exp.Describe, run_snowflake_sql: Any) -> bool:
    conn, con = bridge.session(cursor), bridge.duck(cursor)
    table = bridge.qualified_name(expression.find(exp.Table), conn.database, conn.schema)
    row = con.execute(
        "SELECT ddl, current_database, current_schema FROM _fs_global._localsnow.external_tables "
        "WHERE database_name = ? AND schema_name = ? AND name = ?",
        list(table),
    ).fetchone()
    if row is None:
        raise ProgrammingError(
            msg=f"SQL compilation error:\nTable '{'.'.join(table)}' does not exist or not authorized.",
            errno=2003,
            sqlstate="02000",
        )
    declaration = external_tables.Declaration.parse(*row)
    expressions = {
        column.this.name.upper(): column.find(exp.ComputedColumnConstraint).this.unnest().sql(dialect="snowflake")
        for column in declaration.columns
    }
    quoted = ".".join(exp.to_identifier(part, quoted=True).sql(dialect="snowflake") for part in table)
    run_snowflake_sql(f"DESCRIBE TABLE {quoted}")  # the materialized table: its columns' Snowflake types
    rows = []
    for name, type_, *_ in cursor.fetchall():
        if name == "VALUE":
            rows.append((name, type_, "COLUMN", "Y", None, "N", "N", None, None, None))
        elif name in expressions:
            rows.append((name, type_, "VIRTUAL", "Y", None, "N", "N", None, expressions[name], None))
    bridge.rows_result(cursor, DESCRIBE_COLUMNS, rows)
    return True


def _format_name(declaration: external_tables.Declaration) -> str:
    prop = declaration.option(exp.FileFormatProperty)
    for option in prop.expressions if prop else []:
        if isinstance(option, exp.Property) and option.name.upper() == "FORMAT_NAME":
            value = option.args["value"]
            return value.sql(dialect="snowflake") if isinstance(value, exp.Table) else value.name
    return ""


def _string(literal: str) -> str:
    return literal[1:-1].replace("''", "'")


def _identifier(part: str) -> str:
    return part[1:-1] if part.startswith('"') else part.upper()
