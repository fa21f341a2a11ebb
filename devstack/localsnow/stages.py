"""Stage properties fakesnow does not keep, and ALTER / DESCRIBE of stages and ALTER of file formats.

fakesnow records a stage's URL only: its COMMENT, STORAGE_INTEGRATION and DIRECTORY table setting are dropped,
and SHOW STAGES reports '' / NULL / 'N' for them. Here:

- CREATE STAGE runs in fakesnow, then writes those three into fakesnow's own `_fs_stages` row (so SHOW STAGES
  reports them) and the stage's FILE_FORMAT = (FORMAT_NAME = ...) into `_fs_global._localsnow.stage_file_formats`;
- ALTER STAGE [IF EXISTS] s SET URL / STORAGE_INTEGRATION / FILE_FORMAT / COMMENT / DIRECTORY = (ENABLE = ...);
- DESCRIBE STAGE s: Snowflake's property rows for the properties above (a subset of Snowflake's rows);
- ALTER FILE FORMAT [IF EXISTS] f SET <format options> [COMMENT = '...'] (TYPE cannot be altered, as in Snowflake).
  The options are kept and reported by SHOW FILE FORMATS; reading JSON lines (COPY, external tables) honours
  COMPRESSION only, as before.

A storage integration is recorded, not checked: the emulator has no integrations. Stages are read from S3 with the
local stack's own credentials whatever the integration.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

import duckdb
import sqlglot
from fakesnow.transforms.options import parse_options
from fakesnow.transforms.stage import parts_from_var
from sqlglot import exp

from devstack.localsnow import fakesnow_bridge as bridge
from devstack.localsnow.fakesnow_bridge import ProgrammingError

if TYPE_CHECKING:
    from collections.abc import Callable

    from fakesnow.cursor import FakeSnowflakeCursor

REGISTRY_SQL = """
CREATE SCHEMA IF NOT EXISTS _fs_global._localsnow;
CREATE TABLE IF NOT EXISTS _fs_global._localsnow.stage_file_formats (
    database_name VARCHAR, schema_name VARCHAR, name VARCHAR, format_name VARCHAR,
    PRIMARY KEY (database_name, schema_name, name)
);
"""
DESCRIBE_COLUMNS = (
    ("parent_property", "VARCHAR"),
    ("property", "VARCHAR"),
    ("property_type", "VARCHAR"),
    ("property_value", "VARCHAR"),
    ("property_default", "VARCHAR"),
)
_NAME = r'(?:"[^"]+"|[^\s."]+)(?:\.(?:"[^"]+"|[^\s."]+)){0,2}'
_ALTER = re.compile(
    rf"\s*(?P<kind>STAGE|FILE\s+FORMAT)\s+(?P<if_exists>IF\s+EXISTS\s+)?(?P<name>{_NAME})\s+SET\s+(?P<options>.+?)\s*;?\s*",
    re.IGNORECASE | re.DOTALL,
)


def create_registry(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(REGISTRY_SQL)


def handler(expression: exp.Expr, sql: str) -> Callable[[FakeSnowflakeCursor, Callable[[str], Any]], bool] | None:
    """The localsnow implementation of this statement, if it is one of this module's."""
    if isinstance(expression, exp.Create) and str(expression.args.get("kind") or "").upper() == "STAGE":
        return lambda cursor, run_snowflake_sql: _create_stage(cursor, expression, sql, run_snowflake_sql)
    if isinstance(expression, exp.Describe) and str(expression.args.get("kind") or "").upper() == "STAGE":
        return lambda cursor, _: _describe_stage(cursor, expression)
    alter = isinstance(expression, exp.Command) and expression.name.upper() == "ALTER"
    if alter and (match := _ALTER.fullmatch(str(expression.expression))):
        if match["kind"].upper() == "STAGE":
            return lambda cursor, _: _alter_stage(cursor, match)
        return lambda cursor, _: _alter_file_format(cursor, match)
    return None


def _create_stage(cursor: FakeSnowflakeCursor, expression: exp.Create, sql: str, run_snowflake_sql: Any) -> bool:
    conn = bridge.session(cursor)
    stage = _stage_key(cursor, expression.find(exp.Table).sql(dialect="snowflake"))
    existed = _stage_exists(bridge.duck(cursor), stage)
    run_snowflake_sql(sql)
    if existed and not expression.args.get("replace"):
        return True  # IF NOT EXISTS on an existing stage, or fakesnow's "already exists" error: nothing changes
    properties = list((expression.args.get("properties") or exp.Properties()).expressions)
    values = {"COMMENT": "", "STORAGE_INTEGRATION": None, "DIRECTORY": False, "FORMAT_NAME": None}
    values.update(_stage_properties(properties, conn.database, conn.schema))
    _write_stage(cursor, stage, values)
    return True


def _alter_stage(cursor: FakeSnowflakeCursor, match: re.Match[str]) -> bool:
    conn = bridge.session(cursor)
    stage = _stage_key(cursor, match["name"])
    if not _stage_exists(bridge.duck(cursor), stage):
        if match["if_exists"]:
            bridge.status_result(cursor, "Statement executed successfully.")
            return True
        raise ProgrammingError(
            msg=f"SQL compilation error:\nStage '{'.'.join(stage)}' does not exist or not authorized.",
            errno=2003,
            sqlstate="02000",
        )
    properties = _options_as_properties("STAGE", match["options"])
    values = _stage_properties(properties, conn.database, conn.schema)
    if not values:
        raise NotImplementedError(f"ALTER STAGE ... SET {match['options'][:60]}")
    _write_stage(cursor, stage, values)
    bridge.status_result(cursor, "Statement executed successfully.")
    return True


def _describe_stage(cursor: FakeSnowflakeCursor, expression: exp.Describe) -> bool:
    stage = _stage_key(cursor, expression.find(exp.Table).sql(dialect="snowflake"))
    row = (
        bridge.duck(cursor)
        .execute(
            "SELECT s.url, s.storage_integration, s.directory_enabled, f.format_name "
            "FROM _fs_global._fs_information_schema._fs_stages s LEFT JOIN _fs_global._localsnow.stage_file_formats f "
            "ON f.database_name = s.database_name AND f.schema_name = s.schema_name AND f.name = s.name "
            "WHERE s.database_name = ? AND s.schema_name = ? AND s.name = ?",
            list(stage),
        )
        .fetchone()
    )
    if row is None:
        raise ProgrammingError(
            msg=f"SQL compilation error:\nStage '{'.'.join(stage)}' does not exist or not authorized.",
            errno=2003,
            sqlstate="02000",
        )
    url, integration, directory, format_name = row
    rows = [
        ("STAGE_FILE_FORMAT", "FORMAT_NAME", "String", format_name or "", ""),
        ("STAGE_LOCATION", "URL", "String", json.dumps([url]) if url else "", ""),
        ("STAGE_INTEGRATION", "STORAGE_INTEGRATION", "String", integration or "", ""),
        ("DIRECTORY", "ENABLE", "Boolean", "true" if directory == "Y" else "false", "false"),
    ]
    bridge.rows_result(cursor, DESCRIBE_COLUMNS, rows)
    return True


def _alter_file_format(cursor: FakeSnowflakeCursor, match: re.Match[str]) -> bool:
    conn, con = bridge.session(cursor), bridge.duck(cursor)
    key = parts_from_var(match["name"], conn.database, conn.schema)
    row = con.execute(
        "SELECT options, comment FROM _fs_global._fs_information_schema._fs_file_formats "
        "WHERE database_name = ? AND schema_name = ? AND name = ?",
        list(key),
    ).fetchone()
    if row is None:
        if match["if_exists"]:
            bridge.status_result(cursor, "Statement executed successfully.")
            return True
        raise ProgrammingError(
            msg=f"SQL compilation error:\nFile format '{'.'.join(key)}' does not exist or not authorized.",
            errno=2003,
            sqlstate="02000",
        )
    changes = parse_options(_options_as_properties("FILE FORMAT", match["options"]))
    if "TYPE" in changes:
        raise ProgrammingError(
            msg="SQL compilation error:\nThe TYPE of a file format cannot be altered: create or replace it.",
            errno=1008,
            sqlstate="22023",
        )
    comment = str(changes.pop("COMMENT", row[1] or ""))
    options = {**json.loads(row[0]), **changes}
    with bridge.ddl_transaction(cursor) as con:
        con.execute(
            "UPDATE _fs_global._fs_information_schema._fs_file_formats SET options = ?, comment = ? "
            "WHERE database_name = ? AND schema_name = ? AND name = ?",
            [json.dumps(options), comment, *key],
        )
    bridge.status_result(cursor, "Statement executed successfully.")
    return True


def _options_as_properties(kind: str, options: str) -> list[exp.Expr]:
    """The `k = v ...` list of an ALTER ... SET, parsed the way sqlglot parses the same list in a CREATE."""
    create = sqlglot.parse_one(f"CREATE {kind} LOCALSNOW_ALTER {options}", read="snowflake")
    if not isinstance(create, exp.Create):
        raise NotImplementedError(f"ALTER {kind} ... SET {options[:60]}")
    return list((create.args.get("properties") or exp.Properties()).expressions)


def _stage_properties(properties: list[exp.Expr], database: str | None, schema: str | None) -> dict[str, Any]:
    """COMMENT, URL, STORAGE_INTEGRATION, DIRECTORY (enabled or not) and FORMAT_NAME found in the properties."""
    values: dict[str, Any] = {}
    for prop in properties:
        if isinstance(prop, exp.SchemaCommentProperty):
            values["COMMENT"] = prop.this.name
        elif isinstance(prop, exp.FileFormatProperty):
            for option in prop.expressions:
                if isinstance(option, exp.Property) and option.name.upper() == "FORMAT_NAME":
                    value = option.args["value"]
                    name = value.sql(dialect="snowflake") if isinstance(value, exp.Table) else value.name
                    values["FORMAT_NAME"] = ".".join(parts_from_var(name, database, schema))
        elif isinstance(prop, exp.Property) and prop.name.upper() == "DIRECTORY":
            enable = next((eq.expression for eq in prop.find_all(exp.EQ) if eq.this.name.upper() == "ENABLE"), None)
            values["DIRECTORY"] = isinstance(enable, exp.Boolean) and bool(enable.this)
        elif isinstance(prop, exp.Property) and prop.name.upper() in ("URL", "STORAGE_INTEGRATION"):
            values[prop.name.upper()] = prop.args["value"].name
    return values


def _write_stage(cursor: FakeSnowflakeCursor, stage: tuple[str, str, str], values: dict[str, Any]) -> None:
    columns = {"COMMENT": "comment", "URL": "url", "STORAGE_INTEGRATION": "storage_integration"}
    with bridge.ddl_transaction(cursor) as con:
        for key, column in columns.items():
            if key in values:
                # The column name comes from the fixed mapping above; every value is bound.
                con.execute(
                    f"UPDATE _fs_global._fs_information_schema._fs_stages SET {column} = ? "
                    "WHERE database_name = ? AND schema_name = ? AND name = ?",
                    [values[key], *stage],
                )
        if "DIRECTORY" in values:
            con.execute(
                "UPDATE _fs_global._fs_information_schema._fs_stages SET directory_enabled = ? "
                "WHERE database_name = ? AND schema_name = ? AND name = ?",
                ["Y" if values["DIRECTORY"] else "N", *stage],
            )
        if "FORMAT_NAME" in values:
            con.execute(
                "INSERT OR REPLACE INTO _fs_global._localsnow.stage_file_formats VALUES (?, ?, ?, ?)",
                [*stage, values["FORMAT_NAME"]],
            )


def _stage_key(cursor: FakeSnowflakeCursor, name: str) -> tuple[str, str, str]:
    conn = bridge.session(cursor)
    return tuple(parts_from_var(name, conn.database, conn.schema))  # type: ignore[return-value]


def _stage_exists(con: duckdb.DuckDBPyConnection, stage: tuple[str, str, str]) -> bool:
    return bool(
        con.execute(
            "SELECT 1 FROM _fs_global._fs_information_schema._fs_stages "
            "WHERE database_name = ? AND schema_name = ? AND name = ?",
            list(stage),
        ).fetchone()
    )
