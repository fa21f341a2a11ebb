"""The reject path of an hour's load: what the warehouse rejected, kept or counted, with bounded reads.

The COPY (ON_ERROR = CONTINUE) reports for each file how many lines it parsed and how many it rejected
(`errors_seen`): those counts, the warehouse's, are the hour's rejected lines and its reject ratio. Snowflake
does not return the rejected lines of a COPY with a transformation (VALIDATE does not support one), so the
worker reads each file that had errors once more, as a stream, to keep its rejected lines:

- gzip is recognised by its magic header, not by the file name, and inflated step by step (each step's output
  bounded); a corrupt or truncated gzip stream, or one inflating more than MAX_GZIP_EXPANSION times its size
  (a decompression bomb), fails the scan naming the file;
- a file's scan reads at most EVENT_LOG_REJECT_SCAN_MAX_BYTES (from S3, and again after gunzip) and all of an
  hour's scans EVENT_LOG_REJECT_SCAN_MAX_TOTAL_BYTES; at most EVENT_LOG_REJECT_KEEP_MAX_LINES lines are kept per
  hour. A scan that reaches a cap stops, says which in the log and the report, and the lines it did not reach stay
  counted (by the warehouse) with the file and the line where the scan stopped;
- a line is held up to EVENT_LOG_REJECT_MAX_LINE_BYTES: a line no longer than that is checked as the warehouse
  checks it (UTF-8, then JSON); a longer one is named by its line number, and kept truncated when the warehouse's
  count leaves no doubt that it is one of the rejected lines;
- a file's scan ends as soon as it has found as many rejected lines as the warehouse counted.

The lines are inserted into the rejects table in batches (executemany of one INSERT whose values are bound in the
warehouse: never part of the SQL text), in a transaction of its own that first deletes the hour's earlier rejects
and every reject older than EVENT_LOG_REJECT_RETENTION_DAYS: they are kept whether or not the load then commits.

Length (about 440 lines): the bounded reader (gzip by its header, byte budgets, capped scans) and the
accounting of what it kept are one invariant (the warehouse's counts stay exact whatever the caps cut);
split, the budget and the reader would each hold half of it.
"""

from __future__ import annotations

import json
import logging
import zlib
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

from include.event_log.config import RejectLimits
from include.event_log.sql_templates import render_sql
from include.event_log.warehouse import transaction

log = logging.getLogger(__name__)

GZIP_MAGIC = b"\x1f\x8b"
# Bytes asked of S3 per read, and the most one inflate step may produce.
READ_CHUNK = 64 * 1024
INFLATE_STEP = 1024 * 1024
# JSON event lines gzip 5-20x; deflate's ceiling is about 1,032x. More than this, once a MiB is out, is a bomb.
MAX_GZIP_EXPANSION = 200
EXPANSION_CHECKED_AFTER = 1024 * 1024
# Rows and bytes of one executemany: well under the connector's 65,280 bound values, past which it would stage them.
INSERT_BATCH_ROWS = 1000
INSERT_BATCH_BYTES = 8 * 1024 * 1024
# Lines longer than EVENT_LOG_REJECT_MAX_LINE_BYTES whose first bytes a file's scan holds until its end, in case
# the warehouse's count shows they are the rejected ones; the line numbers of the others are reported.
HELD_LONG_LINES = 16
LISTED_LINE_NUMBERS = 20
BLANK = b" \t\r"
UTF8_BOM = b"\xef\xbb\xbf"


class RejectScanError(RuntimeError):
    """A file the COPY reported errors for could not be read back (corrupt, truncated, a bomb); names the file."""


@dataclass
class RejectedLine:
    file_name: str
    line_number: int
    error: str
    rejected_record: str


@dataclass
class FileRejects:
    """One file's rejected lines: the warehouse's counts, and what the scan read and kept."""

    file_name: str
    rows_parsed: int
    rows_rejected: int
    first_error_line: int | None = None
    kept: int = 0
    bytes_read: int = 0
    bytes_scanned: int = 0
    lines_scanned: int = 0
    gzip: bool = False
    # How the scan ended: `all found`, `end of file`, or the setting whose cap stopped it.
    stopped: str = ""
    # Lines longer than EVENT_LOG_REJECT_MAX_LINE_BYTES that were not kept (their text was not checked).
    unchecked_long_lines: list[int] = field(default_factory=list)

    @property
    def not_kept(self) -> int:
        return self.rows_rejected - self.kept

    @property
    def capped(self) -> bool:
        return self.stopped.startswith("EVENT_LOG_")

    def describe(self) -> str:
        text = f"{self.file_name}: {self.rows_rejected} of {self.rows_parsed} lines rejected, {self.kept} kept"
        if self.not_kept:
            text += f", {self.not_kept} counted only"
            if self.capped:
                text += f" (the scan stopped at line {self.lines_scanned}: {self.stopped} reached)"
            elif self.unchecked_long_lines:
                text += f" (among the long lines {self.unchecked_long_lines})"
            else:
                text += " (the scan found no more: the warehouse rejected lines it reads as valid)"
        return text


@dataclass
class HourRejects:
    """What the reject path did for one hour's load (part of its report)."""

    rows_rejected: int = 0
    kept: int = 0
    files: list[FileRejects] = field(default_factory=list)
    rows_expired: int = 0

    @property
    def not_kept(self) -> int:
        return self.rows_rejected - self.kept

    @property
    def capped_files(self) -> list[str]:
        return [f.file_name for f in self.files if f.capped]

    def as_dict(self) -> dict[str, Any]:
        return {
            "rows_rejected": self.rows_rejected, "kept": self.kept, "not_kept": self.not_kept,
            "capped_files": self.capped_files, "rows_expired": self.rows_expired,
            "files": [{**asdict(f), "not_kept": f.not_kept} for f in self.files],
        }  # fmt: skip


@dataclass
class _Budget:
    """The hour's scan budget, shared by its files."""

    limits: RejectLimits
    bytes_left: int = 0
    lines_left: int = 0

    def __post_init__(self) -> None:
        self.bytes_left = self.limits.scan_max_total_bytes
        self.lines_left = self.limits.keep_max_lines

    def file_cap(self) -> tuple[int, str]:
        if self.limits.scan_max_bytes <= self.bytes_left:
            return self.limits.scan_max_bytes, "EVENT_LOG_REJECT_SCAN_MAX_BYTES"
        return self.bytes_left, "EVENT_LOG_REJECT_SCAN_MAX_TOTAL_BYTES"


class _CapReached(Exception):
    def __init__(self, setting: str):
        super().__init__(setting)
        self.setting = setting


def inflated(chunks: Iterator[bytes], file_name: str, scan: FileRejects) -> Iterator[bytes]:
    """The bytes of a file whose raw bytes come in `chunks`: gunzipped when they start with gzip's magic header
    (every member of a multi-member file), as they are; each piece at most INFLATE_STEP bytes."""
    head = b""
    for chunk in chunks:
        head += chunk
        if len(head) >= len(GZIP_MAGIC):
            break
    scan.gzip = head.startswith(GZIP_MAGIC)
    if not scan.gzip:
        if head:
            yield head
        yield from chunks
        return
    decompressor: Any = zlib.decompressobj(wbits=31)
    member_open, consumed, produced = True, 0, 0
    pending = head
    while True:
        while pending:
            if not member_open:
                if len(pending) < len(GZIP_MAGIC):
                    break  # the next member's header continues in the next chunk
                if not pending.startswith(GZIP_MAGIC):
                    if pending.strip(b"\0"):
                        raise RejectScanError(
                            f"{file_name}: bytes that are not gzip follow its gzip stream at compressed byte {consumed}"
                        )
                    consumed, pending = consumed + len(pending), b""  # zero padding, as gzip tools allow
                    break
                decompressor, member_open = zlib.decompressobj(wbits=31), True
            try:
                out = decompressor.decompress(pending, INFLATE_STEP)
            except zlib.error as error:
                raise RejectScanError(
                    f"{file_name}: not a valid gzip stream near compressed byte {consumed}: {error}"
                ) from None
            tail = decompressor.unused_data if decompressor.eof else decompressor.unconsumed_tail
            consumed += len(pending) - len(tail)
            produced += len(out)
            if produced >= EXPANSION_CHECKED_AFTER and produced > MAX_GZIP_EXPANSION * max(consumed, 1):
                raise RejectScanError(
                    f"{file_name}: {consumed:,} gzip bytes inflate to more than {produced:,} "
                    f"(over {MAX_GZIP_EXPANSION} times): a decompression bomb, not read further"
                )
            if out:
                yield out
            pending = tail
            if decompressor.eof:
                member_open = False
            elif not tail and not out:
                break  # all input taken and nothing more out: the member continues in the next chunk
        chunk = next(chunks, None)
        if chunk is None:
            break
        pending += chunk
    if member_open:
        raise RejectScanError(
            f"{file_name}: its gzip stream ends early, after {consumed:,} compressed bytes (truncated)"
        )


def _verdict(held: bytes) -> str | None:
    """Why the warehouse rejects this whole line, or None when it loads it: invalid UTF-8, then not JSON."""
    try:
        text = held.decode("utf-8")
    except UnicodeDecodeError as error:
        return f"Invalid UTF-8 at byte {error.start + 1} of the line"
    try:
        json.loads(text)
    except ValueError as error:
        reason = getattr(error, "msg", str(error))
        position = getattr(error, "pos", None)
        return f"Error parsing JSON: {reason}" + (f", pos {position}" if position is not None else "")
    return None


def _text(held: bytes) -> str:
    return held.decode("utf-8", errors="backslashreplace")


def scan_file(
    chunks: Iterator[bytes], rejects: FileRejects, limits: RejectLimits, budget: _Budget
) -> Iterator[RejectedLine]:
    """The rejected lines of one file, in line order, read from `chunks` (its raw bytes) within the caps; fills
    `rejects` (bytes read and scanned, lines, how the scan ended). Raises RejectScanError naming the file."""
    name, max_line = rejects.file_name, limits.max_line_bytes
    cap, cap_setting = budget.file_cap()

    def counted_raw() -> Iterator[bytes]:
        for chunk in chunks:
            over = rejects.bytes_read + len(chunk) > cap
            chunk = chunk[: cap - rejects.bytes_read] if over else chunk
            rejects.bytes_read += len(chunk)
            budget.bytes_left -= len(chunk)
            if chunk:
                yield chunk
            if over:
                raise _CapReached(cap_setting)

    found = 0
    long_lines: list[tuple[int, int, bytes | None]] = []  # (line, length, first bytes or None)
    held, length, number = bytearray(), 0, 0

    def line_done() -> RejectedLine | None:
        nonlocal found
        if length > max_line:
            long_lines.append((number, length, bytes(held) if len(long_lines) < HELD_LONG_LINES else None))
            return None
        line = bytes(held)
        if number == 1 and line.startswith(UTF8_BOM):
            line = line[len(UTF8_BOM) :]  # SKIP_BYTE_ORDER_MARK = TRUE, Snowflake's default
        if not line.strip(BLANK):
            return None
        verdict = _verdict(line)
        if verdict is None:
            return None
        found += 1
        return RejectedLine(name, number, verdict, _text(held))

    try:
        try:
            for piece in inflated(counted_raw(), name, rejects):
                start = 0
                while start <= len(piece):
                    newline = piece.find(b"\n", start)
                    end = len(piece) if newline < 0 else newline
                    room = max_line + 1 - len(held)  # one byte past the limit tells a long line
                    if room > 0:
                        held += piece[start : min(end, start + room)]
                    length += end - start
                    if rejects.bytes_scanned + (end - start) > cap:
                        raise _CapReached(cap_setting)
                    rejects.bytes_scanned += end - start + (newline >= 0)
                    if newline < 0:
                        break
                    number += 1
                    rejected = line_done()
                    held.clear()
                    length = 0
                    if rejected:
                        if budget.lines_left <= 0:
                            raise _CapReached("EVENT_LOG_REJECT_KEEP_MAX_LINES")
                        budget.lines_left -= 1
                        yield rejected
                        if found >= rejects.rows_rejected:
                            rejects.stopped = "all found"
                            return
                    start = newline + 1
            if length:
                number += 1
                rejected = line_done()
                if rejected and budget.lines_left > 0:
                    budget.lines_left -= 1
                    yield rejected
                elif rejected:
                    raise _CapReached("EVENT_LOG_REJECT_KEEP_MAX_LINES")
        finally:
            rejects.lines_scanned = number
            # The hour's budget counts the larger of what was read and what it inflated to.
            budget.bytes_left -= max(0, rejects.bytes_scanned - rejects.bytes_read)
    except _CapReached as reached:
        rejects.stopped = reached.setting
        log.warning(
            "Reject scan of %s stopped at line %d after %d bytes read and %d scanned: %s reached; the warehouse "
            "rejected %d of its lines, %d found so far", name, number, rejects.bytes_read, rejects.bytes_scanned,
            reached.setting, rejects.rows_rejected, found,
        )  # fmt: skip
        return
    rejects.stopped = "all found" if found >= rejects.rows_rejected else "end of file"
    missing = rejects.rows_rejected - found
    if missing and len(long_lines) == missing and all(first is not None for _, _, first in long_lines):
        # Every other line was checked and loads: these long lines are exactly the rest of the warehouse's count.
        for line, size, first in long_lines:
            if budget.lines_left <= 0:
                rejects.stopped = "EVENT_LOG_REJECT_KEEP_MAX_LINES"
                break
            budget.lines_left -= 1
            prefix = (first or b"")[:max_line]
            error = f"Rejected by the warehouse; a line of {size:,} bytes, first {len(prefix):,} kept"
            yield RejectedLine(name, line, error, _text(prefix))
        return
    rejects.unchecked_long_lines = [line for line, _, _ in long_lines][:LISTED_LINE_NUMBERS]


def file_errors(copy_results: list[dict[str, Any]], hour_path: str) -> list[FileRejects]:
    """The files the COPY rejected lines of, with the warehouse's counts (name relative to the stage)."""
    found = []
    for result in copy_results:
        errors = int(result.get("errors_seen") or 0)
        if errors:
            name = hour_path + str(result["file"]).rsplit("/", 1)[-1]
            first_line = result.get("first_error_line")
            found.append(
                FileRejects(name, int(result.get("rows_parsed") or 0), errors, int(first_line) if first_line else None)
            )
    return found


def _object_chunks(s3_hook: Any, bucket: str, key: str, cap: int) -> Iterator[bytes]:
    """The object's first `cap` + 1 bytes (one more tells a capped read from a whole one), READ_CHUNK at a time:
    a ranged GET, so S3 sends no more than that."""
    body = s3_hook.get_key(key, bucket_name=bucket).get(Range=f"bytes=0-{cap}")["Body"]
    try:
        while chunk := body.read(READ_CHUNK):
            yield chunk
    finally:
        body.close()


def _named_errors(lines: Iterator[RejectedLine], file_name: str) -> Iterator[RejectedLine]:
    """The scan's lines; an S3 error while reading the file (gone, denied, a broken stream) names the file."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        yield from lines
    except (BotoCoreError, ClientError, OSError) as error:
        raise RejectScanError(f"{file_name}: reading it back from S3 failed: {error}") from error


class _RejectWriter:
    """Batched, server-side-bound inserts of rejected lines."""

    def __init__(self, cursor: Any, sql: str, replication_hour: str, run_id: str, rejected_at: str):
        self.cursor, self.sql = cursor, sql
        self.common = (replication_hour, run_id, rejected_at)
        self.rows: list[tuple] = []
        self.size = 0

    def add(self, line: RejectedLine) -> None:
        hour, run_id, at = self.common
        self.rows.append((hour, line.file_name, line.line_number, line.error, line.rejected_record, run_id, at))
        self.size += len(line.rejected_record)
        if len(self.rows) >= INSERT_BATCH_ROWS or self.size >= INSERT_BATCH_BYTES:
            self.flush()

    def flush(self) -> None:
        if self.rows:
            self.cursor.executemany(self.sql, self.rows)
            self.rows, self.size = [], 0


def keep_rejects(
    conn_id: str, s3_hook: Any, bucket: str, hour_prefix: str, hour_path: str, copy_results: list[dict[str, Any]],
    *, replication_hour: str, run_id: str, rejected_at: str, limits: RejectLimits, context: dict[str, Any],
) -> HourRejects:  # fmt: skip
    """Replace the hour's kept rejects with this load's, within the caps, in one transaction of its own; delete
    the rejects older than the retention period. Raises RejectScanError (nothing of it committed) when a file
    cannot be read back."""
    files = file_errors(copy_results, hour_path)
    outcome = HourRejects(rows_rejected=sum(f.rows_rejected for f in files), files=files)
    budget = _Budget(limits)
    expired_before = datetime.fromisoformat(rejected_at) - timedelta(days=limits.retention_days)
    with transaction(conn_id, server_side_binding=True) as cursor:
        cursor.execute(render_sql("rejects/delete_hour_rejects.sql", **context), (replication_hour,))
        cursor.execute(
            render_sql("rejects/delete_expired_rejects.sql", **context), (expired_before.isoformat(sep=" "),)
        )
        outcome.rows_expired = cursor.rowcount or 0
        writer = _RejectWriter(
            cursor, render_sql("rejects/insert_rejects.sql", **context), replication_hour, run_id, rejected_at
        )
        for rejects in files:
            cap, setting = budget.file_cap()
            if cap <= 0 or budget.lines_left <= 0:
                rejects.stopped = setting if cap <= 0 else "EVENT_LOG_REJECT_KEEP_MAX_LINES"
                continue
            name = rejects.file_name.rsplit("/", 1)[-1]
            chunks = _object_chunks(s3_hook, bucket, hour_prefix + name, cap)
            try:
                for line in _named_errors(scan_file(chunks, rejects, limits, budget), rejects.file_name):
                    if not rejects.kept and rejects.first_error_line not in (None, line.line_number):
                        log.warning(
                            "%s: the warehouse's first rejected line is %s, the scan's %d: they judge a line "
                            "differently", rejects.file_name, rejects.first_error_line, line.line_number,
                        )  # fmt: skip
                    writer.add(line)
                    rejects.kept += 1
            finally:
                chunks.close()  # a scan that stopped early releases the S3 connection now
        writer.flush()
    outcome.kept = sum(f.kept for f in files)
    for rejects in files:
        (log.warning if rejects.not_kept else log.info)("Rejected lines of %s", rejects.describe())
    return outcome
