"""Rejected-line detection and the check results, on their own."""

from __future__ import annotations

import gzip

import pytest

from include.event_log.checks import CheckResult
from include.event_log.ingest import rejected_lines


class _Object:
    def __init__(self, body: bytes):
        self._body = body

    def get(self):
        return {"Body": self}

    def read(self):
        return self._body


class FakeS3Hook:
    def __init__(self, objects: dict[str, bytes]):
        self.objects = objects

    def get_key(self, key, bucket_name):
        return _Object(self.objects[key])


@pytest.mark.parametrize("gzipped", [False, True])
def test_rejected_lines_names_every_bad_line_including_a_truncated_last_one(gzipped):
    body = b'{"event_log_id": 1}\n\nnot json\n{"event_log_id": 2}\n{"event_log_id": 3, "cut'
    key = "event_log/2025/08/01/03/part-a-0-1.jsonl" + (".gz" if gzipped else "")
    hook = FakeS3Hook({key: gzip.compress(body) if gzipped else body})
    found = rejected_lines(hook, "bucket", key, "2025/08/01/03/part-a-0-1.jsonl")
    assert [(r.line_number, r.rejected_record) for r in found] == [(3, "not json"), (5, '{"event_log_id": 3, "cut')]
    assert all(r.error.startswith("Error parsing JSON") for r in found)
    assert {r.file_name for r in found} == {"2025/08/01/03/part-a-0-1.jsonl"}


def test_check_result_status_is_validated_and_described():
    hour = "2025-08-01T03:00:00+00:00"
    result = CheckResult("raw_rows_equal_external_table_rows", "fail", 10, 12, {"difference": -2}, hour)
    assert "[FAIL] raw_rows_equal_external_table_rows hour 2025-08-01T03:00:00+00:00" in result.describe()
    assert '"difference": -2' in result.describe()
    with pytest.raises(ValueError, match="pass, warn or fail"):
        CheckResult("x", "ok")
