"""How long each DAG file takes to parse, measured as the dag-processor pays it.

The dag-processor imports Airflow once, then parses every DAG file in a process forked from itself.
Measured the same way: one fresh interpreter loads what the dag-processor has loaded before it parses
any file (Airflow's SDK and the plugins), then forks one child per measurement; each child times
executing the DAG file, its own imports (providers, Cosmos, this package) included, and exits. So
every measurement starts from the same state and nothing the DAG file imports is cached. (The real
dag-processor also pre-imports the `airflow.*` modules a file names before forking; that is not
done here, so these figures are an upper bound.) Reported: the median and max over N runs per file,
and for event_log_ingest the share of the dbt task group (Cosmos rendering the manifest, its import
excluded). The cold figure is a whole fresh interpreter (Python start, Airflow's SDK, the file): what a
`python dags/x.py` or a test collection pays. Bytecode is compiled at install (see Makefile), so no
run pays for compiling.

    python -m bench.parse_time [--runs 10] [--cold-runs 3] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TARGET_SECONDS = 0.5
# As every Airflow component has it: DAG files may import the plugins' modules (the triggers they defer to).
ENV = {**os.environ, "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins")}

# argv: runs, then the DAG files. Prints one JSON line per measurement: {"path", "parse", "task_group"}.
PROBE = r"""
import json, os, sys, time, importlib.util
# Loaded once by the dag-processor before it parses any file: the SDK and the plugins.
import airflow.sdk
from airflow import plugins_manager
plugins_manager.ensure_plugins_loaded()

def parse(path):
    timings = {"path": path, "task_group": 0.0}
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
    return timings

runs = int(sys.argv[1])
for path in sys.argv[2:]:
    for _ in range(runs):
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(read_end)
            try:
                os.write(write_end, json.dumps(parse(path)).encode())
                code = 0
            except BaseException as error:
                os.write(write_end, json.dumps({"path": path, "error": repr(error)}).encode())
                code = 1
            os._exit(code)
        os.close(write_end)
        with os.fdopen(read_end) as pipe:
            line = pipe.read()
        os.waitpid(pid, 0)
        print(line, flush=True)
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


def dag_files() -> list[Path]:
    return sorted((REPO / "dags").glob("*.py"))


def _last_json_line(result: subprocess.CompletedProcess) -> dict:
    if result.returncode != 0:
        raise RuntimeError(f"parse probe failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def measure_all(runs: int = 10, cold_runs: int = 3) -> dict[str, dict[str, float]]:
    paths = dag_files()
    result = subprocess.run(
        [sys.executable, "-c", PROBE, str(runs), *map(str, paths)], capture_output=True, text=True, cwd=REPO, env=ENV
    )
    if result.returncode != 0:
        raise RuntimeError(f"parse probe failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    samples: dict[str, list[dict]] = {str(path): [] for path in paths}
    for line in result.stdout.splitlines():
        if line.startswith('{"path"'):
            sample = json.loads(line)
            if "error" in sample:
                raise RuntimeError(f"parsing {sample['path']} failed: {sample['error']}")
            samples[sample["path"]].append(sample)
    results = {}
    for path in paths:
        parse = [s["parse"] for s in samples[str(path)]]
        group = [s["task_group"] for s in samples[str(path)]]
        cold = [
            _last_json_line(
                subprocess.run(
                    [sys.executable, "-c", PROBE_COLD, str(path)], capture_output=True, text=True, cwd=REPO, env=ENV
                )
            )["cold"]
            for _ in range(cold_runs)
        ]
        results[path.stem] = {
            "median_parse_seconds": round(statistics.median(parse), 3),
            "max_parse_seconds": round(max(parse), 3),
            "median_task_group_seconds": round(statistics.median(group), 3),
            "median_cold_process_seconds": round(statistics.median(cold), 3) if cold else None,
            "runs": len(parse),
            "cold_runs": len(cold),
            "target_seconds": TARGET_SECONDS,
        }
    return results


def format_table(results: dict[str, dict[str, float]]) -> str:
    lines = [f"{'DAG file':22} {'median parse':>13} {'max':>7} {'dbt task group':>15} {'cold process':>13}  target"]
    for name, r in results.items():
        verdict = "ok" if r["median_parse_seconds"] < TARGET_SECONDS else "MISSED"
        cold = f"{r['median_cold_process_seconds']:>12.3f}s" if r["median_cold_process_seconds"] is not None else ""
        lines.append(
            f"{name:22} {r['median_parse_seconds']:>12.3f}s {r['max_parse_seconds']:>6.3f}s "
            f"{r['median_task_group_seconds']:>14.3f}s {cold:>13}  < {TARGET_SECONDS}s {verdict}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--cold-runs", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    results = measure_all(args.runs, args.cold_runs)
    print(json.dumps(results, indent=2) if args.json else format_table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
