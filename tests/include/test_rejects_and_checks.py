"""The check results, on their own (rejected-line detection: tests/include/test_rejects.py)."""

from __future__ import annotations

import pytest

from include.event_log.check.results import CheckResult


def test_check_result_status_is_validated_and_described():
    hour = "2025-08-01T03:00:00+00:00"
    result = CheckResult("raw_rows_equal_external_table_rows", "fail", 10, 12, {"difference": -2}, hour)
    assert "[FAIL] raw_rows_equal_external_table_rows hour 2025-08-01T03:00:00+00:00" in result.describe()
    assert '"difference": -2' in result.describe()
    with pytest.raises(ValueError, match="pass, warn or fail"):
        CheckResult("x", "ok")
