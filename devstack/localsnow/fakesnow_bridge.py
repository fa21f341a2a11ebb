"""Every use of fakesnow's internals by localsnow, in one place.

localsnow extends fakesnow 0.12 at a few seams (the cursor's transform pipeline, its result slot, its
transaction bookkeeping). They are private API, so they are wrapped here: a fakesnow upgrade is a review of
this one file.
"""

from __future__ import annotations

import string
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from typing import TYPE_CHECKING, Any

import duckdb
import fakesnow.info_schema
import fakesnow.transforms.transforms
import snowflake.connector.errors
import sqlglot
from fakesnow.dialect import parse_one
from fakesnow.transforms.file_format import lookup_file_format
from fakesnow.transforms.options import parse_options
from fakesnow.transforms.stage import not_found_error, parts_from_var
from sqlglot import exp

if TYPE_CHECKING:
    from fakesnow.conn import FakeSnowflakeConnection
    from fakesnow.cursor import FakeSnowflakeCursor

ProgrammingError = snowflake.connector.errors.ProgrammingError


def session(cursor: FakeSnowflakeCursor) -> FakeSnowflakeConnection:
    return cursor._conn


def duck(cursor: FakeSnowflakeCursor) -> duckdb.DuckDBPyConnection:
    """The session's own DuckDB connection: its transaction and temp objects are the session's."""
    return cursor._duck_conn


def client_side_sql(cursor: FakeSnowflakeCursor, command: str, params: Any, binding_params: Any) -> str | None:
    """The statement as it will run: pyformat parameters interpolated client-side, as the connector does.

    None when the parameters are server-side bindings (qmark/numeric), which localsnow's statements do not take.
    """
    if binding_params:
        return None
    if not params:
        return command
    if cursor._conn._paramstyle in ("pyformat", "format"):
        return cursor._rewrite_with_params(command, params)[0]
    return None


def set_sqlstate(cursor: FakeSnowflakeCursor, sqlstate: str | None) -> None:
    cursor._sqlstate = sqlstate


def to_duckdb(cursor: FakeSnowflakeCursor, snowflake_sql: str | exp.Expr) -> str:
    """Translate Snowflake SQL to DuckDB SQL with fakesnow's own transform pipeline.

    This is how expressions such as `VALUE:event_log_id::NUMBER` or `TO_TIMESTAMP_NTZ(..., 'YYYY/MM/DD/HH24')`
    mean exactly what they mean in any other query of the emulator.
    """
    expression = parse_one(snowflake_sql) if isinstance(snowflake_sql, str) else snowflake_sql
    return cursor._transform(expression, None).sql(dialect="duckdb")


def set_result(cursor: FakeSnowflakeCursor, duckdb_select: str) -> None:
    """Make the rows of a DuckDB SELECT the statement's result, the way fakesnow does for its own statements."""
    cursor._execute(sqlglot.parse_one(duckdb_select, read="duckdb"))


def status_result(cursor: FakeSnowflakeCursor, message: str) -> None:
    set_result(cursor, f"SELECT {exp.Literal.string(message).sql(dialect='duckdb')} AS status")


def rows_result(cursor: FakeSnowflakeCursor, columns: Sequence[tuple[str, str]], rows: Sequence[tuple]) -> None:
    """Make `rows` the statement's result, with typed columns (name, DuckDB type) even when there are none."""
    # Names are quoted: Snowflake's result columns include names such as `null?` and `primary key`.
    names = [exp.to_identifier(name, quoted=True).sql(dialect="duckdb") for name, _ in columns]
    select = ", ".join(f"CAST({name} AS {type_}) AS {name}" for name, (_, type_) in zip(names, columns, strict=True))
    if rows:
        values = exp.values(
            list(rows), alias="t", columns=[exp.to_identifier(name, quoted=True) for name, _ in columns]
        )
        set_result(cursor, f"SELECT {select} FROM {values.sql(dialect='duckdb')}")
    else:
        nulls = ", ".join(f"NULL AS {name}" for name in names)
        set_result(cursor, f"SELECT {select} FROM (SELECT {nulls}) WHERE false")


def commit_before_ddl(cursor: FakeSnowflakeCursor) -> None:
    """Snowflake commits the open transaction before any DDL; fakesnow does the same for the DDL it knows."""
    conn = session(cursor)
    if not conn._autocommit and conn._in_transaction:
        duck(cursor).commit()
        conn._in_transaction = False


@contextmanager
def dml_transaction(cursor: FakeSnowflakeCursor) -> Iterator[duckdb.DuckDBPyConnection]:
    """Run a multi-step DML statement atomically.

    With autocommit on, the statement is its own transaction (committed on success, rolled back on error).
    With autocommit off it joins the session's transaction, opened the way fakesnow opens it for DML, and the
    client's COMMIT or ROLLBACK decides.
    """
    conn, con = session(cursor), duck(cursor)
    owns = False
    if conn._autocommit or not conn._in_transaction:
        try:
            con.begin()
        except duckdb.TransactionException:
            pass  # an explicit BEGIN is already open: join it
        else:
            owns = conn._autocommit
            if not conn._autocommit:
                conn._in_transaction = True
    try:
        yield con
    except BaseException:
        if owns:
            with suppress(duckdb.Error):
                con.rollback()
        raise
    if owns:
        con.commit()


@contextmanager
def ddl_transaction(cursor: FakeSnowflakeCursor) -> Iterator[duckdb.DuckDBPyConnection]:
    """DDL commits what the session had open, then runs as its own transaction, whatever the autocommit mode."""
    commit_before_ddl(cursor)
    con = duck(cursor)
    try:
        con.begin()
    except duckdb.TransactionException:  # an explicit BEGIN, autocommit on: the DDL commits it too
        con.commit()
        con.begin()
    try:
        yield con
    except BaseException:
        with suppress(duckdb.Error):
            con.rollback()
        raise
    con.commit()


@contextmanager
def duckdb_errors(context: str = "") -> Iterator[None]:
    """Report DuckDB errors as the Snowflake connector's ProgrammingError, as fakesnow's cursor does."""
    try:
        yield
    except duckdb.Error as error:
        message = str(error).split("\n")[0]
        raise ProgrammingError(
            msg=f"{context}{': ' if context else ''}{message}", errno=100038, sqlstate="22000"
        ) from error


def qualified_name(table: exp.Table, current_database: str | None, current_schema: str | None) -> tuple[str, str, str]:
    """(database, schema, name) of a table reference, upper-cased unless quoted, like Snowflake."""

    def part(identifier: exp.Expr | None, default: str | None, what: str) -> str:
        if isinstance(identifier, exp.Identifier):
            return identifier.this if identifier.quoted else identifier.this.upper()
        if default:
            return default
        raise ProgrammingError(
            msg=f"Cannot perform this statement. This session does not have a current {what}.",
            errno=90105,
            sqlstate="22000",
        )

    return (
        part(table.args.get("catalog"), current_database, "database"),
        part(table.args.get("db"), current_schema, "schema"),
        part(table.this, None, "name"),
    )


def split_stage_reference(reference: str) -> tuple[str, str]:
    """`@DB.SCHEMA.STAGE/some/path/` -> (`DB.SCHEMA.STAGE`, `some/path/`): the path keeps its case."""
    name, _, path = reference.removeprefix("@").partition("/")
    return name, path


def stage_url(
    con: duckdb.DuckDBPyConnection, name: str, current_database: str | None, current_schema: str | None
) -> tuple[str, str]:
    """(fully qualified name, URL ending in '/', or '' for an internal stage) of a named stage."""
    database, schema, stage = parts_from_var(name, current_database, current_schema)
    row = con.execute(
        "SELECT url FROM _fs_global._fs_information_schema._fs_stages "
        "WHERE database_name = ? AND schema_name = ? AND name = ?",
        [database, schema, stage],
    ).fetchone()
    fqn = f"{database}.{schema}.{stage}"
    if not row:
        raise not_found_error(fqn)
    url = row[0] or ""
    return fqn, url if not url or url.endswith("/") else url + "/"


def file_format_options(
    con: duckdb.DuckDBPyConnection,
    properties: list[exp.Expr],
    current_database: str | None,
    current_schema: str | None,
) -> dict[str, object]:
    """Options of a `FILE_FORMAT = (...)` clause, a FORMAT_NAME resolved through fakesnow's registry."""
    options = {}
    for prop in properties:
        if isinstance(prop, exp.Property) and prop.name.upper() == "FORMAT_NAME":
            value = prop.args["value"]
            name = value.sql(dialect="snowflake") if isinstance(value, exp.Table) else value.name
            options.update(lookup_file_format(con, name, current_database, current_schema))
        else:
            options.update(parse_options([prop]))
    return {key.upper(): value for key, value in options.items()}


def escape_table_comments() -> None:
    """fakesnow inlines a table's COMMENT into SQL unescaped: an apostrophe ended the string literal and failed
    the statement (DuckDB "unterminated string literal"). Its one formatter gets the values escaped (idempotent)."""
    original = fakesnow.info_schema.insert_table_comment_sql
    if getattr(original, "localsnow_escapes", False):
        return

    def insert_table_comment_sql(catalog: str, schema: str, table: str, comment: str) -> str:
        return original(*(str(value).replace("'", "''") for value in (catalog, schema, table, comment)))

    insert_table_comment_sql.localsnow_escapes = True  # type: ignore[attr-defined]
    fakesnow.info_schema.insert_table_comment_sql = insert_table_comment_sql


_DESCRIBE_FIXES = (
    # the column's comment, where fakesnow's query always returned NULL
    ('NULL::VARCHAR AS "comment"', '"comment" AS "comment"'),
    # every database's columns: the unqualified view is the session's database's, so a table of another
    # database had no columns
    ("FROM _fs_information_schema._fs_columns", "FROM _fs_global._fs_information_schema._fs_columns"),
)


def describe_table_fixes() -> None:
    """DESCRIBE TABLE reports each column's comment, and the columns of a table in any database (idempotent)."""
    text = fakesnow.transforms.transforms.SQL_DESCRIBE_TABLE.template
    for old, new in _DESCRIBE_FIXES:
        if old not in text and new not in text:
            raise RuntimeError("fakesnow's DESCRIBE TABLE query changed: review devstack/localsnow/fakesnow_bridge.py")
        text = text.replace(old, new)
    fakesnow.transforms.transforms.SQL_DESCRIBE_TABLE = string.Template(text)


__all__ = [
    "ProgrammingError",
    "client_side_sql",
    "commit_before_ddl",
    "ddl_transaction",
    "describe_table_fixes",
    "dml_transaction",
    "duck",
    "duckdb_errors",
    "escape_table_comments",
    "file_format_options",
    "qualified_name",
    "rows_result",
    "session",
    "set_result",
    "set_sqlstate",
    "split_stage_reference",
    "stage_url",
    "status_result",
    "to_duckdb",
]
