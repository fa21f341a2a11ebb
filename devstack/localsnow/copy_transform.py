"""COPY INTO <table> from an S3 stage of JSON-lines files, with or without a transformation.

fakesnow's COPY reads JSON with `read_json_objects` and knows neither `METADATA$FILENAME` /
`METADATA$FILE_ROW_NUMBER`, nor ON_ERROR other than ABORT_STATEMENT, nor where a bad line is. Here:

1. the files are resolved like Snowflake does (FILES relative to the FROM path, else every file under it that
   fully matches PATTERN; files already loaded are skipped unless FORCE = TRUE);
2. their lines land in session temp tables (see jsonl.py), all read by DuckDB, gzip included;
3. ON_ERROR decides before anything is written: ABORT_STATEMENT (the default) raises naming the file and
   line, so a transaction the COPY runs in stays usable and unchanged; CONTINUE loads the valid lines;
4. the COPY's SELECT, Snowflake SQL with `$1` read as `VALUE`, goes through fakesnow's own transform pipeline
   into one `INSERT ... SELECT` over the valid lines, inside the session's transaction;
5. the result is Snowflake's one row per file: lines parsed and loaded, errors seen, the first error with its
   line and character.

Only ON_ERROR = ABORT_STATEMENT and CONTINUE are implemented (the package's COPY uses CONTINUE): SKIP_FILE,
SKIP_FILE_n and SKIP_FILE_n% are refused with an error naming the option. No rejected lines are kept, so a
query of `TABLE(VALIDATE(...))` is refused too (statements.py); the package keeps its rejected lines itself
(include/event_log/load/rejects.py).

Statements this module does not handle (another file format, an internal stage, a URL source) are left to
fakesnow unchanged.
"""

from __future__ import annotations

import datetime
import logging
import re
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlglot import exp

from devstack.localsnow import fakesnow_bridge as bridge
from devstack.localsnow import jsonl, storage
from devstack.localsnow.fakesnow_bridge import ProgrammingError

if TYPE_CHECKING:
    from fakesnow.cursor import FakeSnowflakeCursor

log = logging.getLogger(__name__)

RESULT_COLUMNS = (
    ("file", "VARCHAR"),
    ("status", "VARCHAR"),
    ("rows_parsed", "BIGINT"),
    ("rows_loaded", "BIGINT"),
    ("error_limit", "BIGINT"),
    ("errors_seen", "BIGINT"),
    ("first_error", "VARCHAR"),
    ("first_error_line", "BIGINT"),
    ("first_error_character", "BIGINT"),
    ("first_error_column_name", "VARCHAR"),
)


@dataclass
class CopyStatement:
    """What a COPY INTO asks for, once names are resolved."""

    table: tuple[str, str, str]
    columns: list[str]
    select: exp.Select  # Snowflake SQL reading the staged files, `$1` as written
    stage_reference: str  # @DB.SCHEMA.STAGE/path
    stage_url: str = ""  # s3://bucket/prefix/
    files: list[str] | None = None
    pattern: str | None = None
    format_options: dict[str, Any] = field(default_factory=dict)
    on_error: str = "ABORT_STATEMENT"
    force: bool = False


def copy_into(cursor: FakeSnowflakeCursor, expression: exp.Copy) -> bool:
    """Run a COPY INTO from an S3 stage of JSON files; False when the statement is fakesnow's to run."""
    statement = _parse(cursor, expression)
    if statement is None:
        return False
    started = time.monotonic()
    files = _resolve_files(statement)
    compression = jsonl.duckdb_compression(statement.format_options)
    results: list[tuple] = []
    with bridge.dml_transaction(cursor) as con:
        if not statement.force:
            files = _not_loaded_before(con, statement.table, files)
        if not files:
            bridge.status_result(cursor, "Copy executed with 0 files processed.")
            return True
        try:
            jsonl.read(con, files, compression)
            counts = jsonl.counts(con)
            bad = jsonl.bad_lines(con)
            if bad and statement.on_error == "ABORT_STATEMENT":
                raise jsonl.parse_error(files[bad[0].file_index], bad[0])
            with bridge.duckdb_errors(f"COPY INTO {'.'.join(statement.table)}"):
                con.execute(_insert_sql(cursor, statement))
            results = _results(statement, files, counts, bad)
            _record_load_history(con, statement.table, results)
        finally:
            jsonl.drop(con)
    bridge.rows_result(cursor, RESULT_COLUMNS, results)
    loaded = sum(r[3] for r in results)
    log.info(
        "COPY INTO %s: %d file(s), %d row(s) loaded, %d error(s), %.2fs",
        ".".join(statement.table),
        len(files),
        loaded,
        sum(r[5] for r in results),
        time.monotonic() - started,
    )
    return True


def _parse(cursor: FakeSnowflakeCursor, expression: exp.Copy) -> CopyStatement | None:
    conn, con = bridge.session(cursor), bridge.duck(cursor)
    target = expression.this
    table_expr = target.this if isinstance(target, exp.Schema) else target
    columns = [c.name for c in target.expressions] if isinstance(target, exp.Schema) else []
    source = expression.args["files"][0]
    if isinstance(source, exp.Subquery) and isinstance(source.this, exp.Select):
        select = source.this.copy()
        from_table = select.args["from_"].this
    elif isinstance(source, exp.Table):
        from_table = source
        select = exp.select(exp.Parameter(this=exp.Literal.number(1))).from_(source.copy())
    else:
        return None
    if not (isinstance(from_table, exp.Table) and isinstance(from_table.this, exp.Var)):
        return None  # a URL or a query fakesnow knows
    reference = from_table.this.name
    if not reference.startswith("@") or reference.startswith(("@~", "@%")):
        return None  # user and table stages are internal: fakesnow's

    statement = CopyStatement(
        table=bridge.qualified_name(table_expr, conn.database, conn.schema),
        columns=columns,
        select=select,
        stage_reference=reference,
    )
    for param in expression.args.get("params") or []:
        name = param.this.name.upper()
        value = param.args.get("expression")
        if name == "FILE_FORMAT":
            statement.format_options = bridge.file_format_options(con, param.expressions, conn.database, conn.schema)
        elif name == "FILES":
            statement.files = [lit.name.lstrip("/") for lit in param.find_all(exp.Literal)]
        elif name == "PATTERN":
            statement.pattern = value.name
        elif name == "ON_ERROR":
            statement.on_error = value.name.upper()
        elif name == "FORCE":
            statement.force = value.this is True if isinstance(value, exp.Boolean) else value.name.upper() == "TRUE"
        elif name in ("PURGE", "RETURN_FAILED_ONLY", "LOAD_UNCERTAIN_FILES", "SIZE_LIMIT", "TRUNCATECOLUMNS"):
            log.warning("COPY option %s is ignored by localsnow", name)
        else:
            raise NotImplementedError(f"COPY option {name} for JSON files")
    if str(statement.format_options.get("TYPE", "CSV")).upper() != "JSON":
        return None  # CSV and Parquet loads stay with fakesnow
    _, statement.stage_url = bridge.stage_url(con, _stage_name(statement), conn.database, conn.schema)
    if not statement.stage_url.startswith("s3://"):
        return None
    if re.fullmatch(r"SKIP_FILE(_\d+%?)?", statement.on_error):
        raise ProgrammingError(
            msg=f"COPY option ON_ERROR = {statement.on_error} is not implemented by the local Snowflake "
            "(devstack.localsnow): it supports ON_ERROR = ABORT_STATEMENT and CONTINUE only",
            errno=9999,
            sqlstate="99999",
        )
    if statement.on_error not in ("ABORT_STATEMENT", "CONTINUE"):
        raise ProgrammingError(
            msg=f"Invalid value '{statement.on_error}' for property 'ON_ERROR'", errno=1008, sqlstate="22023"
        )
    return statement


def _stage_name(statement: CopyStatement) -> str:
    return bridge.split_stage_reference(statement.stage_reference)[0]


def _resolve_files(statement: CopyStatement) -> list[storage.StagedFile]:
    stage_url = statement.stage_url
    path = bridge.split_stage_reference(statement.stage_reference)[1]
    listed = storage.list_files(stage_url, path)
    if statement.files is None:
        return storage.matching(listed, statement.pattern)
    folder = path if not path or path.endswith("/") else path + "/"
    by_name = {f.name: f for f in listed}
    files = []
    for name in dict.fromkeys(statement.files):  # Snowflake loads a name listed twice once
        if (folder + name) not in by_name:
            raise ProgrammingError(
                msg=f"Remote file '{stage_url}{folder}{name}' was not found. There are several potential causes. "
                "The file might not exist. The required credentials may be missing or invalid.",
                errno=91016,
                sqlstate="22000",
            )
        files.append(by_name[folder + name])
    return files


def _load_history(database: str) -> str:
    """fakesnow's load-history table of `database`, the name quoted and escaped as an identifier (DuckDB binds
    values only, so the table name is the one part of these statements not passed as a parameter)."""
    quoted = exp.to_identifier(database, quoted=True).sql(dialect="duckdb")
    return f"{quoted}._fs_information_schema._fs_load_history"


def _not_loaded_before(con: Any, table: tuple[str, str, str], files: list[storage.StagedFile]) -> list:
    """Snowflake's load metadata: without FORCE, a file already loaded into the table is skipped."""
    database, schema, name = table
    loaded = {
        row[0]
        for row in con.execute(
            "SELECT FILE_NAME FROM " + _load_history(database) + " "
            "WHERE SCHEMA_NAME = ? AND TABLE_NAME = ? AND STATUS IN ('LOADED', 'PARTIALLY_LOADED')",
            [schema, name],
        ).fetchall()
    }
    return [f for f in files if f.url not in loaded]


def _error_limit(on_error: str, rows_parsed: int) -> int:
    """The result's ERROR_LIMIT as Snowflake reports it: the lines parsed for CONTINUE, 1 for ABORT_STATEMENT."""
    return max(rows_parsed, 1) if on_error == "CONTINUE" else 1


def _insert_sql(cursor: FakeSnowflakeCursor, statement: CopyStatement) -> str:
    """The COPY's SELECT over the valid lines, as one INSERT, in DuckDB SQL produced by fakesnow."""
    select = statement.select.copy()

    def source_columns(node: exp.Expr) -> exp.Expr:
        if isinstance(node, exp.Parameter) and node.name == "1":
            return exp.column("VALUE")
        if isinstance(node, exp.Column) and isinstance(node.this, exp.Parameter):
            return exp.column("VALUE") if node.this.name == "1" else node.this
        if isinstance(node, exp.Parameter) and node.name.isdigit():
            raise ProgrammingError(
                msg=f"SQL compilation error: ${node.name}: a JSON file has one column, $1",
                errno=904,
                sqlstate="42000",
            )
        return node

    select = select.transform(source_columns)
    from_table = select.args["from_"].this
    alias = from_table.args.get("alias")
    from_table.replace(exp.Table(this=exp.to_identifier(jsonl.SOURCE), alias=alias))
    database, schema, name = statement.table
    target = exp.Table(
        this=exp.to_identifier(name, quoted=True),
        db=exp.to_identifier(schema, quoted=True),
        catalog=exp.to_identifier(database, quoted=True),
    )
    if statement.columns:
        into: exp.Expr = exp.Schema(this=target, expressions=[exp.to_identifier(c) for c in statement.columns])
    else:
        into = target
    return bridge.to_duckdb(cursor, exp.insert(select, into))


def _results(
    statement: CopyStatement,
    files: list[storage.StagedFile],
    counts: dict[int, jsonl.FileCounts],
    bad: list[jsonl.BadLine],
) -> list[tuple]:
    """Snowflake's COPY result: one row per file."""
    first_bad: dict[int, jsonl.BadLine] = {}
    seen: dict[int, int] = {}
    for line in bad:
        first_bad.setdefault(line.file_index, line)
        seen[line.file_index] = seen.get(line.file_index, 0) + 1
    rows = []
    for index, file in enumerate(files):
        count = counts.get(index, jsonl.FileCounts(0, 0))
        errors = seen.get(index, 0)
        loaded = count.rows_valid
        if errors == 0:
            status = "LOADED"
        elif loaded == 0:
            status = "LOAD_FAILED"
        else:
            status = "PARTIALLY_LOADED"
        first = first_bad.get(index)
        message, character = first.error() if first else (None, None)
        rows.append(
            (
                file.url,
                status,
                count.rows_parsed,
                loaded,
                _error_limit(statement.on_error, count.rows_parsed),
                errors,
                message,
                first.line if first else None,
                character,
                None,  # a JSON parse error is about the whole line, not a column
            )
        )
    return rows


def _record_load_history(con: Any, table: tuple[str, str, str], results: list[tuple]) -> None:
    """Feed fakesnow's LOAD_HISTORY (same database as the table, so the same transaction)."""
    database, schema, name = table
    now = datetime.datetime.now(datetime.UTC)
    con.executemany(
        "INSERT INTO " + _load_history(database) + " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [(schema, r[0], name, now, r[1], r[3], r[2], r[6], r[7], r[8], r[9], r[5], r[4]) for r in results],
    )
