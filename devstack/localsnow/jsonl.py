"""Read JSON-lines stage files into the session's temp tables, one row per physical line, with DuckDB.

Shared by COPY and external tables. Each line is kept with its file and 1-based line number, and parsed
once: a valid line as its JSON value, any other line as its text (blank, or not JSON), so that a statement
can refuse the whole load, skip bad lines, or report them (VALIDATE) without reading the files again. No
Python touches the lines on the happy path: DuckDB reads the files through the registered S3 filesystem,
gzip included.

The relation `SOURCE` then offers what a Snowflake query on staged JSON sees: `VALUE` (the `$1` VARIANT),
`METADATA$FILENAME`, `METADATA$FILE_ROW_NUMBER`, `METADATA$FILE_LAST_MODIFIED`, `METADATA$FILE_CONTENT_KEY`
and `METADATA$START_SCAN_TIME`, for the valid lines only.
"""

from __future__ import annotations

import json
from contextlib import suppress
from dataclasses import dataclass

import duckdb

from devstack.localsnow.fakesnow_bridge import ProgrammingError, duckdb_errors
from devstack.localsnow.storage import StagedFile

FILES = "_localsnow_files"
LINES = "_localsnow_lines"
SOURCE = "_LOCALSNOW_SOURCE"

# Lines are read as single-column CSV rows: \x01 never occurs in valid JSON text (control characters must be
# escaped), and no quoting or escaping applies, so a row is exactly a physical line (empty lines included).
_DELIMITER = "\x01"
# A VARIANT holds at most 16 MB (compressed); events are far smaller, but never split a big one.
_MAX_LINE_BYTES = 32 * 1024 * 1024

# A line that is neither JSON nor blank (only spaces, tabs, CRs). `text` is NULL on valid and empty lines, so
# this only trims the few lines that are not JSON.
_BAD = "value IS NULL AND trim(text, ' ' || chr(9) || chr(13)) <> ''"

_COMPRESSION = {"AUTO": "auto", "AUTO_DETECT": "auto", "GZIP": "gzip", "NONE": "none", "ZSTD": "zstd"}


@dataclass(frozen=True)
class FileCounts:
    rows_parsed: int  # non-blank lines
    rows_valid: int  # lines that are valid JSON


@dataclass(frozen=True)
class BadLine:
    file_index: int
    line: int
    text: str

    def error(self) -> tuple[str, int]:
        """(Snowflake-like message, 1-based character) of the JSON error; computed on error paths only."""
        try:
            json.loads(self.text)
        except json.JSONDecodeError as error:
            return f"Error parsing JSON: {error.msg}, pos {error.pos}", error.pos + 1
        except ValueError:
            pass
        return "Error parsing JSON: invalid document", 1


def duckdb_compression(options: dict[str, object]) -> str:
    value = str(options.get("COMPRESSION", "AUTO")).upper()
    if value not in _COMPRESSION:
        raise NotImplementedError(f"COMPRESSION = {value} for JSON files")
    return _COMPRESSION[value]


def read(con: duckdb.DuckDBPyConnection, files: list[StagedFile], compression: str) -> None:
    """(Re)create the session's temp tables FILES and LINES and the view SOURCE over `files`."""
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {FILES} (file_index INTEGER, name VARCHAR, url VARCHAR, "
        "last_modified TIMESTAMP, content_key VARCHAR)"
    )
    if files:
        con.executemany(
            f"INSERT INTO {FILES} VALUES (?, ?, ?, ?, ?)",
            [(i, f.name, f.url, f.last_modified.replace(tzinfo=None), f.etag) for i, f in enumerate(files)],
        )
    # `value` is the line's JSON when it is JSON (a top-level scalar or `null` included), else NULL; `text` is
    # the line when it is not (blank lines included: NULL when empty). Valid lines, nearly all of them, are
    # held once, as JSON, parsed once: no second copy of their text, no second parse when they are inserted.
    con.execute(f"CREATE OR REPLACE TEMP TABLE {LINES} (file_index INTEGER, line BIGINT, value JSON, text VARCHAR)")
    for index, file in enumerate(files):
        # row_number() over () is a streaming window in DuckDB: it numbers rows in scan order, which is
        # the file's line order. One statement per file keeps the numbering per file.
        reader = (
            f"read_csv({_literal(file.url)}, columns = {{'text': 'VARCHAR'}}, header = false, "
            f"auto_detect = false, delim = {_literal(_DELIMITER)}, quote = '', escape = '', "
            f"strict_mode = false, compression = {_literal(compression)}, "
            f"max_line_size = {_MAX_LINE_BYTES}, buffer_size = {2 * _MAX_LINE_BYTES})"
        )
        # TRY_CAST to JSON is json_valid()'s parse (same reader flags) and keeps the text as written, so a line
        # is a row exactly when json_valid() says so. Careful: DuckDB pushes a cast that is the only use of a
        # column into read_csv as the column's type, where even a TRY_CAST fails the whole read on the first
        # bad line; `text` is used here too, so the reader keeps it VARCHAR (tests/devstack/test_localsnow_jsonl).
        with duckdb_errors(f"File '{file.name}'"):
            con.execute(
                f"""
                INSERT INTO {LINES}
                SELECT {index}, line, value, CASE WHEN value IS NULL THEN text END
                FROM (SELECT row_number() OVER () AS line, TRY_CAST(text AS JSON) AS value, text FROM {reader})
                """
            )
    con.execute(
        f"""
        CREATE OR REPLACE TEMP VIEW {SOURCE} AS
        SELECT l.value AS "VALUE",
               f.name AS "METADATA$FILENAME",
               l.line AS "METADATA$FILE_ROW_NUMBER",
               f.last_modified AS "METADATA$FILE_LAST_MODIFIED",
               f.content_key AS "METADATA$FILE_CONTENT_KEY",
               CAST(now() AS TIMESTAMP) AS "METADATA$START_SCAN_TIME"
        FROM {LINES} AS l JOIN {FILES} AS f USING (file_index)
        WHERE l.value IS NOT NULL
        """
    )


def counts(con: duckdb.DuckDBPyConnection) -> dict[int, FileCounts]:
    rows = con.execute(
        f"SELECT file_index, count(value) + count(*) FILTER ({_BAD}), count(value) FROM {LINES} GROUP BY ALL"
    ).fetchall()
    return {index: FileCounts(parsed, valid) for index, parsed, valid in rows}


def bad_lines(con: duckdb.DuckDBPyConnection, limit: int | None = None) -> list[BadLine]:
    """Non-blank lines that are not JSON, in file and line order."""
    sql = f"SELECT file_index, line, text FROM {LINES} WHERE {_BAD} ORDER BY file_index, line"
    if limit is not None:
        sql += f" LIMIT {int(limit)}"
    return [BadLine(*row) for row in con.execute(sql).fetchall()]


def drop(con: duckdb.DuckDBPyConnection) -> None:
    """Drop the temp objects; harmless if a failed statement already aborted the transaction holding them."""
    for statement in (
        f"DROP VIEW IF EXISTS {SOURCE}",
        f"DROP TABLE IF EXISTS {LINES}",
        f"DROP TABLE IF EXISTS {FILES}",
    ):
        with suppress(duckdb.Error):
            con.execute(statement)


def parse_error(file: StagedFile, bad: BadLine) -> ProgrammingError:
    """Snowflake's ON_ERROR = ABORT_STATEMENT error for a line that is not JSON (errno 100069)."""
    message, character = bad.error()
    return ProgrammingError(
        msg=(
            f"{message}\n  File '{file.name}', line {bad.line}, character {character}\n"
            "  If you would like to continue loading when an error is encountered, use other values such as "
            "'SKIP_FILE' or 'CONTINUE' for the ON_ERROR option."
        ),
        errno=100069,
        sqlstate="22P02",
    )


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"
