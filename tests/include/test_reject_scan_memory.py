"""The worker's memory while it reads back a file with rejected lines: measured in a process of its own (peak RSS,
VmHWM), on gzip bombs and on a file larger than the scan's cap, streamed from the local S3.

The cap stated in the README: the scan adds less than SCAN_RSS_CAP_MIB to the task's memory, whatever the file.
Before the bounded reject path, the issue measured 711 MiB for the 63 KiB bomb (the whole body read, gunzipped,
split).
"""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import zlib

import pytest

from tests.conftest import REPO

SCAN_RSS_CAP_MIB = 64
pytestmark = [pytest.mark.timeout(300), pytest.mark.slow]


def zero_bomb(inflated_mib: int) -> bytes:
    """`inflated_mib` MiB of zero bytes, gzipped a MiB at a time (never the whole body in this process either)."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    zeros = b"\0" * (1024 * 1024)
    return b"".join(compressor.compress(zeros) for _ in range(inflated_mib)) + compressor.flush()


def valid_lines_then_a_bad_one(inflated_mib: int) -> bytes:
    line = json.dumps({"event_log_id": 0, "event_data": "{}", "created_at": "2025-08-01T03:00:00Z"}).encode() + b"\n"
    compressor = zlib.compressobj(6, zlib.DEFLATED, 31)
    block = b"".join(line.replace(b": 0", b": %d" % i) for i in range(10_000))
    parts = [compressor.compress(block) for _ in range(inflated_mib * 1024 * 1024 // len(block))]
    return b"".join(parts) + compressor.compress(b"not json\n") + compressor.flush()


def scan_in_child(s3_endpoint_url: str, bucket: str, key: str, rows_rejected: int) -> dict:
    conn = {"conn_type": "aws", "login": "local", "password": "local",
            "extra": {"endpoint_url": s3_endpoint_url, "region_name": "us-east-1"}}  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(REPO), "AIRFLOW_CONN_AWS_EVENT_LOG": json.dumps(conn)}
    done = subprocess.run(
        [sys.executable, "-m", "tests.include.reject_scan_child", bucket, key, str(rows_rejected)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=240, check=True,
    )  # fmt: skip
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize(("inflated_mib", "gzip_kib"), [(64, 70), (512, 560)])
def test_a_gzip_bomb_fails_naming_the_file_with_little_memory(
    s3_endpoint_url, s3_client, bucket, inflated_mib, gzip_kib
):
    body = zero_bomb(inflated_mib)
    assert len(body) < gzip_kib * 1024, "the issue's 63 KiB and 509 KiB bombs"
    key = "event_log/dt=2025-08-01/hr=03/part-bomb-0-1"
    s3_client.put_object(Bucket=bucket, Key=key, Body=body)

    outcome = scan_in_child(s3_endpoint_url, bucket, key, 1)

    assert outcome["error"].startswith("part-bomb-0-1: ") and "decompression bomb" in outcome["error"]
    added_mib = (outcome["peak_rss_kib"] - outcome["baseline_rss_kib"]) / 1024
    print(f"bomb {len(body) / 1024:.0f} KiB -> {inflated_mib} MiB: peak RSS {outcome['peak_rss_kib'] / 1024:.0f} MiB, "
          f"{added_mib:.1f} MiB over the baseline; read {outcome['bytes_read']} bytes")  # fmt: skip
    assert added_mib < SCAN_RSS_CAP_MIB
    assert outcome["bytes_read"] <= 64 * 1024


def test_a_file_past_the_cap_is_read_only_to_the_cap_with_little_memory(s3_endpoint_url, s3_client, bucket):
    body = valid_lines_then_a_bad_one(96)
    key = "event_log/dt=2025-08-01/hr=03/part-big-0-1.gz"
    s3_client.put_object(Bucket=bucket, Key=key, Body=body)
    assert gzip.decompress(body).endswith(b"not json\n")

    outcome = scan_in_child(s3_endpoint_url, bucket, key, 1)

    assert "error" not in outcome
    assert outcome["found"] == 0, "the bad line is past the cap: counted by the warehouse, not kept"
    assert outcome["stopped"] == "EVENT_LOG_REJECT_SCAN_MAX_BYTES"
    assert outcome["bytes_scanned"] <= 64 * 1024 * 1024 and outcome["bytes_read"] < len(body)
    added_mib = (outcome["peak_rss_kib"] - outcome["baseline_rss_kib"]) / 1024
    print(f"{len(body) / 2**20:.1f} MiB gzip -> 96 MiB: scanned {outcome['bytes_scanned']} bytes, peak RSS "
          f"{outcome['peak_rss_kib'] / 1024:.0f} MiB, {added_mib:.1f} MiB over the baseline")  # fmt: skip
    assert added_mib < SCAN_RSS_CAP_MIB
