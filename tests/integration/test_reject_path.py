"""The reject path of event_log_ingest on the local stack: the warehouse's counts, what is kept, what fails the hour.

Lines the warehouse rejects although Python would parse them (invalid UTF-8 inside a string, an oversize line) are
counted by the COPY and kept; a gzip bomb and a corrupt gzip fail the hour naming the file and leave it as it was;
a capped scan keeps what it reached and counts the rest; old rejects expire; the rejected lines travel as values
bound in the warehouse, never in SQL text.
"""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime, timedelta

import pytest

from devstack.stack import BUCKET
from include.event_log.land.hour_layout import HourLayout
from tests.integration.conftest import hour, load_dag, query

LAYOUT = HourLayout.from_env()
# Hours of their own (2025-08-09 on): other modules of the session load other days.
BASE = 200

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]


def part(n: int) -> str:
    return f"part-00000000-0000-0000-0000-{n:012d}-0-{n}"


def event(event_log_id: int, **fields) -> bytes:
    record = {"event_log_id": event_log_id, "organization_id": 1, "deployment_id": 1, "run_id": None,
              "dagster_event_type": "STEP_START", "event_data": "{}", "created_at": "2025-08-09T08:00:00Z"}  # fmt: skip
    return json.dumps(record | fields).encode()


def land(s3_client, n: int, files: dict[str, bytes]) -> None:
    for name, body in files.items():
        s3_client.put_object(Bucket=BUCKET, Key=LAYOUT.hour_prefix(hour(n)) + name, Body=body)
    s3_client.put_object(Bucket=BUCKET, Key=LAYOUT.success_key(hour(n)), Body=b"")


def good_lines(first_id: int, count: int) -> list[bytes]:
    return [event(first_id + i) for i in range(count)]


def raw_lines(warehouse, n: int) -> list[tuple[str, int]]:
    rows = query(
        warehouse,
        "SELECT FILE_NAME, FILE_ROW_NUMBER FROM EVENT_LOG.RAW.RAW_FLINK_EVENT_LOG WHERE REPLICATION_HOUR = %(h)s",
        {"h": hour(n).replace(tzinfo=None)},
    )
    return sorted((name.rsplit("/", 1)[-1], int(line)) for name, line in rows)


def kept_rejects(warehouse, n: int) -> list[tuple]:
    rows = query(
        warehouse,
        "SELECT FILE_NAME, LINE_NUMBER, ERROR, REJECTED_RECORD, AIRFLOW_RUN_ID FROM "
        "EVENT_LOG.RAW.RAW_FLINK_EVENT_LOG_REJECTS WHERE REPLICATION_HOUR = %(h)s ORDER BY 1, 2",
        {"h": hour(n).replace(tzinfo=None)},
    )
    return [(name.rsplit("/", 1)[-1], int(line), error, record, run_id) for name, line, error, record, run_id in rows]


def checks_of(warehouse, run_id: str) -> dict[str, tuple]:
    rows = query(
        warehouse,
        "SELECT CHECK_NAME, STATUS, OBSERVED, DETAILS FROM EVENT_LOG.RAW.EVENT_LOG_CHECK_RESULTS WHERE RUN_ID = %(r)s",
        {"r": run_id},
    )
    return {name: (status, observed, json.loads(details)) for name, status, observed, details in rows}


def ingest_dag():
    """The load part of event_log_ingest, parsed now (the settings of the test's environment apply)."""
    return load_dag("event_log_ingest").partial_subset(task_ids=["load_hour.check_hour"], include_upstream=True)


def run_hour(dag, n: int):
    return dag.test(logical_date=hour(n + 1))


def test_lines_the_warehouse_rejects_are_counted_and_kept_even_when_python_would_parse_them(
    snowflake_objects, s3_client, warehouse
):
    n = BASE
    not_utf8 = b'{"event_log_id": 5, "note": "caf\xe9"}'  # Latin-1 inside a string: json.loads(errors=replace) loads it
    long_cut = b'{"event_log_id": 6, "event_data": "' + b"x" * 100_000  # a 100 KB line cut short
    plain = [*good_lines(1000, 200), not_utf8, *good_lines(1200, 200), long_cut]
    gzipped_without_suffix = [*good_lines(2000, 300), b"not json at all", *good_lines(2300, 20)]
    land(
        s3_client, n,
        {part(1): b"\n".join(plain) + b"\n", part(2): gzip.compress(b"\n".join(gzipped_without_suffix) + b"\n")},
    )  # fmt: skip

    run = run_hour(ingest_dag(), n)

    assert run.state == "success", "3 rejected lines of 723 are under the 1% allowed"
    loaded = [(part(1), i) for i in (*range(1, 201), *range(202, 402))]
    loaded += [(part(2), i) for i in (*range(1, 301), *range(302, 322))]
    assert raw_lines(warehouse, n) == sorted(loaded)
    kept = kept_rejects(warehouse, n)
    assert [(name, line) for name, line, *_ in kept] == [(part(1), 201), (part(1), 402), (part(2), 301)]
    (_, _, utf8_error, utf8_text, run_id), (_, _, long_error, long_text, _), (_, _, json_error, json_text, _) = kept
    assert utf8_error.startswith("Invalid UTF-8") and utf8_text == '{"event_log_id": 5, "note": "caf\\xe9"}'
    assert "a line of 100,035 bytes, first 65,536 kept" in long_error and len(long_text) == 65_536
    assert json_error.startswith("Error parsing JSON") and json_text == "not json at all"
    assert run_id == run.run_id
    checks = checks_of(warehouse, run.run_id)
    assert checks["rejected_lines"][:2] == ("warn", 3)
    assert checks["rejected_lines"][2]["kept"] == 3
    assert checks["rejected_lines_not_kept"][:2] == ("pass", 0)
    for name in ("rejects_table_rows_equal_rejects_kept", "rows_parsed_equal_loaded_plus_rejected",
                 "raw_rows_equal_rows_loaded", "raw_rows_equal_external_table_rows"):  # fmt: skip
        assert checks[name][0] == "pass", (name, checks[name])


def test_an_oversize_line_of_valid_json_is_counted_by_the_warehouse_and_kept_truncated(
    snowflake_objects, s3_client, warehouse
):
    """Python would parse this line; the warehouse takes no document that large (the emulator rejects lines over
    32 MiB, Snowflake over its VARIANT limit). The scan holds 64 KiB of it and keeps it, as the count demands."""
    from devstack.localsnow.jsonl import _MAX_LINE_BYTES

    n = BASE + 7
    oversize = b'{"event_log_id": 7, "event_data": "' + b"y" * _MAX_LINE_BYTES + b'"}'
    land(s3_client, n, {part(7): b"\n".join([*good_lines(70_000, 150), oversize, *good_lines(70_150, 50)]) + b"\n"})

    run = run_hour(ingest_dag(), n)

    assert run.state == "success", "1 rejected line of 201"
    assert len(raw_lines(warehouse, n)) == 200 and (part(7), 151) not in raw_lines(warehouse, n)
    ((name, line, error, record, _),) = kept_rejects(warehouse, n)
    assert (name, line, len(record)) == (part(7), 151, 65_536)
    assert f"a line of {len(oversize):,} bytes, first 65,536 kept" in error
    checks = checks_of(warehouse, run.run_id)
    assert checks["rejected_lines"][:2] == ("warn", 1) and checks["rejected_lines_not_kept"][:2] == ("pass", 0)


def test_rejected_lines_travel_as_bound_values_never_in_sql_text(snowflake_objects, s3_client, warehouse, monkeypatch):
    """The statements the connector sends, recorded: the rejects' INSERT holds `?` and the lines are its bindings."""
    import snowflake.connector.cursor
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook

    from include.event_log.config import AWS_CONN_ID, SNOWFLAKE_CONN_ID, IngestConfig
    from include.event_log.load import ingest

    n = BASE + 1
    marker = "not json'); DELETE FROM EVENT_LOG.RAW.RAW_FLINK_EVENT_LOG; --"
    land(s3_client, n, {part(3): b"\n".join([*good_lines(3000, 500), marker.encode()]) + b"\n"})
    sent: list[tuple[str, object]] = []
    real_execute = snowflake.connector.cursor.SnowflakeCursor.execute

    def recording_execute(self, command, params=None, *args, **kwargs):
        sent.append((command, params))
        return real_execute(self, command, params, *args, **kwargs)

    monkeypatch.setattr(snowflake.connector.cursor.SnowflakeCursor, "execute", recording_execute)
    config = IngestConfig.from_env()
    s3_hook = S3Hook(aws_conn_id=AWS_CONN_ID)
    listing = ingest.list_committed_part_files(s3_hook, hour(n).isoformat(), config)
    report = ingest.copy_hour(SNOWFLAKE_CONN_ID, s3_hook, listing, "bound-values", config)

    assert (report.rows_rejected, report.rejects_kept) == (1, 1)
    assert [(name, line, record) for name, line, _, record, _ in kept_rejects(warehouse, n)] == [(part(3), 501, marker)]
    assert len(raw_lines(warehouse, n)) == 500
    inserts = [
        (command, params)
        for command, params in sent
        if "RAW_FLINK_EVENT_LOG_REJECTS" in command and "INSERT" in command
    ]
    assert len(inserts) == 1 and "VALUES (?, ?, ?, ?, ?, ?, ?)" in inserts[0][0]
    assert inserts[0][1][4] == [marker], "executemany sends the batch as array bindings: one list per column"
    assert not [command for command, _ in sent if "DELETE FROM EVENT_LOG.RAW.RAW_FLINK_EVENT_LOG;" in command]


@pytest.fixture
def loaded_hour(snowflake_objects, s3_client, warehouse):
    """Hour n loaded from good files plus one bad line (so it has a kept reject): what `as it was` means."""

    def load(n: int):
        land(s3_client, n, {part(4): b"\n".join([*good_lines(4000 + 1000 * n, 400), b"{oops"]) + b"\n"})
        assert run_hour(ingest_dag(), n).state == "success"
        before = (raw_lines(warehouse, n), kept_rejects(warehouse, n))
        assert len(before[0]) == 400 and len(before[1]) == 1
        return before

    return load


def test_a_gzip_bomb_fails_the_hour_naming_it_and_leaves_the_hour_as_it_was(loaded_hour, s3_client, warehouse, capfd):
    n = BASE + 2
    before = loaded_hour(n)
    bomb = gzip.compress(b"\0" * (64 * 1024 * 1024), compresslevel=9)  # 63 KiB, as in the issue
    land(s3_client, n, {part(66): bomb})
    capfd.readouterr()

    run = run_hour(ingest_dag(), n)

    assert run.state == "failed"
    task_log = "".join(capfd.readouterr())
    assert f"{part(66)}: " in task_log and "decompression bomb" in task_log
    assert (raw_lines(warehouse, n), kept_rejects(warehouse, n)) == before, "the hour was left as it was"
    s3_client.delete_object(Bucket=BUCKET, Key=LAYOUT.hour_prefix(hour(n)) + part(66))


@pytest.mark.parametrize(
    ("damage", "name"),
    [
        pytest.param(lambda z: z[: len(z) // 2], part(77) + ".gz", id="truncated"),
        pytest.param(lambda z: z[:4000] + bytes(range(256)) * 2 + z[4512:], part(78), id="corrupt, no suffix"),
    ],
)
def test_a_corrupt_gzip_fails_the_hour_naming_it_and_leaves_the_hour_as_it_was(
    loaded_hour, s3_client, warehouse, capfd, damage, name
):
    n = BASE + 3 if name.endswith(".gz") else BASE + 4
    before = loaded_hour(n)
    whole = gzip.compress(b"\n".join(good_lines(90_000, 3000)) + b"\n")
    land(s3_client, n, {name: damage(whole)})
    capfd.readouterr()

    run = run_hour(ingest_dag(), n)

    assert run.state == "failed"
    task_log = "".join(capfd.readouterr())
    assert name in task_log
    assert (raw_lines(warehouse, n), kept_rejects(warehouse, n)) == before, "the hour was left as it was"
    s3_client.delete_object(Bucket=BUCKET, Key=LAYOUT.hour_prefix(hour(n)) + name)


def test_a_capped_scan_keeps_what_it_reached_counts_the_rest_and_says_so(
    snowflake_objects, s3_client, warehouse, monkeypatch, caplog
):
    n = BASE + 5
    monkeypatch.setenv("EVENT_LOG_REJECT_SCAN_MAX_BYTES", str(64 * 1024))
    lines = [b"{first bad", *good_lines(50_000, 3000), b"{last bad"]  # ~250 KB: the last line is past the cap
    land(s3_client, n, {part(5): b"\n".join(lines) + b"\n"})

    run = run_hour(ingest_dag(), n)

    assert run.state == "success", "2 rejected lines of 3,002 are under the ratio: the cap does not fail the hour"
    assert [(name, line) for name, line, *_ in kept_rejects(warehouse, n)] == [(part(5), 1)]
    checks = checks_of(warehouse, run.run_id)
    assert checks["rejected_lines"][:2] == ("warn", 2)
    status, observed, details = checks["rejected_lines_not_kept"]
    assert (status, observed) == ("warn", 1)
    assert details["capped_files"] == [LAYOUT.hour_path(hour(n)) + part(5)]
    (file_details,) = details["files"]
    assert (file_details["rows_rejected"], file_details["kept"], file_details["not_kept"]) == (2, 1, 1)
    assert file_details["stopped"] == "EVENT_LOG_REJECT_SCAN_MAX_BYTES" and file_details["bytes_read"] == 64 * 1024
    assert checks["rejects_table_rows_equal_rejects_kept"][0] == "pass"
    task_log = caplog.text
    assert f"Reject scan of {LAYOUT.hour_path(hour(n))}{part(5)} stopped at line" in task_log
    assert "EVENT_LOG_REJECT_SCAN_MAX_BYTES reached" in task_log


def test_rejects_older_than_the_retention_are_deleted_by_the_next_load(snowflake_objects, s3_client, warehouse):
    now = datetime.now(UTC).replace(tzinfo=None, microsecond=0)  # the table holds naive UTC
    insert = (
        "INSERT INTO EVENT_LOG.RAW.RAW_FLINK_EVENT_LOG_REJECTS (REPLICATION_HOUR, FILE_NAME, LINE_NUMBER, ERROR, "
        "REJECTED_RECORD, AIRFLOW_RUN_ID, REJECTED_AT) SELECT %(h)s::TIMESTAMP_NTZ, %(f)s, 1, 'e', 'x', 'old', "
        "%(at)s::TIMESTAMP_NTZ"
    )
    for name, age in (("expired", timedelta(days=31)), ("recent", timedelta(days=29))):
        query(warehouse, insert, {"h": datetime(2025, 7, 1, 0), "f": name, "at": now - age})
    n = BASE + 6
    land(s3_client, n, {part(6): b"\n".join(good_lines(60_000, 10)) + b"\n"})

    assert run_hour(ingest_dag(), n).state == "success"

    left = query(
        warehouse,
        "SELECT FILE_NAME FROM EVENT_LOG.RAW.RAW_FLINK_EVENT_LOG_REJECTS WHERE AIRFLOW_RUN_ID = 'old' ORDER BY 1",
    )
    assert left == [("recent",)], "EVENT_LOG_REJECT_RETENTION_DAYS (30) deleted the 31-day-old reject only"
