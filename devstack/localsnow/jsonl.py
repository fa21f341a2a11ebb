"""Read JSON-lines stage files into the session's temp tables, one row per physical line, with DuckDB.

Shared by COPY and external tables. Each line is kept with its file and 1-based line number, and parsed
once: a valid line as its JSON value, any other line as its text (blank, or not JSON), so that a statement
can refuse the whole load (COPY with ON_ERROR = ABORT_STATEMENT) or skip the bad lines and count them per
file (COPY with ON_ERROR = CONTINUE, which also reports the first one's line and character; an external
table's refresh) without reading the files again. No Python touches the lines on the happy path: DuckDB reads
the files through the registered S3 filesystem, gzip included.

As Snowflake does, a line that is not valid UTF-8, or longer than the reader takes, is one rejected line (the
file goes on), never a failed statement; COMPRESSION = AUTO recognises gzip and zstd by their magic bytes, not
by the file name (a `.gz` name on a plain file, or a gzip file without one, loads like Snowflake loads it).

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
# DuckDB's record of the lines a read skipped (store_rejects): invalid UTF-8, longer than max_line_size.
READ_ERRORS = "_localsnow_read_errors"
READ_SCANS = "_localsnow_read_scans"

# Lines are read as single-column CSV rows: \x01 never occurs in valid JSON text (control characters must be
# escaped), and no quoting or escaping applies, so a row is exactly a physical line (empty lines included).
_DELIMITER = "\x01"
# Snowflake rejects a JSON document above its largest value (16 MB before the 2024_08 bundle, 128 MB since); the
# emulator rejects lines above 32 MiB, what it can hold per line, and never splits a line.
_MAX_LINE_BYTES = 32 * 1024 * 1024
# What COMPRESSION = AUTO recognises by content (Snowflake detects by content too, Brotli aside).
_MAGIC = ((b"\x1f\x8b", "gzip"), (b"\x28\xb5\x2f\xfd", "zstd"))
# DuckDB's error types of a skipped line, as Snowflake words them.
_READ_ERROR_MESSAGES = {
    "INVALID ENCODING": "Invalid UTF8 detected in string '{text}'",
    "LINE SIZE OVER MAXIMUM": f"Error parsing JSON: document is too large, max size {_MAX_LINE_BYTES} bytes",
}

# A line that is neither JSON nor blank (only spaces, tabs, CRs), or one the reader rejected (`error`). `text` is
# NULL on valid and empty lines, so this only trims the few lines that are not JSON.
_BAD = "value IS NULL AND (error IS NOT NULL OR trim(text, ' ' || chr(9) || chr(13)) <> '')"

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
    # Why the reader rejected the line (not UTF-8, too long); None for a line that is not JSON.
    reason: str | None = None

    def error(self) -> tuple[str, int]:
        """(Snowflake-like message, 1-based character) of the JSON error; computed on error paths only."""
        if self.reason:
            return self.reason, 1
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


def sniffed_compression(url: str, compression: str) -> str:
    """DuckDB's compression for one file: the format's, or for `auto` what the file's first bytes say."""
    if compression != "auto":
        return compression
    if url.startswith("s3://"):
        from devstack.localsnow.storage import filesystem

        head = filesystem().cat_file(url, start=0, end=4)
    else:
        with open(url, "rb") as local:
            head = local.read(4)
    return next((name for magic, name in _MAGIC if head.startswith(magic)), "none")


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
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {LINES} (file_index INTEGER, line BIGINT, value JSON, text VARCHAR, "
        "error VARCHAR)"
    )
    for index, file in enumerate(files):
        # row_number() over () is a streaming window in DuckDB: it numbers rows in scan order, which is
        # the file's line order. One statement per file keeps the numbering per file. Lines that are not UTF-8
        # or too long are skipped and recorded (ignore_errors, store_rejects), then numbered back in below.
        _drop_read_errors(con)
        reader = (
            f"read_csv({_literal(file.url)}, columns = {{'text': 'VARCHAR'}}, header = false, "
            f"auto_detect = false, delim = {_literal(_DELIMITER)}, quote = '', escape = '', "
            f"strict_mode = false, compression = {_literal(sniffed_compression(file.url, compression))}, "
            f"max_line_size = {_MAX_LINE_BYTES}, buffer_size = {2 * _MAX_LINE_BYTES}, ignore_errors = true, "
            f"store_rejects = true, rejects_table = {_literal(READ_ERRORS)}, rejects_scan = {_literal(READ_SCANS)})"
        )
        # TRY_CAST to JSON is json_valid()'s parse (same reader flags) and keeps the text as written, so a line
        # is a row exactly when json_valid() says so. Careful: DuckDB pushes a cast that is the only use of a
        # column into read_csv as the column's type, where even a TRY_CAST fails the whole read on the first
        # bad line; `text` is used here too, so the reader keeps it VARCHAR (tests/devstack/test_localsnow_jsonl).
        with duckdb_errors(f"File '{file.name}'"):
            con.execute(
                f"""
                INSERT INTO {LINES}
                SELECT {index}, line, value, CASE WHEN value IS NULL THEN text END, NULL
                FROM (SELECT row_number() OVER () AS line, TRY_CAST(text AS JSON) AS value, text FROM {reader})
                """
            )
            _number_in_read_errors(con, index)
    _drop_read_errors(con)
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


def _number_in_read_errors(con: duckdb.DuckDBPyConnection, index: int) -> None:
    """Put the lines the reader skipped back in their places: the k-th row it returned is physical line
    k + (how many skipped lines come before it), and each skipped line is a rejected line of its own."""
    skipped = con.execute(f"SELECT line, error_type, csv_line FROM {READ_ERRORS} ORDER BY line").fetchall()
    if not skipped:
        return
    # The i-th skipped line (1-based) sits after line - i returned rows.
    con.execute(
        f"""
        UPDATE {LINES} SET line = line + (
            SELECT count(*) FROM (SELECT line - row_number() OVER (ORDER BY line) AS before FROM {READ_ERRORS})
            WHERE before < {LINES}.line
        )
        WHERE file_index = ?
        """,
        [index],
    )
    con.executemany(
        f"INSERT INTO {LINES} VALUES (?, ?, NULL, ?, ?)",
        [
            (index, line, text or "", _READ_ERROR_MESSAGES.get(kind, kind).format(text=(text or "")[:64]))
            for line, kind, text in skipped
        ],
    )


def _drop_read_errors(con: duckdb.DuckDBPyConnection) -> None:
    for table in (READ_ERRORS, READ_SCANS):
        con.execute(f"DROP TABLE IF EXISTS {table}")


def counts(con: duckdb.DuckDBPyConnection) -> dict[int, FileCounts]:
    rows = con.execute(
        f"SELECT file_index, count(value) + count(*) FILTER ({_BAD}), count(value) FROM {LINES} GROUP BY ALL"
    ).fetchall()
    return {index: FileCounts(parsed, valid) for index, parsed, valid in rows}


def bad_lines(con: duckdb.DuckDBPyConnection, limit: int | None = None) -> list[BadLine]:
    """Non-blank lines that are not JSON, in file and line order."""
    sql = f"SELECT file_index, line, text, error FROM {LINES} WHERE {_BAD} ORDER BY file_index, line"
    if limit is not None:
        sql += f" LIMIT {int(limit)}"
    return [BadLine(*row) for row in con.execute(sql).fetchall()]


def drop(con: duckdb.DuckDBPyConnection) -> None:
    """Drop the temp objects; harmless if a failed statement already aborted the transaction holding them."""
    for statement in (
        f"DROP VIEW IF EXISTS {SOURCE}",
        f"DROP TABLE IF EXISTS {LINES}",
        f"DROP TABLE IF EXISTS {FILES}",
        f"DROP TABLE IF EXISTS {READ_ERRORS}",
        f"DROP TABLE IF EXISTS {READ_SCANS}",
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
