"""Load efficiency: the hour's COPY against the floor, a plain DuckDB read of the same S3 objects.

The COPY is the project's own statement (include/sql/ingest/copy_hour_files.sql, rendered as
`copy_hour` renders it), sent over the Snowflake connector to the local Snowflake inside the same
transaction shape as the task (DELETE the hour, COPY, COMMIT); its time is the `execute()` of the
COPY, as the worker waits for it.

The floor is what no loader of these files can avoid on this machine: a DuckDB connection in this
process, with an s3fs filesystem registered by the very function localsnow uses
(`devstack.localsnow.storage.configure`: same client, same whole-object cache), reading the same
objects' lines with the same reader localsnow's COPY uses (`read_csv` of whole lines, one statement
per file) into a temp table. Lines are read as text, not parsed as JSON: reading and splitting the
bytes is the floor, everything above it (parsing each line as JSON into the VARIANT, inserting
into the raw table, load history, the wire protocol) is what the COPY adds. For the split, the same
run also times `devstack.localsnow.jsonl.read` (read + parse, the first half of localsnow's COPY).

Floor and COPY alternate, `repeats` times each; the medians give the ratio.
"""

from __future__ import annotations

import os
import statistics
import time
from typing import Any

import duckdb

from devstack.isolated import BUCKET, PREFIX, IsolatedStack

TARGET_RATIO = 1.3


def _read_lines_sql(url: str) -> str:
    """The reader of devstack.localsnow.jsonl.read for one file: each physical line as one text value."""
    from devstack.localsnow import jsonl

    literal = "'" + url.replace("'", "''") + "'"
    return (
        f"read_csv({literal}, columns = {{'text': 'VARCHAR'}}, header = false, auto_detect = false, "
        f"delim = '{jsonl._DELIMITER}', quote = '', escape = '', strict_mode = false, compression = 'auto', "
        f"max_line_size = {jsonl._MAX_LINE_BYTES}, buffer_size = {2 * jsonl._MAX_LINE_BYTES})"
    )


def _floor_connection(stack: IsolatedStack) -> duckdb.DuckDBPyConnection:
    from devstack.localsnow import storage
    from devstack.stack import LOCAL_AWS_ENV

    os.environ.update(LOCAL_AWS_ENV)  # s3fs reads the local S3's credentials from the environment
    con = duckdb.connect()
    storage.configure(con, stack.s3_endpoint_url)
    return con


def _staged_part_files(hour_path: str, files: list[str]):
    from devstack.localsnow import storage

    listed = {f.name: f for f in storage.list_files(f"s3://{BUCKET}/{PREFIX}/", hour_path)}
    return [listed[hour_path + name] for name in files]


def time_floor(con: duckdb.DuckDBPyConnection, hour_path: str, files: list[str]) -> tuple[float, int]:
    """Seconds to list and read every line of the files into a temp table; the number of lines."""
    started = time.perf_counter()
    staged = _staged_part_files(hour_path, files)
    con.execute("CREATE OR REPLACE TEMP TABLE bench_lines (text VARCHAR)")
    for file in staged:
        con.execute(f"INSERT INTO bench_lines SELECT text FROM {_read_lines_sql(file.url)}")
    elapsed = time.perf_counter() - started
    (lines,) = con.execute("SELECT count(*) FROM bench_lines").fetchone()
    con.execute("DROP TABLE bench_lines")
    return elapsed, lines


def time_read_and_classify(con: duckdb.DuckDBPyConnection, hour_path: str, files: list[str]) -> float:
    """Seconds of localsnow's own first half of a COPY (devstack.localsnow.jsonl.read) on the same files."""
    from devstack.localsnow import jsonl

    started = time.perf_counter()
    jsonl.read(con, _staged_part_files(hour_path, files), "auto")
    jsonl.counts(con)
    elapsed = time.perf_counter() - started
    jsonl.drop(con)
    return elapsed


def time_copy(stack: IsolatedStack, listing: dict[str, Any]) -> dict[str, float]:
    """The task's transaction (DELETE the hour, COPY the listed files, COMMIT), each statement timed."""
    import pendulum

    from include.event_log.objects.declarations import event_log_objects
    from include.event_log.sql_templates import render_sql

    context = event_log_objects().template_context()
    replication_hour = pendulum.parse(listing["hour_start"]).naive().isoformat(sep=" ")
    delete_sql = render_sql("ingest/delete_hour.sql", **context)
    copy_sql = render_sql("ingest/copy_hour_files.sql", hour_path=listing["hour_path"], **context)
    params = {
        "replication_hour": replication_hour,
        "run_id": "bench",
        "files": tuple(listing["files"]),
        "loaded_at": pendulum.now("UTC").naive().isoformat(sep=" "),
    }
    with stack.snowflake() as conn:
        conn.autocommit(False)
        with conn.cursor() as cursor:
            started = time.perf_counter()
            cursor.execute(delete_sql, {"replication_hour": replication_hour})
            deleted = time.perf_counter()
            cursor.execute(copy_sql, params)
            rows = cursor.fetchall()
            copied = time.perf_counter()
            conn.commit()
            committed = time.perf_counter()
    loaded = sum(int(row[3] or 0) for row in rows)
    return {
        "delete_seconds": deleted - started,
        "copy_seconds": copied - deleted,
        "commit_seconds": committed - copied,
        "rows_loaded": loaded,
        "files": len(rows),
    }


def measure(stack: IsolatedStack, listing: dict[str, Any], repeats: int, log=print) -> dict[str, Any]:
    con = _floor_connection(stack)
    floors, classified, copies = [], [], []
    lines = 0
    try:
        # Untimed: the first read through s3fs pays for starting its client (credentials, event loop).
        time_floor(con, listing["hour_path"], listing["files"][:1])
        for repeat in range(repeats):
            floor, lines = time_floor(con, listing["hour_path"], listing["files"])
            floors.append(floor)
            classified.append(time_read_and_classify(con, listing["hour_path"], listing["files"]))
            copies.append(time_copy(stack, listing))
            log(
                f"  repeat {repeat + 1}/{repeats}: floor {floor:.2f}s, read+classify {classified[-1]:.2f}s, "
                f"COPY {copies[-1]['copy_seconds']:.2f}s (+ delete {copies[-1]['delete_seconds']:.2f}s, "
                f"commit {copies[-1]['commit_seconds']:.2f}s)"
            )
    finally:
        con.close()
    floor = statistics.median(floors)
    copy = statistics.median(c["copy_seconds"] for c in copies)
    read_and_classify = statistics.median(classified)
    return {
        "files": len(listing["files"]),
        "lines": lines,
        "rows_loaded": copies[-1]["rows_loaded"],
        "repeats": repeats,
        "floor_seconds": round(floor, 3),
        "read_and_classify_seconds": round(read_and_classify, 3),
        "copy_seconds": round(copy, 3),
        "delete_seconds": round(statistics.median(c["delete_seconds"] for c in copies), 3),
        "commit_seconds": round(statistics.median(c["commit_seconds"] for c in copies), 3),
        "ratio": round(copy / floor, 2),
        "target_ratio": TARGET_RATIO,
        "all_floor_seconds": [round(x, 3) for x in floors],
        "all_read_and_classify_seconds": [round(x, 3) for x in classified],
        "all_copy_seconds": [round(c["copy_seconds"], 3) for c in copies],
    }
