"""Run by tests/include/test_reject_scan_memory.py in a process of its own: the reject scan of one S3 object, as
the load task runs it (an S3Hook on the `aws_event_log` connection, the configured limits), then its peak memory.

Prints one JSON object: the scan's outcome (or its error) and VmRSS before the scan, VmHWM after it, in KiB.
"""

from __future__ import annotations

import json
import sys


def status_kib(field: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def main(bucket: str, key: str, rows_rejected: int) -> None:
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook

    from include.event_log.config import RejectLimits
    from include.event_log.load.rejects import FileRejects, RejectScanError, _Budget, _object_chunks, scan_file

    hook = S3Hook(aws_conn_id="aws_event_log")
    hook.get_conn()  # the client, its endpoint resolved: part of the baseline, as in a task
    limits = RejectLimits.from_env()
    budget = _Budget(limits)
    rejects = FileRejects(key.rsplit("/", 1)[-1], rows_rejected, rows_rejected)
    baseline = status_kib("VmRSS")
    outcome: dict[str, object] = {"baseline_rss_kib": baseline}
    try:
        cap, _ = budget.file_cap()
        outcome["found"] = sum(1 for _ in scan_file(_object_chunks(hook, bucket, key, cap), rejects, limits, budget))
    except RejectScanError as error:
        outcome["error"] = str(error)
    outcome.update(
        peak_rss_kib=status_kib("VmHWM"), bytes_read=rejects.bytes_read, bytes_scanned=rejects.bytes_scanned,
        lines_scanned=rejects.lines_scanned, stopped=rejects.stopped,
    )  # fmt: skip
    print(json.dumps(outcome))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]))
