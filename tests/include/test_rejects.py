"""The reject path on its own (include/event_log/load/rejects.py): streamed, bounded reads of the files the warehouse
rejected lines of, gzip by its header, caps, every error naming the file, batched inserts with bound values."""

from __future__ import annotations

import gzip
import zlib
from contextlib import contextmanager
from dataclasses import replace

import pytest

from include.event_log.config import RejectLimits
from include.event_log.load import rejects as rejects_module
from include.event_log.load.rejects import (
    MAX_GZIP_EXPANSION,
    FileRejects,
    RejectScanError,
    _Budget,
    file_errors,
    keep_rejects,
    scan_file,
)

LIMITS = RejectLimits()
NAME = "dt=2025-08-01/hr=03/part-a-0-1"
# Lines 3 (not JSON), 5 (not UTF-8 inside a string: Python's json would accept the replaced text) and 6 (cut).
BODY = b'{"event_log_id": 1}\n\nnot json\n{"event_log_id": 2}\n{"note": "\xff"}\n{"event_log_id": 3, "cut'
EXPECTED = [(3, "not json"), (5, '{"note": "\\xff"}'), (6, '{"event_log_id": 3, "cut')]


def chunks(data: bytes, size: int = 64 * 1024):
    return iter([data[i : i + size] for i in range(0, len(data), size)])


def scan(data: bytes, rows_rejected: int, limits: RejectLimits = LIMITS, budget: _Budget | None = None, size=65536):
    found = FileRejects(NAME, 100, rows_rejected)
    lines = list(scan_file(chunks(data, size), found, limits, budget or _Budget(limits)))
    return [(line.line_number, line.rejected_record) for line in lines], lines, found


@pytest.mark.parametrize(
    "encode",
    [
        pytest.param(lambda body: body, id="plain"),
        pytest.param(gzip.compress, id="gzip"),
        pytest.param(lambda body: gzip.compress(body[:25]) + gzip.compress(body[25:]), id="two gzip members"),
        pytest.param(lambda body: gzip.compress(body) + b"\0" * 512, id="gzip with zero padding"),
    ],
)
@pytest.mark.parametrize("read_size", [1, 7, 65536])
def test_every_rejected_line_is_found_whatever_the_encoding_and_the_read_size(encode, read_size):
    found, lines, outcome = scan(encode(BODY), 3, size=read_size)
    assert found == EXPECTED
    assert [line.error.split(":")[0] for line in lines] == [
        "Error parsing JSON",
        "Invalid UTF-8 at byte 11 of the line",
        "Error parsing JSON",
    ]
    assert {line.file_name for line in lines} == {NAME}
    assert outcome.stopped == "all found" and outcome.lines_scanned == 6


def test_gzip_is_told_by_its_header_not_by_the_name():
    """A part file of the SQL sink has no extension even when gzipped; a `.gz` name may hold plain text."""
    _, _, gzipped = scan(gzip.compress(BODY), 3)
    _, _, plain = scan(BODY, 3)
    assert (gzipped.gzip, plain.gzip) == (True, False)
    assert gzipped.bytes_scanned == plain.bytes_scanned == len(BODY)


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        pytest.param(lambda z: z[:-12], "ends early", id="truncated"),
        pytest.param(lambda z: z[:-8] + b"\0\0\0\0" + z[-4:], "not a valid gzip stream", id="crc mismatch"),
        pytest.param(lambda z: z[:10] + b"\xff" * 40 + z[50:], "not a valid gzip stream", id="corrupt deflate"),
        pytest.param(lambda z: z + b"trailing junk", "bytes that are not gzip follow", id="junk after the stream"),
        pytest.param(lambda z: b"\x1f\x8b" + b"\x00" * 30, "not a valid gzip stream", id="a header only"),
    ],
)
def test_a_damaged_gzip_fails_naming_the_file(damage, message):
    data = damage(gzip.compress(BODY * 50))
    with pytest.raises(RejectScanError, match=message) as raised:
        scan(data, 10_000)
    assert str(raised.value).startswith(NAME + ": ")


def test_a_gzip_bomb_fails_naming_the_file_after_reading_little():
    bomb = gzip.compress(b"\0" * (64 * 1024 * 1024), compresslevel=9)
    assert len(bomb) < 70 * 1024  # the issue's 63 KiB bomb
    found = FileRejects(NAME, 1, 1)
    with pytest.raises(RejectScanError, match="decompression bomb") as raised:
        list(scan_file(chunks(bomb), found, LIMITS, _Budget(LIMITS)))
    assert NAME in str(raised.value) and f"over {MAX_GZIP_EXPANSION} times" in str(raised.value)
    assert found.bytes_read <= 64 * 1024, "one read of the object"


def test_a_file_is_read_only_until_its_rejected_lines_are_all_found():
    body = b"oops\n" + b'{"event_log_id": 1}\n' * 200_000
    found, _, outcome = scan(body, 1)
    assert found == [(1, "oops")]
    assert outcome.stopped == "all found" and outcome.bytes_read == 64 * 1024 < len(body)


def test_the_per_file_cap_stops_the_scan_and_says_where():
    limits = replace(LIMITS, scan_max_bytes=64 * 1024)
    good = b'{"event_log_id": 1, "pad": "' + b"p" * 80 + b'"}\n'
    body = b"bad early\n" + good * 2000 + b"bad late\n"  # ~220 KB: the second bad line is past the cap
    found, _, outcome = scan(body, 2, limits)
    assert found == [(1, "bad early")]
    assert outcome.stopped == "EVENT_LOG_REJECT_SCAN_MAX_BYTES"
    assert outcome.bytes_read == 64 * 1024 and outcome.bytes_scanned <= 64 * 1024
    assert 0 < outcome.lines_scanned < 2002
    outcome.kept = 1
    assert "1 counted only" in outcome.describe() and "EVENT_LOG_REJECT_SCAN_MAX_BYTES reached" in outcome.describe()
    assert f"stopped at line {outcome.lines_scanned}" in outcome.describe()


def test_the_cap_counts_inflated_bytes_too():
    limits = replace(LIMITS, scan_max_bytes=64 * 1024)
    body = b"bad\n" + b'{"event_log_id": 12345678}\n' * 20_000 + b"bad at the end\n"  # compresses ~100x
    found, _, outcome = scan(gzip.compress(body), 2, limits)
    assert found == [(1, "bad")]
    assert outcome.stopped == "EVENT_LOG_REJECT_SCAN_MAX_BYTES" and outcome.bytes_read < 64 * 1024
    assert outcome.bytes_scanned <= 64 * 1024


def test_the_hour_cap_is_shared_by_its_files():
    limits = replace(LIMITS, scan_max_bytes=64 * 1024, scan_max_total_bytes=100 * 1024)
    budget = _Budget(limits)
    body = b'{"event_log_id": 1}\n' * 4000 + b"bad\n"  # 80 KB
    first, _, first_outcome = scan(body, 1, limits, budget)
    second, _, second_outcome = scan(body, 1, limits, budget)
    assert (first, second) == ([], [])
    assert first_outcome.stopped == "EVENT_LOG_REJECT_SCAN_MAX_BYTES"
    assert second_outcome.stopped == "EVENT_LOG_REJECT_SCAN_MAX_TOTAL_BYTES"
    assert first_outcome.bytes_read + second_outcome.bytes_read == 100 * 1024


def test_kept_lines_per_hour_are_capped():
    limits = replace(LIMITS, keep_max_lines=3)
    found, _, outcome = scan(b"a\nb\nc\nd\ne\n", 5, limits)
    assert [line for line, _ in found] == [1, 2, 3]
    assert outcome.stopped == "EVENT_LOG_REJECT_KEEP_MAX_LINES"


def test_a_long_line_is_kept_truncated_when_the_count_shows_it_was_rejected():
    limits = replace(LIMITS, max_line_bytes=1024)
    long_valid = b'{"x": "' + b"a" * 5000 + b'"}'
    long_cut = b'{"x": "' + b"b" * 5000
    body = b'{"ok": 1}\n' + long_valid + b"\nnot json\n" + long_cut + b"\n"

    # The warehouse rejected two lines: `not json` and one of the two long lines, which the scan does not check:
    # which one is not known, so the rest is counted (the long lines named), not kept.
    found, _, outcome = scan(body, 2, limits)
    assert found == [(3, "not json")]
    assert outcome.unchecked_long_lines == [2, 4] and outcome.stopped == "end of file"

    # Without the valid long line the rest of the count is exactly the cut one: kept, truncated.
    body = b'{"ok": 1}\nnot json\n' + long_cut + b"\n"
    found, lines, outcome = scan(body, 2, limits)
    assert [line for line, _ in found] == [2, 3]
    assert len(lines[1].rejected_record) == 1024 and lines[1].rejected_record.startswith('{"x": "bbb')
    assert "a line of 5,007 bytes, first 1,024 kept" in lines[1].error


def test_blank_lines_and_a_byte_order_mark_are_not_rejects():
    found, _, _ = scan(b'\xef\xbb\xbf{"a": 1}\n  \n\t\r\n{"b": 2}\r\nnope\n', 1)
    assert found == [(5, "nope")]


def test_the_warehouse_counts_say_which_files_to_read():
    results = [
        {"file": "s3://b/event_log/dt=2025-08-01/hr=03/part-a", "rows_parsed": 10, "errors_seen": 2,
         "first_error_line": 4},
        {"file": "s3://b/event_log/dt=2025-08-01/hr=03/part-b", "rows_parsed": 5, "errors_seen": 0},
    ]  # fmt: skip
    assert file_errors(results, "dt=2025-08-01/hr=03/") == [FileRejects("dt=2025-08-01/hr=03/part-a", 10, 2, 4)]


class RecordingCursor:
    def __init__(self):
        self.executed, self.batches, self.rowcount = [], [], 0

    def execute(self, sql, params=None):
        self.executed.append((sql, params))

    def executemany(self, sql, rows):
        self.batches.append((sql, list(rows)))


class Body:
    def __init__(self, data):
        self.data, self.closed = data, False

    def read(self, size):
        chunk, self.data = self.data[:size], self.data[size:]
        return chunk

    def close(self):
        self.closed = True


class FakeS3Hook:
    """What keep_rejects asks of an S3Hook: get_key(...).get(Range=...)["Body"]; records the ranges asked."""

    def __init__(self, objects):
        self.objects, self.ranges = objects, []

    def get_key(self, key, bucket_name):
        hook = self

        class Object:
            def get(self, Range):
                hook.ranges.append((key, Range))
                return {"Body": Body(hook.objects[key])}

        return Object()


def test_keep_rejects_inserts_bound_batches_in_its_own_transaction(monkeypatch):
    from include.event_log.objects.declarations import event_log_objects

    cursor, opened = RecordingCursor(), []

    @contextmanager
    def transaction(conn_id, *, server_side_binding=False):
        opened.append((conn_id, server_side_binding))
        yield cursor

    monkeypatch.setattr(rejects_module, "transaction", transaction)
    bad = [f"not json {i} ');DROP TABLE X;--".encode() for i in range(2500)]
    s3 = FakeS3Hook({"event_log/dt=2025-08-01/hr=03/part-a.gz": gzip.compress(b"\n".join(bad) + b"\n")})
    results = [{"file": "s3://b/event_log/dt=2025-08-01/hr=03/part-a.gz", "rows_parsed": 2500, "errors_seen": 2500}]

    outcome = keep_rejects(
        "snowflake_event_log", s3, "b", "event_log/dt=2025-08-01/hr=03/", "dt=2025-08-01/hr=03/", results,
        replication_hour="2025-08-01 03:00:00", run_id="r1", rejected_at="2025-09-01 00:00:00", limits=LIMITS,
        context=event_log_objects().template_context(),
    )  # fmt: skip

    assert opened == [("snowflake_event_log", True)], "one transaction, values bound in the warehouse"
    assert (outcome.rows_rejected, outcome.kept, outcome.not_kept) == (2500, 2500, 0)
    delete_hour, delete_expired = cursor.executed
    assert delete_hour[1] == ("2025-08-01 03:00:00",) and "?" in delete_hour[0]
    assert delete_expired[1] == ("2025-08-02 00:00:00",), "30 days of retention"
    assert [len(rows) for _, rows in cursor.batches] == [1000, 1000, 500]
    sql = cursor.batches[0][0]
    assert (
        sql.startswith("INSERT INTO EVENT_LOG.RAW.RAW_FLINK_EVENT_LOG_REJECTS")
        and "VALUES (?, ?, ?, ?, ?, ?, ?)" in sql
    )
    assert "DROP TABLE" not in sql, "the lines travel as bound values, never in the SQL text"
    assert cursor.batches[2][1][-1] == (
        "2025-08-01 03:00:00", "dt=2025-08-01/hr=03/part-a.gz", 2500, cursor.batches[2][1][-1][3],
        "not json 2499 ');DROP TABLE X;--", "r1", "2025-09-01 00:00:00",
    )  # fmt: skip
    assert s3.ranges == [("event_log/dt=2025-08-01/hr=03/part-a.gz", f"bytes=0-{LIMITS.scan_max_bytes}")]


def test_keep_rejects_fails_naming_a_corrupt_file(monkeypatch):
    from include.event_log.objects.declarations import event_log_objects

    @contextmanager
    def transaction(conn_id, *, server_side_binding=False):
        yield RecordingCursor()

    monkeypatch.setattr(rejects_module, "transaction", transaction)
    corrupt = bytearray(gzip.compress(BODY * 100))
    corrupt[-8:-4] = b"\0\0\0\0"  # the CRC
    s3 = FakeS3Hook({"event_log/dt=2025-08-01/hr=03/part-z": bytes(corrupt)})
    results = [{"file": "s3://b/event_log/dt=2025-08-01/hr=03/part-z", "rows_parsed": 500, "errors_seen": 300}]
    with pytest.raises(RejectScanError, match=r"^dt=2025-08-01/hr=03/part-z: not a valid gzip stream"):
        keep_rejects(
            "c", s3, "b", "event_log/dt=2025-08-01/hr=03/", "dt=2025-08-01/hr=03/", results,
            replication_hour="2025-08-01 03:00:00", run_id="r1", rejected_at="2025-09-01 00:00:00", limits=LIMITS,
            context=event_log_objects().template_context(),
        )  # fmt: skip


def test_an_s3_error_while_reading_back_names_the_file(monkeypatch):
    from botocore.exceptions import ClientError

    from include.event_log.objects.declarations import event_log_objects

    @contextmanager
    def transaction(conn_id, *, server_side_binding=False):
        yield RecordingCursor()

    class GoneHook:
        def get_key(self, key, bucket_name):
            class Object:
                def get(self, Range):
                    raise ClientError({"Error": {"Code": "NoSuchKey", "Message": "gone"}}, "GetObject")

            return Object()

    monkeypatch.setattr(rejects_module, "transaction", transaction)
    results = [{"file": "s3://b/event_log/dt=2025-08-01/hr=03/part-gone", "rows_parsed": 5, "errors_seen": 1}]
    with pytest.raises(RejectScanError, match=r"^dt=2025-08-01/hr=03/part-gone: reading it back from S3 failed"):
        keep_rejects(
            "c", GoneHook(), "b", "event_log/dt=2025-08-01/hr=03/", "dt=2025-08-01/hr=03/", results,
            replication_hour="2025-08-01 03:00:00", run_id="r1", rejected_at="2025-09-01 00:00:00", limits=LIMITS,
            context=event_log_objects().template_context(),
        )  # fmt: skip


def test_zlib_agrees_that_the_crc_damage_above_is_corruption():
    corrupt = bytearray(gzip.compress(BODY * 100))
    corrupt[-8:-4] = b"\0\0\0\0"
    with pytest.raises(zlib.error):
        zlib.decompress(bytes(corrupt), wbits=31)
