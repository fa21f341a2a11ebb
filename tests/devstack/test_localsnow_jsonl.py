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
