"""Every `python -m bench.<module>` the README and the closing notes give imports on its own: the bench modules
use each other, and an import cycle between them breaks only the one started first."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
ENTRY_POINTS = ["run", "backfill_only", "freshness_only", "airflow_floor", "parse_time", "load_efficiency"]


@pytest.mark.parametrize("module", ENTRY_POINTS)
def test_the_module_imports_as_the_first_bench_module(module, tmp_path):
    code = f"import importlib; importlib.import_module('bench.{module}')"
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO), "HOME": str(tmp_path), "AIRFLOW_HOME": str(tmp_path)},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
