"""Worker memory: the peak RSS of the load task's body for a small and a large hour.

The COPY step of `load_partition` (dags/event_log_ingest.py) runs in a child process, as the task runs
it: an S3Hook on the `aws_event_log` connection, then `include.event_log.load.ingest.copy_hour` on the
`snowflake_event_log` connection, against the running local S3 and Snowflake, with the hour's listing as
`load_partition` makes it (given on stdin). The child's peak RSS is its VmHWM
(/proc/self/status), read as its last act. Not ru_maxrss (getrusage, wait4): on Linux that high-water
mark survives fork and exec, so a child of this benchmark process, which has just read a large hour
through DuckDB, would report this process's RSS rather than its own. A second child only does the
imports and builds the hooks, so the report can say how much of the peak is the Python process itself.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from typing import Any

from devstack.isolated import IsolatedStack

TARGET_RATIO = 1.2

TASK_BODY = r"""
import json, sys
from airflow.providers.amazon.aws.hooks.s3 import S3Hook
from include.event_log.config import AWS_CONN_ID, SNOWFLAKE_CONN_ID, IngestConfig
from include.event_log.load.ingest import copy_hour
from include.event_log.warehouse import EventLogSnowflakeHook

listing = json.load(sys.stdin)
s3_hook = S3Hook(aws_conn_id=AWS_CONN_ID)
if sys.argv[1] == "imports-only":
    EventLogSnowflakeHook(snowflake_conn_id=SNOWFLAKE_CONN_ID).get_connection(SNOWFLAKE_CONN_ID)
    print(json.dumps({}))
else:
    report = copy_hour(SNOWFLAKE_CONN_ID, s3_hook, listing, "bench-worker-memory", IngestConfig.from_env())
    print(json.dumps({"rows_loaded": report.rows_loaded, "files_loaded": report.files_loaded}))
# The process's own peak resident set (per address space, so nothing inherited from the parent), in kB.
peak = next(line for line in open("/proc/self/status") if line.startswith("VmHWM:"))
print(json.dumps({"peak_rss_bytes": int(peak.split()[1]) * 1024}))
"""


def run_task_body(env: dict[str, str], listing: dict[str, Any], mode: str) -> dict[str, Any]:
    """Run the task body in a child; return its peak RSS (bytes), wall time and what it reported."""
    started = time.perf_counter()
    with tempfile.TemporaryFile("w+") as stdout, tempfile.TemporaryFile("w+") as stderr:
        proc = subprocess.Popen(
            [sys.executable, "-c", TASK_BODY, mode], env=env, stdin=subprocess.PIPE, stdout=stdout, stderr=stderr,
            text=True,
        )  # fmt: skip
        proc.stdin.write(json.dumps(listing))
        proc.stdin.close()
        proc.wait()
        stdout.seek(0)
        stderr.seek(0)
        out, err = stdout.read(), stderr.read()
    if proc.returncode != 0:
        raise RuntimeError(f"the task body failed ({proc.returncode}):\n{err[-4000:]}")
    *_, reported, peak = (json.loads(line) for line in out.strip().splitlines() if line.startswith("{"))
    return {**peak, "seconds": round(time.perf_counter() - started, 2), **reported}


def measure(stack: IsolatedStack, listings: dict[str, dict[str, Any]], log=print) -> dict[str, Any]:
    """`listings`: label (e.g. "10000 events") -> the hour's listing; the first is the baseline size."""
    env = stack.airflow_env()
    imports_only = run_task_body(env, next(iter(listings.values())), "imports-only")
    log(f"  imports and hooks only: peak RSS {imports_only['peak_rss_bytes'] / 2**20:.0f} MiB")
    sizes = {}
    for label, listing in listings.items():
        sizes[label] = run_task_body(env, listing, "copy")
        log(
            f"  copy_hour, {label}: peak RSS {sizes[label]['peak_rss_bytes'] / 2**20:.0f} MiB, "
            f"{sizes[label]['rows_loaded']} rows in {sizes[label]['seconds']:.1f}s"
        )
    peaks = [s["peak_rss_bytes"] for s in sizes.values()]
    return {
        "imports_only_peak_rss_bytes": imports_only["peak_rss_bytes"],
        "sizes": sizes,
        "ratio": round(peaks[-1] / peaks[0], 3),
        "target_ratio": TARGET_RATIO,
    }
