"""Freshness alone, with the CPU each stack component spent on it: `python -m bench.freshness_only [box] [out]`.

The figures of `make bench`'s freshness section (bench/live.py `measure_freshness`) on a fresh production-shaped
stack (BENCH_MODE=embedded for SQLite and the LocalExecutor): BENCH_FRESHNESS_HOURS (default 5) hours of 10,000
events land uncommitted, their runs wait in the triggerer (`backfill create`), then each gets its `_SUCCESS` once
the previous hour's run has finished; at most `box` seconds (default 360), then the models against the oracle. A
few minutes instead of the whole benchmark, to compare one change against another; the results go to `out`
(default /tmp/freshness_only.json) and stdout, never to bench/.
"""

from __future__ import annotations

import json
import sys
from datetime import timedelta

from bench import live
from bench.backfill_only import arguments, component_cpu, one_stack
from bench.run import land


def main(argv: list[str]) -> int:
    box, output, count = arguments(argv, 360.0, "/tmp/freshness_only.json", "BENCH_FRESHNESS_HOURS", 5)
    with one_stack(count) as (stack, api, now_hour):
        hours = live.hour_range(now_hour - timedelta(hours=count + 40), count)
        pending = land(stack, hours[-1] + timedelta(hours=1), count, 10_000, 4, committed=False)
        print(f"{stack.mode} stack; landed {pending.records} events in {count} uncommitted hours", flush=True)
        api.unpause(live.DAG_ID)
        waiting = live.measure_waiting(stack, api, hours, 240, print)
        with component_cpu(stack) as cpu:
            result = live.measure_freshness(stack, api, hours, box, print)
        print(
            f"median end to end {result['median_end_to_end_seconds']} s; stage medians "
            f"{result['stage_median_seconds']}; build split {result['build_split_median_seconds']}",
            flush=True,
        )
        live.stop_runs(api, hours, print)
        oracle = live.compare_models(stack, print)
        output.write_text(json.dumps(
            {"waiting": waiting, "freshness": result, "cpu_seconds": cpu, "oracle": oracle}, default=str, indent=1,
        ))  # fmt: skip
        print(f"Wrote {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
