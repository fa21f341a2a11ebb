"""`make bench`: the project's performance figures on this machine, next to their targets.

1. parse time of every DAG file (no stack needed);
2. a dedicated local stack in a temporary var directory (never the developer's var/), the Snowflake
   objects created by the `snowflake_objects` DAG;
3. load efficiency (COPY of a 1,000,000-event hour against the floor) and worker memory (the load
   task's body on a 10,000- and a 1,000,000-event hour), while Airflow's scheduler has nothing to run;
4. on the live stack: waiting cost, freshness latency, a 24-hour backfill, each time-boxed so the whole
   run fits its budget (BENCH_BUDGET_SECONDS, default 800 s of measuring); then a 168-hour backfill in a box of
   its own (BENCH_LONG_BACKFILL_HOURS, 0 skips it; BENCH_LONG_BACKFILL_BOX_SECONDS); after each backfill every
   model is compared with the oracle computed from the landed files (devstack/model_oracle.py);
5. the stack is stopped (always);
6. the same live figures (waiting, freshness, both backfills) on a second stack in production mode (PostgreSQL, the
   Celery executor, two workers), within BENCH_PRODUCTION_BUDGET_SECONDS (default 800 s, as the embedded run;
   BENCH_PRODUCTION=0 skips it), that stack stopped too;
7. the Airflow floor (bench/airflow_floor.py): the same backfill of DAGs that do no work, one task per run and the
   ingest's 13 tasks per run, on a third stack of the same mode (BENCH_AIRFLOW_FLOOR=0 skips it); then
   bench/results.json, bench/README.md and, when matplotlib is installed, PNG charts are written.

Figures are printed next to their targets. A missed target is a result, not an error: the exit status
is non-zero only when something crashed. Sizes can be lowered for a trial run, e.g.
`BENCH_EVENTS=50000 BENCH_BACKFILL_HOURS=4 BENCH_LONG_BACKFILL_HOURS=6 BENCH_OUTPUT_DIR=/tmp/bench python -m bench.run`.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import shutil
import signal
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench import live, load_efficiency, parse_time, report, worker_memory
from devstack.isolated import BUCKET, PREFIX, IsolatedStack
from devstack.stack import EMBEDDED, PRODUCTION


def _env_int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


@dataclasses.dataclass(frozen=True)
class Settings:
    events: int = _env_int("BENCH_EVENTS", 1_000_000)
    small_events: int = _env_int("BENCH_SMALL_EVENTS", 10_000)
    files: int = _env_int("BENCH_FILES", 8)
    copy_repeats: int = _env_int("BENCH_COPY_REPEATS", 2)
    parse_runs: int = _env_int("BENCH_PARSE_RUNS", 10)
    parse_cold_runs: int = _env_int("BENCH_PARSE_COLD_RUNS", 3)
    waiting_hours: int = _env_int("BENCH_WAITING_HOURS", 24)
    freshness_hours: int = _env_int("BENCH_FRESHNESS_HOURS", 5)
    backfill_hours: int = _env_int("BENCH_BACKFILL_HOURS", 24)
    long_backfill_hours: int = _env_int("BENCH_LONG_BACKFILL_HOURS", 168)
    # The oracle holds every model and its expected rows in memory: 168 hours of 10,000 events would be gigabytes.
    long_events_per_hour: int = _env_int("BENCH_LONG_BACKFILL_EVENTS_PER_HOUR", 2_000)
    long_backfill_box_seconds: int = _env_int("BENCH_LONG_BACKFILL_BOX_SECONDS", 900)
    backfill_max_active_runs: int = _env_int("BENCH_BACKFILL_MAX_ACTIVE_RUNS", 24)
    live_events_per_hour: int = _env_int("BENCH_LIVE_EVENTS_PER_HOUR", 10_000)
    live_files_per_hour: int = _env_int("BENCH_LIVE_FILES_PER_HOUR", 4)
    budget_seconds: int = _env_int("BENCH_BUDGET_SECONDS", 800)
    freshness_box_seconds: int = _env_int("BENCH_FRESHNESS_BOX_SECONDS", 360)
    production: bool = os.environ.get("BENCH_PRODUCTION", "1") != "0"
    production_budget_seconds: int = _env_int("BENCH_PRODUCTION_BUDGET_SECONDS", 800)
    airflow_floor: bool = os.environ.get("BENCH_AIRFLOW_FLOOR", "1") != "0"
    floor_box_seconds: int = _env_int("BENCH_FLOOR_BOX_SECONDS", 300)
    output_dir: Path = Path(os.environ.get("BENCH_OUTPUT_DIR", Path(__file__).resolve().parent))


def log(message: str) -> None:
    print(message, flush=True)


class S3Lister:
    """The one S3Hook method `list_committed_part_files` calls, over a plain boto3 client."""

    def __init__(self, client):
        self.client = client

    def list_keys(self, bucket_name: str, prefix: str) -> list[str]:
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=bucket_name, Prefix=prefix)
        return [item["Key"] for page in pages for item in page.get("Contents", [])]


def ingest_config():
    from include.event_log.config import IngestConfig

    return dataclasses.replace(IngestConfig.from_env(), bucket=BUCKET, prefix=PREFIX)


def land(stack: IsolatedStack, end_hour: datetime, hours: int, events: int, files: int, committed: bool = True):
    from devstack.simulator import SimulationOptions, simulate

    starts = [end_hour - timedelta(hours=hours - i) for i in range(hours)]
    options = SimulationOptions(
        bucket=BUCKET, prefix=PREFIX, end_hour=end_hour, hours=hours, events_per_hour=events,
        files_per_hour=files, uncommitted_hours=() if committed else tuple(starts),
    )  # fmt: skip
    return simulate(stack.s3(), options)


def listing_of(stack: IsolatedStack, hour: datetime) -> dict[str, Any]:
    from include.event_log.load.ingest import list_committed_part_files

    return list_committed_part_files(S3Lister(stack.s3()), hour.isoformat(), ingest_config())


def drop_hours(stack: IsolatedStack, hours: list[datetime]) -> None:
    """Remove the load benchmarks' hours from the raw table and S3, so the live runs' dbt never sees them."""
    s3 = stack.s3()
    for hour in hours:
        stack.query(
            "DELETE FROM EVENT_LOG.RAW.RAW_FLINK_EVENT_LOG WHERE REPLICATION_HOUR = %(hour)s::TIMESTAMP_NTZ",
            {"hour": hour.replace(tzinfo=None).isoformat(sep=" ")},
        )
        keys = S3Lister(s3).list_keys(BUCKET, ingest_config().hour_prefix(hour))
        for start in range(0, len(keys), 1000):
            s3.delete_objects(Bucket=BUCKET, Delete={"Objects": [{"Key": k} for k in keys[start : start + 1000]]})


def create_objects(stack: IsolatedStack, api) -> None:
    for dag_id in ("snowflake_objects", live.DAG_ID):
        api.wait_for_dag(dag_id)
    run_id = api.trigger("snowflake_objects", logical_date=None)
    api.unpause("snowflake_objects")
    (run,) = api.wait_for_runs("snowflake_objects", {run_id}, timeout=300)
    if str(run.state.value) != "success":
        raise RuntimeError(f"snowflake_objects ended {run.state.value}")


class Bench:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.started = time.monotonic()
        self.deadline = self.started + settings.budget_seconds
        self.results: dict[str, Any] = {"meta": report.machine_and_versions(), "settings": {}, "errors": {}}
        self.results["settings"] = {
            k: str(v) if isinstance(v, Path) else v for k, v in dataclasses.asdict(settings).items()
        }

    def remaining(self) -> float:
        return self.deadline - time.monotonic()

    def section(self, name: str, measure: Callable[[], Any], into: dict[str, Any] | None = None) -> Any:
        """Run one measurement; its result goes to `into` (the production stack's results) or the top level."""
        target = self.results if into is None else into
        label = name if into is None else f"{PRODUCTION}.{name}"
        log(f"\n== {label} ({time.monotonic() - self.started:.0f}s into the run)")
        section_started = time.monotonic()
        try:
            value = measure()
        except Exception:
            self.results["errors"][label] = traceback.format_exc()
            log(f"  CRASHED:\n{traceback.format_exc()}")
            return None
        target.setdefault("section_seconds", {})[name] = round(time.monotonic() - section_started, 1)
        if value is not None:
            target[name] = value
        return value

    def run(self) -> int:
        s = self.settings
        self.section("parse", lambda: parse_time.measure_all(s.parse_runs, s.parse_cold_runs))
        if "parse" in self.results:
            log(parse_time.format_table(self.results["parse"]))

        var_dir = Path(tempfile.mkdtemp(prefix="bench-stack-"))
        extra_env = {
            # The benchmark's hours are days old: without a longer grace every run's deadline (all past) could fire
            # at once, and the triggerer's memory would measure 48 alert callbacks instead of 24 waiting hours.
            "EVENT_LOG_DEADLINE_GRACE_SECONDS": str(30 * 24 * 3600),
            # The scheduler examines this many running runs per loop, a backfill's in backfill order first: at
            # the default (20) a 24-hour backfill leaves its last 4 runs unstarted until earlier ones finish.
            "AIRFLOW__SCHEDULER__MAX_DAGRUNS_PER_LOOP_TO_SCHEDULE": str(
                max(20, s.waiting_hours, min(s.backfill_hours, s.backfill_max_active_runs)) + 8
            ),
        }
        stack = IsolatedStack(var_dir, extra_env=extra_env)
        now_hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
        # The DAG starts next hour: no scheduled run appears while the bench runs; every run is a backfill.
        start_date = now_hour + timedelta(hours=1)
        base = now_hour - timedelta(hours=120)
        big_hour, small_hour = base, base + timedelta(hours=1)
        backfill_hours = live.hour_range(base + timedelta(hours=8), s.backfill_hours)
        waiting_hours = live.hour_range(base + timedelta(hours=8 + s.backfill_hours + 4), s.waiting_hours)
        freshness_hours = waiting_hours[: s.freshness_hours]
        # The long backfill's hours come before all others (12 days back with 168 hours: within the grace above).
        long_hours = live.hour_range(base - timedelta(hours=s.long_backfill_hours + 8), s.long_backfill_hours)
        hours = live.Hours(backfill_hours, long_hours, waiting_hours, freshness_hours)
        try:
            try:
                if self.section("stack", lambda: self.start_stack(stack, start_date)):
                    self.measure_on_stack(stack, big_hour, small_hour, hours)
            finally:
                self.stop(stack, var_dir)
            if s.production:
                self.measure_production(extra_env, start_date, hours)
            if s.airflow_floor:
                # Imported here: bench.airflow_floor uses bench.backfill_only, which uses this module.
                from bench import airflow_floor

                mode = PRODUCTION if s.production else EMBEDDED
                self.section(
                    "airflow_floor",
                    lambda: airflow_floor.measure(s.backfill_hours, s.floor_box_seconds, mode, log),
                )
        finally:
            self.write_results()
        return 1 if self.results["errors"] else 0

    def measure_on_stack(self, stack, big_hour, small_hour, hours: live.Hours) -> None:
        s = self.settings
        api = stack.api()
        if self.section("land_load_hours", lambda: self.land_load_hours(stack, big_hour, small_hour)):
            big, small = listing_of(stack, big_hour), listing_of(stack, small_hour)
            self.section("load_efficiency", lambda: load_efficiency.measure(stack, big, s.copy_repeats, log))
            sizes = {f"{s.small_events} events": small, f"{s.events} events": big}
            self.section("worker_memory", lambda: worker_memory.measure(stack, sizes, log))
            self.section("cleanup_load_hours", lambda: drop_hours(stack, [big_hour, small_hour]))
        self.measure_live(stack, api, hours, self.remaining)

    def measure_live(self, stack, api, hours: live.Hours, remaining, into=None) -> None:
        """Waiting cost, freshness and the 24-hour backfill on a running stack, within what `remaining()` seconds
        allow; then the long backfill in its own box."""
        s = self.settings
        self.section("land_live_hours", lambda: self.land_live_hours(stack, hours), into)
        api.unpause(live.DAG_ID)
        waiting = self.section(
            "waiting", lambda: live.measure_waiting(stack, api, hours.waiting, min(240, remaining()), log), into
        )
        if waiting:
            # Whatever the freshness box leaves goes to the backfill (at least 150 s); stopping the stack is not
            # in the budget.
            box = max(60.0, min(s.freshness_box_seconds, remaining() - 150))
            self.section("freshness", lambda: live.measure_freshness(stack, api, hours.freshness, box, log), into)
        self.section("stop_waiting_runs", lambda: live.stop_runs(api, hours.waiting, log), into)
        self.backfill_and_oracle(stack, api, "backfill", hours.backfill, max(90.0, remaining()), into)
        if hours.long:
            self.backfill_and_oracle(stack, api, "long_backfill", hours.long, s.long_backfill_box_seconds, into)

    def backfill_and_oracle(self, stack, api, name: str, hours: list[datetime], box: float, into) -> None:
        """One backfill, its unfinished runs stopped (one backfill at a time per DAG), then the models against the
        oracle: a difference is a result (verdict MISSED), not a crash."""
        runs = min(len(hours), self.settings.backfill_max_active_runs)
        self.section(name, lambda: live.measure_backfill(stack, api, hours, box, runs, log), into)
        self.section(f"stop_{name}_runs", lambda: live.stop_runs(api, hours, log), into)
        self.section(f"{name}_oracle", lambda: live.compare_models(stack, log), into)

    def measure_production(self, extra_env, start_date, hours: live.Hours) -> None:
        """The live figures again on a production-shaped stack (PostgreSQL, Celery, two workers), same hours."""
        results = self.results.setdefault(PRODUCTION, {})
        deadline = time.monotonic() + self.settings.production_budget_seconds
        var_dir = Path(tempfile.mkdtemp(prefix="bench-stack-production-"))
        stack = IsolatedStack(var_dir, extra_env=extra_env, mode=PRODUCTION)
        try:
            if self.section("stack", lambda: self.start_stack(stack, start_date), results):
                self.measure_live(stack, stack.api(), hours, lambda: deadline - time.monotonic(), results)
        finally:
            self.stop(stack, var_dir, PRODUCTION)

    def start_stack(self, stack: IsolatedStack, start_date: datetime) -> dict[str, Any]:
        stack.start(start_date)
        log(f"  local stack up in {stack.var_dir} (Airflow {stack.api_url})")
        create_objects(stack, stack.api())
        stack.s3().create_bucket(Bucket=BUCKET)
        return {"var_dir": str(stack.var_dir), "start_date": start_date.isoformat(), "mode": stack.mode}

    def land_load_hours(self, stack: IsolatedStack, big_hour: datetime, small_hour: datetime) -> dict[str, Any]:
        s = self.settings
        big = land(stack, big_hour + timedelta(hours=1), 1, s.events, s.files)
        small = land(stack, small_hour + timedelta(hours=1), 1, s.small_events, s.files)
        sizes = {
            "large_hour": big_hour.isoformat(),
            "large_events": big.records,
            "large_bytes": sum(p.size_bytes for h in big.hours for p in h.part_files),
            "large_files": sum(len(h.part_files) for h in big.hours),
            "small_hour": small_hour.isoformat(),
            "small_events": small.records,
            "small_files": sum(len(h.part_files) for h in small.hours),
        }
        log(f"  landed {sizes['large_events']} events ({sizes['large_bytes'] / 1e6:.0f} MB) in {sizes['large_files']} "
            f"files, and {sizes['small_events']} events in {sizes['small_files']} files")  # fmt: skip
        return sizes

    def land_live_hours(self, stack: IsolatedStack, hours: live.Hours) -> dict[str, Any]:
        s = self.settings
        per_hour, files = s.live_events_per_hour, s.live_files_per_hour
        committed = land(stack, hours.backfill[-1] + timedelta(hours=1), len(hours.backfill), per_hour, files)
        pending = land(stack, hours.freshness[-1] + timedelta(hours=1), len(hours.freshness), per_hour, files,
                       committed=False)  # fmt: skip
        landed = {"backfill_events": committed.records, "freshness_events": pending.records, "long_backfill_events": 0}
        if hours.long:
            long = land(stack, hours.long[-1] + timedelta(hours=1), len(hours.long), s.long_events_per_hour, files)
            landed["long_backfill_events"] = long.records
        log(f"  landed {committed.records} events in {len(hours.backfill)} committed hours, "
            f"{landed['long_backfill_events']} in {len(hours.long)} for the long backfill, {pending.records} in "
            f"{len(hours.freshness)} hours left uncommitted")  # fmt: skip
        return landed

    def stop(self, stack: IsolatedStack, var_dir: Path, label: str = "stop") -> None:
        log(f"\n== stopping the {stack.mode} local stack ({time.monotonic() - self.started:.0f}s into the run)")
        try:
            log("  " + stack.stop())
        except Exception:
            self.results["errors"][label] = traceback.format_exc()
            log(f"  stopping the stack failed:\n{traceback.format_exc()}")
        shutil.rmtree(var_dir, ignore_errors=True)

    def write_results(self) -> int:
        self.results["total_seconds"] = round(time.monotonic() - self.started, 1)
        output = self.settings.output_dir
        output.mkdir(parents=True, exist_ok=True)
        (output / "results.json").write_text(json.dumps(self.results, indent=2, default=str) + "\n")
        charts = report.write_charts(self.results, output)
        (output / "README.md").write_text(report.readme(self.results, charts))
        log("\n" + report.summary(self.results))
        log(f"\nWrote {output / 'results.json'}, {output / 'README.md'}" + (f", {', '.join(charts)}" if charts else ""))
        return 1 if self.results["errors"] else 0


def main() -> int:
    # On SIGTERM, unwind like on Ctrl-C, so that the stack is stopped and the results are written.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    logging.disable(logging.INFO)  # the package's own task logs; the bench prints what it measures
    return Bench(Settings()).run()


if __name__ == "__main__":
    sys.exit(main())
