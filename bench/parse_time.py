"""How long each DAG file takes to parse, measured as the dag-processor pays it.

Each measurement is a fresh Python process that first loads what the dag-processor has loaded before
it parses any file (Airflow's SDK and the plugins), then times executing the DAG file: its own
imports (providers, Cosmos, this package) included. The cold figure is a whole fresh process. Reported: the median
of N runs per file, and for event_log_ingest the share of the dbt task group (Cosmos rendering the
manifest). Bytecode is compiled at install (see Makefile), so no run pays for compiling.

    python -m bench.parse_time [--runs 10] [--json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TARGET_SECONDS = 0.5

PROBE = r"""
import json, sys, time, importlib.util
# Loaded once by the dag-processor before it parses any file: the SDK and the plugins.
import airflow.sdk
from airflow import plugins_manager
plugins_manager.ensure_plugins_loaded()
path = sys.argv[1]
timings = {"task_group": 0.0}
started = time.perf_counter()
if "cosmos" in open(path).read():
    # Cosmos is imported inside the timed window: it is part of what this DAG file costs.
    from cosmos import DbtTaskGroup
    original_init = DbtTaskGroup.__init__
    def timed_init(self, *args, **kwargs):
        group_started = time.perf_counter()
        original_init(self, *args, **kwargs)
        timings["task_group"] += time.perf_counter() - group_started
    DbtTaskGroup.__init__ = timed_init
spec = importlib.util.spec_from_file_location("dag_under_test", path)
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
timings["parse"] = time.perf_counter() - started
print(json.dumps(timings))
"""

PROBE_COLD = r"""
import json, sys, time, importlib.util
started = time.perf_counter()
import airflow.sdk
spec = importlib.util.spec_from_file_location("dag_under_test", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
print(json.dumps({"cold": time.perf_counter() - started}))
"""


def measure(path: Path, runs: int) -> dict[str, float]:
    parse, group, cold = [], [], []
    for _ in range(runs):
        out = (
            subprocess.run(
                [sys.executable, "-c", PROBE, str(path)], capture_output=True, text=True, check=True, cwd=REPO
            )
            .stdout.strip()
            .splitlines()[-1]
        )
        timings = json.loads(out)
        parse.append(timings["parse"])
        group.append(timings["task_group"])
        out = (
            subprocess.run(
                [sys.executable, "-c", PROBE_COLD, str(path)], capture_output=True, text=True, check=True, cwd=REPO
            )
            .stdout.strip()
            .splitlines()[-1]
        )
        cold.append(json.loads(out)["cold"])
    return {
        "median_parse_seconds": round(statistics.median(parse), 3),
        "max_parse_seconds": round(max(parse), 3),
        "median_task_group_seconds": round(statistics.median(group), 3),
        "median_cold_process_seconds": round(statistics.median(cold), 3),
        "runs": runs,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    results = {path.stem: measure(path, args.runs) for path in sorted((REPO / "dags").glob("*.py"))}
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    print(f"{'DAG file':22} {'median parse':>13} {'max':>7} {'dbt task group':>15} {'cold process':>13}  target")
    for name, r in results.items():
        verdict = "ok" if r["median_parse_seconds"] < TARGET_SECONDS else "MISSED"
        print(f"{name:22} {r['median_parse_seconds']:>12.3f}s {r['max_parse_seconds']:>6.3f}s "
              f"{r['median_task_group_seconds']:>14.3f}s {r['median_cold_process_seconds']:>12.3f}s  "
              f"< {TARGET_SECONDS}s {verdict}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
