"""One backfill alone, with the CPU each stack component spent on it: `python -m bench.backfill_only [box] [out]`.

The figures of `make bench`'s backfill section (bench/live.py `measure_backfill`) on a fresh production-shaped
stack (PostgreSQL, Celery, two workers; BENCH_MODE=embedded for SQLite and the LocalExecutor), 24 committed hours
of 10,000 events (BENCH_BACKFILL_HOURS), followed for `box` seconds (default 420), then the models against the
oracle. Added to that: the CPU seconds (user + system, children included) of every component's process group over
the backfill, from /proc. A few minutes instead of the whole benchmark, to compare one change against another; the
results go to `out` (default /tmp/backfill_only.json) and stdout, never to bench/.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench import live
from bench.run import create_objects, land
from devstack.isolated import BUCKET, IsolatedStack
from devstack.stack import EXECUTOR_SIZING, PRODUCTION

TICKS = os.sysconf("SC_CLK_TCK")


def group_cpu_seconds(pgid: int) -> float:
    """User and system time of the live processes of a process group, with their waited-for children."""
    ticks = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:
            ticks += sum(int(value) for value in fields[11:15])
    return ticks / TICKS


def arguments(argv: list[str], box: float, output: str, count_variable: str, count: int) -> tuple[float, Path, int]:
    """`[box] [out]` from the command line, the number of hours from `count_variable`, each with its default."""
    return (
        float(argv[0]) if argv else box,
        Path(argv[1] if len(argv) > 1 else output),
        int(os.environ.get(count_variable, str(count))),
    )


def executor_sizing() -> dict[str, str]:
    """The executor's size from this process's environment (AIRFLOW__CORE__PARALLELISM and
    AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG; DEVSTACK_WORKER_CONCURRENCY passes by itself): an owned stack starts
    without the caller's AIRFLOW_* variables, so a sizing to compare is handed over explicitly."""
    return {name: os.environ[name] for name in EXECUTOR_SIZING if name in os.environ}


@contextlib.contextmanager
def one_stack(hours: int) -> Iterator[tuple[IsolatedStack, Any, datetime]]:
    """A fresh stack of BENCH_MODE (production-shaped by default) in a temporary var directory, its Snowflake
    objects and bucket made, for `hours` runs at once; stopped and removed on exit. Yields the stack, its REST
    client and the current hour (the DAG starts an hour later, so every run is a backfill's)."""
    var_dir = Path(tempfile.mkdtemp(prefix="bench-one-"))
    extra_env = {
        "EVENT_LOG_DEADLINE_GRACE_SECONDS": str(30 * 24 * 3600),  # days-old hours: no deadline fires
        "AIRFLOW__SCHEDULER__MAX_DAGRUNS_PER_LOOP_TO_SCHEDULE": str(max(20, min(hours, 24)) + 8),
        **executor_sizing(),
    }
    stack = IsolatedStack(var_dir, extra_env=extra_env, mode=os.environ.get("BENCH_MODE", PRODUCTION))
    now_hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    try:
        stack.start(now_hour + timedelta(hours=1))
        api = stack.api()
        create_objects(stack, api)
        stack.s3().create_bucket(Bucket=BUCKET)
        yield stack, api, now_hour
    finally:
        print(stack.stop(), flush=True)
        shutil.rmtree(var_dir, ignore_errors=True)


@contextlib.contextmanager
def component_cpu(stack: IsolatedStack) -> Iterator[dict[str, float]]:
    """Fills the yielded dict, on exit, with the CPU seconds each component's process group spent inside."""
    groups = dict(stack.state["pids"])
    before = {name: group_cpu_seconds(pgid) for name, pgid in groups.items()}
    spent: dict[str, float] = {}
    yield spent
    spent.update({name: round(group_cpu_seconds(pgid) - before[name], 1) for name, pgid in groups.items()})
    print(f"CPU seconds, per component: {spent}", flush=True)


def main(argv: list[str]) -> int:
    box, output, count = arguments(argv, 420.0, "/tmp/backfill_only.json", "BENCH_BACKFILL_HOURS", 24)
    with one_stack(count) as (stack, api, now_hour):
        hours = live.hour_range(now_hour - timedelta(hours=count + 88), count)
        landed = land(stack, hours[-1] + timedelta(hours=1), count, 10_000, 4)
        print(f"{stack.mode} stack; landed {landed.records} events in {count} committed hours", flush=True)
        api.unpause(live.DAG_ID)
        time.sleep(5)
        with component_cpu(stack) as cpu:
            result = live.measure_backfill(stack, api, hours, box, min(count, 24), print)
        live.stop_runs(api, hours, print)
        oracle = live.compare_models(stack, print)
        output.write_text(json.dumps({"backfill": result, "cpu_seconds": cpu, "oracle": oracle}, default=str, indent=1))
        print(f"Wrote {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
