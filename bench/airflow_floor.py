"""What Airflow alone costs a backfill on this machine: `python -m bench.airflow_floor [box] [out]`.

On a fresh stack of BENCH_MODE (production-shaped by default: PostgreSQL, Celery, two workers) whose DAGs folder
is bench/floor_dags instead of dags/, `airflow backfill create` over BENCH_FLOOR_HOURS (default 24) hours of each
floor DAG in turn, one backfill at a time, as `make bench` backfills event_log_ingest (--max-active-runs 24,
--reprocess-behavior completed): `floor_one_task` (one worker task per run) and `floor_ingest_shape` (the
ingest's 13 tasks per run, doing nothing). Each is followed for at most `box` seconds (default 300). Reported per
DAG: runs a minute (the runs over the time from `backfill create` to the last run's end), the CPU seconds of every
component's process group over the backfill, and those per run. No S3, warehouse or dbt work is in these figures:
they are a floor under the ingest's hours a minute on the same machine. Results to `out` (default
/tmp/airflow_floor.json) and stdout, never to bench/.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench import live
from bench.backfill_only import arguments, component_cpu, executor_sizing
from devstack.isolated import IsolatedStack
from devstack.stack import DAGS_FOLDER_VARIABLE, PRODUCTION

FLOOR_DAGS = Path(__file__).resolve().parent / "floor_dags"
DAG_IDS = ("floor_one_task", "floor_ingest_shape")


def backfill(stack: IsolatedStack, api, dag_id: str, hours: list[datetime], box: float, log) -> dict[str, Any]:
    api.wait_for_dag(dag_id)
    api.unpause(dag_id)
    time.sleep(5)
    with component_cpu(stack) as cpu:
        created_at = live.utcnow()
        started = time.monotonic()
        live.backfill_create(stack, hours, max_active_runs=min(len(hours), 24), dag_id=dag_id)
        runs: list[Any] = []
        while time.monotonic() < started + box:
            runs = api.dag_runs(dag_id, logical_date_gte=min(hours), logical_date_lte=max(hours))
            if len(runs) == len(hours) and all(live._state(r) in live.FINISHED for r in runs):
                break
            time.sleep(2)
    ended = [r.end_date for r in runs if live._state(r) == "success" and r.end_date]
    seconds = (max(ended) - created_at).total_seconds() if len(ended) == len(hours) else None
    total_cpu = round(sum(cpu.values()), 1)
    result = {
        "dag_id": dag_id,
        "hours": len(hours),
        "runs_succeeded": len(ended),
        "seconds_to_last_run": round(seconds, 1) if seconds else None,
        "runs_per_minute": round(len(hours) / (seconds / 60), 2) if seconds else None,
        "cpu_seconds": cpu,
        "cpu_seconds_total": total_cpu,
        "cpu_seconds_per_run": round(total_cpu / len(hours), 2),
    }
    log(
        f"  {dag_id}: {len(ended)}/{len(hours)} runs succeeded; {result['runs_per_minute']} runs a minute; "
        f"{total_cpu} CPU seconds, {result['cpu_seconds_per_run']} per run"
    )
    return result


def measure(count: int, box: float, mode: str, log) -> dict[str, Any]:
    """Both floor DAGs backfilled over `count` hours, one after the other, on one fresh stack of `mode`."""
    var_dir = Path(tempfile.mkdtemp(prefix="bench-floor-"))
    sizing = executor_sizing()
    extra_env = {
        DAGS_FOLDER_VARIABLE: str(FLOOR_DAGS),
        "AIRFLOW__SCHEDULER__MAX_DAGRUNS_PER_LOOP_TO_SCHEDULE": str(max(20, min(count, 24)) + 8),
        **sizing,
    }
    stack = IsolatedStack(var_dir, extra_env=extra_env, mode=mode)
    now_hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    try:
        stack.start(now_hour + timedelta(hours=1))
        api = stack.api()
        hours = live.hour_range(now_hour - timedelta(hours=count + 48), count)
        described = ", ".join(f"{name}={value}" for name, value in sizing.items()) or "the stack's own"
        log(f"  {stack.mode} stack; DAGs from {FLOOR_DAGS}; {count} hours each; executor sizing: {described}")
        results = [backfill(stack, api, dag_id, hours, box, log) for dag_id in DAG_IDS]
        return {"mode": stack.mode, "hours": count, "box_seconds": round(box), "sizing": sizing, "dags": results}
    finally:
        log("  " + stack.stop())
        shutil.rmtree(var_dir, ignore_errors=True)


def main(argv: list[str]) -> int:
    box, output, count = arguments(argv, 300.0, "/tmp/airflow_floor.json", "BENCH_FLOOR_HOURS", 24)
    result = measure(count, box, os.environ.get("BENCH_MODE", PRODUCTION), lambda line: print(line, flush=True))
    output.write_text(json.dumps(result, default=str, indent=1))
    print(f"Wrote {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
