"""External tables on S3 stages: CREATE EXTERNAL TABLE, ALTER EXTERNAL TABLE ... REFRESH, DROP EXTERNAL TABLE.

fakesnow has no external tables. Here one is three things:

- its declaration: the CREATE statement as written plus the database and schema it ran in, persisted in
  `_fs_global._localsnow.external_tables` (a file in the data dir, see persistence.py);
- its registered files (path relative to the stage, ETag, size), in `_fs_global._localsnow.external_table_files`,
  which REFRESH compares with a fresh S3 listing, like Snowflake's external table metadata;
- its rows, materialized in a DuckDB table of the same name: `VALUE`, the declared columns, then
  `METADATA$FILENAME` and `METADATA$FILE_ROW_NUMBER`. The column expressions are the declaration's own
  Snowflake SQL, run through fakesnow's transform pipeline over the lines of the registered files, so
  `SELECT ... FROM ext WHERE REPLICATION_HOUR = ...` is an ordinary query.

Only files whose path relative to the stage fully matches PATTERN are ever registered. Lines that are not JSON
are not rows (REFRESH's description says how many a file has).
"""

from __future__ import annotations

import datetime
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import duckdb
import sqlglot
from sqlglot import exp

from devstack.localsnow import fakesnow_bridge as bridge
from devstack.localsnow import grants, jsonl, storage
from devstack.localsnow.fakesnow_bridge import ProgrammingError

if TYPE_CHECKING:
    from fakesnow.cursor import FakeSnowflakeCursor

log = logging.getLogger(__name__)

RunSnowflakeSql = Callable[[str], Any]

REGISTRY_SQL = """
CREATE SCHEMA IF NOT EXISTS _fs_global._localsnow;
CREATE TABLE IF NOT EXISTS _fs_global._localsnow.external_tables (
    database_name VARCHAR, schema_name VARCHAR, name VARCHAR,
    ddl VARCHAR, current_database VARCHAR, current_schema VARCHAR, created_on TIMESTAMPTZ,
    PRIMARY KEY (database_name, schema_name, name)
);
CREATE TABLE IF NOT EXISTS _fs_global._localsnow.external_table_files (
    database_name VARCHAR, schema_name VARCHAR, table_name VARCHAR, file VARCHAR,
    etag VARCHAR, size BIGINT, last_modified TIMESTAMP, registered_on TIMESTAMPTZ,
    PRIMARY KEY (database_name, schema_name, table_name, file)
);
"""
REFRESH_COLUMNS = (("file", "VARCHAR"), ("status", "VARCHAR"), ("description", "VARCHAR"))
METADATA_COLUMNS = ("METADATA$FILENAME", "METADATA$FILE_ROW_NUMBER")
_NAME = r'(?:"[^"]+"|[^\s."]+)'
_ALTER = re.compile(
    rf"\s*EXTERNAL\s+TABLE\s+(?P<if_exists>IF\s+EXISTS\s+)?(?P<name>{_NAME}(?:\.{_NAME}){{0,2}})"
    r"\s+REFRESH(?:\s+(?P<path>'(?:[^']|'')*'))?\s*;?\s*",
    re.IGNORECASE,
)
_DROP = re.compile(
    rf"\s*EXTERNAL\s+TABLE\s+(?P<if_exists>IF\s+EXISTS\s+)?(?P<name>{_NAME}(?:\.{_NAME}){{0,2}})\s*;?\s*",
    re.IGNORECASE,
)


def create_registry(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(REGISTRY_SQL)


@dataclass(frozen=True)
class Declaration:
    """A CREATE EXTERNAL TABLE statement, parsed in the database and schema it ran in."""

    ddl: str
    current_database: str | None
    current_schema: str | None
    create: exp.Create

    @classmethod
    def parse(cls, ddl: str, current_database: str | None, current_schema: str | None) -> Declaration:
        return cls(ddl, current_database, current_schema, sqlglot.parse_one(ddl, read="snowflake"))

    @property
    def table(self) -> tuple[str, str, str]:
        return bridge.qualified_name(self.create.find(exp.Table), self.current_database, self.current_schema)

    @property
    def columns(self) -> list[exp.ColumnDef]:
        schema = self.create.this
        return [c for c in schema.expressions if isinstance(c, exp.ColumnDef)] if isinstance(schema, exp.Schema) else []

    def option(self, kind: type[exp.Expr], name: str | None = None) -> exp.Expr | None:
        for prop in self.create.args.get("properties") or []:
            if isinstance(prop, kind) and (name is None or prop.name.upper() == name):
                return prop
        return None

    @property
    def location(self) -> tuple[str, str]:
        """(stage name, path inside the stage) of LOCATION = @stage/path."""
        prop = self.option(exp.LocationProperty)
        if prop is None or not prop.this.name.startswith("@"):
            raise ProgrammingError(msg="External table needs LOCATION = @stage/path", errno=1003, sqlstate="42000")
        return bridge.split_stage_reference(prop.this.name)

    @property
    def pattern(self) -> str | None:
        prop = self.option(exp.Property, "PATTERN")
        return prop.args["value"].name if prop else None

    @property
    def refresh_on_create(self) -> bool:
        prop = self.option(exp.Property, "REFRESH_ON_CREATE")
        if prop is None:
            return True  # Snowflake's default
        value = prop.args["value"]
        return value.this if isinstance(value, exp.Boolean) else value.name.upper() != "FALSE"

    @property
    def comment(self) -> str | None:
        prop = self.option(exp.SchemaCommentProperty)
        return prop.this.name if prop else None

    def format_options(self, con: duckdb.DuckDBPyConnection) -> dict[str, Any]:
        prop = self.option(exp.FileFormatProperty)
        options = bridge.file_format_options(
            con, prop.expressions if prop else [], self.current_database, self.current_schema
        )
        if str(options.get("TYPE", "CSV")).upper() != "JSON":
            raise NotImplementedError(f"external table FILE_FORMAT TYPE = {options.get('TYPE', 'CSV')}")
        return options

    def stage_url(self, con: duckdb.DuckDBPyConnection) -> str:
        _, url = bridge.stage_url(con, self.location[0], self.current_database, self.current_schema)
        if not url.startswith("s3://"):
            raise NotImplementedError("an external table on a stage that is not on S3")
        return url


def create(cursor: FakeSnowflakeCursor, expression: exp.Create, ddl: str, run_snowflake_sql: RunSnowflakeSql) -> None:
    """CREATE [OR REPLACE] EXTERNAL TABLE [IF NOT EXISTS] ..., then REFRESH unless REFRESH_ON_CREATE = FALSE."""
    conn, con = bridge.session(cursor), bridge.duck(cursor)
    declaration = Declaration(ddl, conn.database, conn.schema, expression)
    database, schema, name = table = declaration.table
    declaration.format_options(con)  # fail now, not at the first refresh, on a format we cannot read
    declaration.stage_url(con)
    if _exists(con, table):
        if expression.args.get("exists"):
            bridge.status_result(cursor, f"{name} already exists, statement succeeded.")
            return
        if not expression.args.get("replace"):
            raise ProgrammingError(
                msg=f"SQL compilation error:\nObject '{name}' already exists.", errno=2002, sqlstate="42710"
            )
        _drop(cursor, table)

    # The materialized table, created by fakesnow from Snowflake types, as any other table would be.
    columns = ["VALUE VARIANT"]
    columns += [
        f"{c.this.sql(dialect='snowflake')} {c.args['kind'].sql(dialect='snowflake')}" for c in declaration.columns
    ]
    columns += ["METADATA$FILENAME VARCHAR", "METADATA$FILE_ROW_NUMBER NUMBER"]
    comment = f" COMMENT = {exp.Literal.string(declaration.comment).sql()}" if declaration.comment else ""
    run_snowflake_sql(f"CREATE TABLE {_quoted(table)} ({', '.join(columns)}){comment}")
    with bridge.ddl_transaction(cursor) as con:
        con.execute(
            "INSERT OR REPLACE INTO _fs_global._localsnow.external_tables VALUES (?, ?, ?, ?, ?, ?, ?)",
            [database, schema, name, ddl, conn.database, conn.schema, datetime.datetime.now(datetime.UTC)],
        )
    if declaration.refresh_on_create:
        refresh(cursor, declaration, "")
    log.info("created external table %s", ".".join(table))
    bridge.status_result(cursor, f"Table {name} successfully created.")


def alter(cursor: FakeSnowflakeCursor, command_text: str) -> None:
    """ALTER EXTERNAL TABLE [IF EXISTS] t REFRESH ['relative/path/']."""
    match = _ALTER.fullmatch(command_text)
    if not match:
        raise NotImplementedError(f"ALTER {command_text.strip()[:60]}")
    declaration = _declaration(cursor, match["name"], bool(match["if_exists"]))
    if declaration is None:
        bridge.status_result(cursor, "Statement executed successfully.")
        return
    sub_path = sqlglot.parse_one(match["path"], read="snowflake").name if match["path"] else ""
    rows = refresh(cursor, declaration, sub_path.lstrip("/"))
    bridge.rows_result(cursor, REFRESH_COLUMNS, rows)


def drop(cursor: FakeSnowflakeCursor, command_text: str) -> None:
    """DROP EXTERNAL TABLE [IF EXISTS] t."""
    match = _DROP.fullmatch(command_text)
    if not match:
        raise NotImplementedError(f"DROP {command_text.strip()[:60]}")
    declaration = _declaration(cursor, match["name"], bool(match["if_exists"]))
    if declaration is None:
        bridge.status_result(cursor, "Statement executed successfully.")
        return
    _drop(cursor, declaration.table)
    bridge.status_result(cursor, f"{declaration.table[2]} successfully dropped.")


def refresh(cursor: FakeSnowflakeCursor, declaration: Declaration, sub_path: str) -> list[tuple[str, str, str]]:
    """Register the files now under LOCATION + sub_path, unregister those gone; return Snowflake's rows."""
    con = bridge.duck(cursor)
    database, schema, name = table = declaration.table
    prefix = declaration.location[1] + sub_path
    compression = jsonl.duckdb_compression(declaration.format_options(con))
    listed = storage.matching(storage.list_files(declaration.stage_url(con), prefix), declaration.pattern)
    registered = {
        file: (etag, size)
        for file, etag, size in con.execute(
            "SELECT file, etag, size FROM _fs_global._localsnow.external_table_files "
            "WHERE database_name = ? AND schema_name = ? AND table_name = ? AND starts_with(file, ?)",
            [database, schema, name, prefix],
        ).fetchall()
    }
    new = [f for f in listed if f.name not in registered]
    updated = [f for f in listed if f.name in registered and registered[f.name] != (f.etag, f.size)]
    gone = sorted(set(registered) - {f.name for f in listed})
    to_read = new + updated
    bad_counts: dict[int, int] = {}

    # The rows, in the table's database; the registry, in _fs_global: DuckDB writes one database per
    # transaction, so these are two, rows first (a crash in between leaves files to register again).
    with bridge.ddl_transaction(cursor) as con:
        try:
            # New files too: rows a refresh committed before failing to record its files must not double.
            if to_read or gone:
                # The table name is quoted and escaped by _quoted (DuckDB binds values only); the files are bound.
                con.execute(
                    "DELETE FROM " + _quoted(table) + ' WHERE list_contains(?, "METADATA$FILENAME")',
                    [[f.name for f in to_read] + gone],
                )
            if to_read:
                jsonl.read(con, to_read, compression)
                for line in jsonl.bad_lines(con):
                    bad_counts[line.file_index] = bad_counts.get(line.file_index, 0) + 1
                with bridge.duckdb_errors(f"refreshing external table {name}"):
                    con.execute(_insert_sql(cursor, declaration))
        finally:
            jsonl.drop(con)
    now = datetime.datetime.now(datetime.UTC)
    with bridge.ddl_transaction(cursor) as con:
        if gone or updated:
            con.execute(
                "DELETE FROM _fs_global._localsnow.external_table_files WHERE database_name = ? "
                "AND schema_name = ? AND table_name = ? AND list_contains(?, file)",
                [database, schema, name, gone + [f.name for f in updated]],
            )
        if to_read:
            con.executemany(
                "INSERT INTO _fs_global._localsnow.external_table_files VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (database, schema, name, f.name, f.etag, f.size, f.last_modified.replace(tzinfo=None), now)
                    for f in to_read
                ],
            )

    rows = []
    for index, file in enumerate(to_read):
        description = "File registered successfully."
        if bad := bad_counts.get(index):
            description += f" {bad} line(s) are not valid JSON and are not rows of the table."
        rows.append((file.name, "REGISTERED_NEW" if file in new else "REGISTERED_UPDATE", description))
    rows += [(file, "UNREGISTERED", "File unregistered successfully.") for file in gone]
    log.info(
        "refreshed external table %s under %r: %d new, %d updated, %d unregistered",
        ".".join(table),
        prefix,
        len(new),
        len(updated),
        len(gone),
    )
    return sorted(rows)


def _insert_sql(cursor: FakeSnowflakeCursor, declaration: Declaration) -> str:
    """INSERT of the lines read: VALUE, the declared column expressions, the file metadata."""
    targets = [exp.to_identifier("VALUE")]
    values: list[exp.Expr] = [exp.column("VALUE")]
    for column in declaration.columns:
        constraint = column.find(exp.ComputedColumnConstraint)
        if constraint is None:
            raise ProgrammingError(
                msg=f"External table column {column.name} needs AS (expression)", errno=1003, sqlstate="42000"
            )
        targets.append(column.this.copy())
        values.append(constraint.this.copy())
    for metadata in METADATA_COLUMNS:
        targets.append(exp.to_identifier(metadata))
        values.append(exp.column(metadata))
    select = exp.select(*values).from_(jsonl.SOURCE)
    into = exp.Schema(this=exp.to_table(_quoted(declaration.table), dialect="snowflake"), expressions=targets)
    return bridge.to_duckdb(cursor, exp.insert(select, into))


def _declaration(cursor: FakeSnowflakeCursor, name: str, if_exists: bool) -> Declaration | None:
    conn, con = bridge.session(cursor), bridge.duck(cursor)
    database, schema, table = bridge.qualified_name(exp.to_table(name, dialect="snowflake"), conn.database, conn.schema)
    row = con.execute(
        "SELECT ddl, current_database, current_schema FROM _fs_global._localsnow.external_tables "
        "WHERE database_name = ? AND schema_name = ? AND name = ?",
        [database, schema, table],
    ).fetchone()
    if row and _exists(con, (database, schema, table)):
        return Declaration.parse(*row)
    if if_exists:
        return None
    raise ProgrammingError(
        msg=f"SQL compilation error:\nTable '{database}.{schema}.{table}' does not exist or not authorized.",
        errno=2003,
        sqlstate="02000",
    )


def _exists(con: duckdb.DuckDBPyConnection, table: tuple[str, str, str]) -> bool:
    return bool(
        con.execute(
            "SELECT 1 FROM duckdb_tables() WHERE database_name = ? AND schema_name = ? AND table_name = ?",
            list(table),
        ).fetchone()
    )


def _drop(cursor: FakeSnowflakeCursor, table: tuple[str, str, str]) -> None:
    database, schema, name = table
    with bridge.ddl_transaction(cursor) as con:
        con.execute(f"DROP TABLE IF EXISTS {_quoted(table)}")
    with bridge.ddl_transaction(cursor) as con:
        for registry, column in (("external_tables", "name"), ("external_table_files", "table_name")):
            con.execute(
                f"DELETE FROM _fs_global._localsnow.{registry} "
                f"WHERE database_name = ? AND schema_name = ? AND {column} = ?",
                [database, schema, name],
            )
        grants.forget(con, "EXTERNAL TABLE", table)  # as Snowflake does on DROP, and on REPLACE without COPY GRANTS


def _quoted(table: tuple[str, str, str]) -> str:
    return ".".join(exp.to_identifier(part, quoted=True).sql(dialect="snowflake") for part in table)
