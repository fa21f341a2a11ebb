"""jsonl.read on local files, in process: which lines are rows, blank or bad, with which line numbers and values."""

from __future__ import annotations

import datetime
import gzip
from pathlib import Path

import duckdb
import pytest

from devstack.localsnow import jsonl
from devstack.localsnow.storage import StagedFile

# (line, what it is): what json_valid() said of a non-blank line is what a row is, edge cases included.
LINES = [
    ('{"event_log_id": 1}', "row"),
    ("not json", "bad"),  # first bad line before any valid one
    ("", "blank"),
    ("   ", "blank"),
    ("\t \t", "blank"),
    ('  {"event_log_id": 2}  ', "row"),  # padded: kept as written
    ('\t{"event_log_id": 3}', "row"),
    ("null", "row"),  # a JSON null is a row whose value is null, not a blank line
    ("42", "row"),
    ('"just a string"', "row"),
    ("[1, 2]", "row"),
    ("true", "row"),
    ("[1, 2", "bad"),
    ('{"event_log_id": 4', "bad"),  # truncated
    ('{"a": 1}{"b": 2}', "bad"),  # two documents
    ('{"a": 1} trailing', "bad"),
    ("{'a': 1}", "bad"),
    ('{"a": 01}', "bad"),
    ('{"event_log_id": 5}', "row"),
]


def staged(path: Path) -> StagedFile:
    return StagedFile(str(path), path.name, path.stat().st_size, datetime.datetime(2025, 8, 1, 3), "etag")


@pytest.fixture
def con() -> duckdb.DuckDBPyConnection:
    connection = duckdb.connect()
    yield connection
    connection.close()


def test_lines_are_rows_blank_or_bad_as_json_valid_says(tmp_path: Path, con):
    path = tmp_path / "part-a-0-1.jsonl"
    path.write_text("\n".join(line for line, _ in LINES) + "\n")
    other = tmp_path / "part-b-0-1.jsonl"
    other.write_text("\n" + '{"event_log_id": 6}' + "\n")

    jsonl.read(con, [staged(path), staged(other)], "auto")

    for line, kind in LINES:  # the expectations above are json_valid()'s, which the load used to call
        if kind != "blank":
            assert con.execute("SELECT json_valid(?)", [line]).fetchone()[0] == (kind == "row"), line
    numbered = list(enumerate(LINES, start=1))
    assert con.execute(
        'SELECT "METADATA$FILENAME", "METADATA$FILE_ROW_NUMBER", "VALUE" FROM ' + jsonl.SOURCE + " ORDER BY 1, 2"
    ).fetchall() == [("part-a-0-1.jsonl", n, line) for n, (line, kind) in numbered if kind == "row"] + [
        ("part-b-0-1.jsonl", 2, '{"event_log_id": 6}')
    ]
    rows = sum(kind == "row" for _, kind in LINES)
    bad = [(0, n, line) for n, (line, kind) in numbered if kind == "bad"]
    assert jsonl.counts(con) == {0: jsonl.FileCounts(rows + len(bad), rows), 1: jsonl.FileCounts(1, 1)}
    assert [(b.file_index, b.line, b.text) for b in jsonl.bad_lines(con)] == bad
    assert [(b.line, b.text) for b in jsonl.bad_lines(con, limit=1)] == [(2, "not json")]
    assert con.execute('SELECT typeof("VALUE") FROM ' + jsonl.SOURCE + " LIMIT 1").fetchone() == ("JSON",)
    jsonl.drop(con)


def test_a_file_of_only_bad_and_blank_lines(tmp_path: Path, con):
    path = tmp_path / "part-a-0-1.jsonl.gz"
    path.write_bytes(gzip.compress(b"{cut\n\n  \n<<corrupted>>"))

    jsonl.read(con, [staged(path)], "auto")

    assert con.execute(f"SELECT count(*) FROM {jsonl.SOURCE}").fetchone() == (0,)
    assert jsonl.counts(con) == {0: jsonl.FileCounts(2, 0)}
    assert [(b.line, b.text) for b in jsonl.bad_lines(con)] == [(1, "{cut"), (4, "<<corrupted>>")]
    assert jsonl.bad_lines(con)[0].error()[0].startswith("Error parsing JSON")


def test_lines_not_utf8_or_too_long_are_rejected_lines_in_place_and_the_file_goes_on(tmp_path: Path, con):
    """Snowflake (ON_ERROR = CONTINUE) rejects such a record and loads the rest of the file; DuckDB's reader would
    fail the whole file."""
    long_line = b'{"x": "' + b"a" * jsonl._MAX_LINE_BYTES + b'"}'
    path = tmp_path / "part-a-0-1.jsonl"
    path.write_bytes(
        b'{"event_log_id": 1}\n{"bad": "\xff\xfe"}\n\nnot json\n'
        + long_line
        + b'\n{"ok": "\xc3\xa9"}\n{"cut": "\xe2\x82"}\n{"event_log_id": 2}\n'
    )

    jsonl.read(con, [staged(path)], "auto")

    assert con.execute(f'SELECT "METADATA$FILE_ROW_NUMBER", "VALUE" FROM {jsonl.SOURCE} ORDER BY 1').fetchall() == [
        (1, '{"event_log_id": 1}'),
        (6, '{"ok": "é"}'),
        (8, '{"event_log_id": 2}'),
    ]
    assert jsonl.counts(con) == {0: jsonl.FileCounts(7, 3)}
    bad = [(b.line, b.error()[0].split(" ")[0:3]) for b in jsonl.bad_lines(con)]
    assert bad == [
        (2, ["Invalid", "UTF8", "detected"]),
        (4, ["Error", "parsing", "JSON:"]),
        (5, ["Error", "parsing", "JSON:"]),
        (7, ["Invalid", "UTF8", "detected"]),
    ]
    assert "document is too large" in jsonl.bad_lines(con)[2].error()[0]
    jsonl.drop(con)


@pytest.mark.parametrize(
    ("name", "gzipped"),
    [("part-a-0-1.jsonl", True), ("part-a-0-1.gz", False), ("part-a-0-1", True), ("part-a-0-1.jsonl.gz", True)],
)
def test_auto_compression_follows_the_magic_bytes_not_the_name(tmp_path: Path, con, name, gzipped):
    body = b'{"event_log_id": 1}\n{"event_log_id": 2}\n'
    path = tmp_path / name
    path.write_bytes(gzip.compress(body) if gzipped else body)

    assert jsonl.sniffed_compression(str(path), "auto") == ("gzip" if gzipped else "none")
    assert jsonl.sniffed_compression(str(path), "none") == "none", "an explicit COMPRESSION is the format's"
    jsonl.read(con, [staged(path)], "auto")

    assert con.execute(f'SELECT "VALUE" FROM {jsonl.SOURCE} ORDER BY "METADATA$FILE_ROW_NUMBER"').fetchall() == [
        ('{"event_log_id": 1}',),
        ('{"event_log_id": 2}',),
    ]
    jsonl.drop(con)
