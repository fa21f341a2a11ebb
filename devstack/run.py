"""`make run`: the whole pipeline on the local stack, end to end, through Airflow itself.

1. start the local stack in var/ (S3, Snowflake emulator, Airflow's four components) unless it runs, through the
   same handle the benchmark and the live tests use (devstack/isolated.py; unowned: it keeps running after this
   process); DEVSTACK_MODE=production starts the production-shaped one (PostgreSQL, Celery executor, Redis
   broker, two workers: devstack/stack.py);
2. land the last 6 hours of simulated events (Flink stand-in) in the local S3;
3. create the Snowflake objects by running the `snowflake_objects` DAG;
4. load those hours with `airflow backfill create` (created while `event_log_ingest` is paused), then unpause it;
5. wait, then print one row per hour and leave the Airflow UI running.
"""

from __future__ import annotations

import os
import sys
import time
from datetime import UTC, datetime, timedelta

from devstack import stack
from devstack.isolated import IsolatedStack, StackStartError
from devstack.simulator import SimulationOptions, simulate
from devstack.simulator.reader import read_landed_hour

HOURS = int(os.environ.get("RUN_HOURS", "6"))
EVENTS_PER_HOUR = int(os.environ.get("RUN_EVENTS_PER_HOUR", "9000"))
FILES_PER_HOUR = int(os.environ.get("RUN_FILES_PER_HOUR", "4"))
# The hour folders to land and load: `hive` (dt=YYYY-MM-DD/hr=HH/, what the package's Flink SQL lander writes)
# or `plain` (YYYY/MM/DD/HH/). The stack's Airflow reads the same layout (`make stop` before switching).
LAYOUT = os.environ.get("RUN_LAYOUT", "hive")


def rows_loaded_per_hour(local: IsolatedStack) -> dict[datetime, int]:
    rows = local.query("SELECT REPLICATION_HOUR, COUNT(*) FROM EVENT_LOG.RAW.RAW_FLINK_EVENT_LOG GROUP BY 1")
    return {hour.replace(tzinfo=UTC): count for hour, count in rows}


def print_models(local: IsolatedStack, s3, manifest) -> bool:
    """What dbt built, next to the same figures computed independently from the landed files; whether every
    model equals that computation."""
    from collections import Counter

    from devstack.expected_marts import compute_marts, lines_from_landed_files
    from devstack.model_oracle import models_against_landed_files

    with local.snowflake() as conn, conn.cursor() as cursor:
        cursor.execute("SELECT STATUS, COUNT(*) FROM EVENT_LOG.ANALYTICS.FCT_RUNS GROUP BY 1")
        runs = dict(cursor.fetchall())
        cursor.execute("SELECT STATUS, COUNT(*) FROM EVENT_LOG.ANALYTICS.FCT_STEPS GROUP BY 1")
        steps = dict(cursor.fetchall())
        cursor.execute("SELECT ORGANIZATION_ID, USAGE_DATE, MATERIALIZATIONS, STEPS, BILLABLE_CREDITS "
                       "FROM EVENT_LOG.ANALYTICS.MART_USAGE_DAILY")  # fmt: skip
        usage = {(org, day): (m, s, c) for org, day, m, s, c in cursor.fetchall()}
        cursor.execute("SELECT REPLICATION_HOUR, MAX(LOADED_AT) FROM EVENT_LOG.RAW.RAW_FLINK_EVENT_LOG GROUP BY 1")
        loaded_at = dict(cursor.fetchall())
    hours = [h.hour for h in manifest.hours]
    expected = compute_marts(lines_from_landed_files(s3, stack.BUCKET, stack.PREFIX, hours, loaded_at, LAYOUT))
    expected_runs = Counter(r["status"] for r in expected["fct_runs"])
    expected_steps = Counter(r["status"] for r in expected["fct_steps"])
    expected_usage = {
        (r["organization_id"], r["usage_date"]): (r["materializations"], r["steps"], r["billable_credits"])
        for r in expected["mart_usage_daily"]
    }
    print("Modeled by dbt (EVENT_LOG.ANALYTICS), and the same computed from the landed files:")
    print(f"  runs by status:  {dict(sorted(runs.items()))}   files: {dict(sorted(expected_runs.items()))}")
    print(f"  steps by status: {dict(sorted(steps.items()))}   files: {dict(sorted(expected_steps.items()))}")
    print(f"  {'organization':>12} {'day':10} {'materializations':>16} {'steps':>6} {'credits':>8}   files")
    for (org, day), (m, s, c) in sorted(usage.items()):
        print(f"  {org:>12} {day!s:10} {m:>16} {s:>6} {c:>8}   {expected_usage.get((org, day))}")
    same = runs == dict(expected_runs) and steps == dict(expected_steps) and usage == expected_usage
    print("  modeled == files: " + ("yes" if same else "NO"))
    with local.snowflake() as conn:
        outcome = models_against_landed_files(conn, s3, stack.BUCKET, stack.PREFIX, LAYOUT)
    differing = [model for model, (_, _, differences) in outcome.items() if differences]
    print("  every model, row by row, == files: " + ("yes" if not differing else f"NO ({', '.join(differing)})"))
    return same and not differing


def backfill(local: IsolatedStack, first_hour: datetime, last_hour: datetime) -> None:
    """Queue one run per hour with Airflow's own backfill; the running scheduler executes them."""
    command = [
        "backfill", "create", "--dag-id", "event_log_ingest",
        "--from-date", first_hour.isoformat(), "--to-date", last_hour.isoformat(),
        "--reprocess-behavior", "completed", "--max-active-runs", "3",
    ]  # fmt: skip
    print("$ airflow", " ".join(command), flush=True)
    # The embedded stack's SQLite may be locked by a busy scheduler for a moment: run_airflow tries again there.
    result = local.airflow_cli(command)
    if result.returncode != 0:
        raise RuntimeError(f"airflow backfill create failed:\n{result.stdout}\n{result.stderr}")


def main() -> int:
    started = time.monotonic()
    end_hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    first_hour = end_hour - timedelta(hours=HOURS)
    local = IsolatedStack(stack.VAR, extra_env={"EVENT_LOG_LAYOUT": LAYOUT}, mode=stack.requested_mode(), owned=False)
    print(f"Starting the local stack, {local.mode} mode, hour layout {LAYOUT} (logs in {local.log_dir}) ...",
          flush=True)  # fmt: skip
    try:
        local.start()
    except StackStartError as failed:
        print(failed, file=sys.stderr)
        return 2 if failed.missing_service else 1
    api = local.api()
    s3 = local.s3()
    print(f"Landing {HOURS} hours of simulated events, {first_hour:%Y-%m-%d %H:00} to {end_hour:%H:00} UTC ...")
    options = SimulationOptions(
        bucket=stack.BUCKET, prefix=stack.PREFIX, layout=LAYOUT, end_hour=end_hour, hours=HOURS,
        events_per_hour=EVENTS_PER_HOUR, files_per_hour=FILES_PER_HOUR,
    )  # fmt: skip
    if stack.BUCKET not in {b["Name"] for b in s3.list_buckets()["Buckets"]}:
        s3.create_bucket(Bucket=stack.BUCKET)
    manifest = simulate(s3, options)
    print(f"  {manifest.records} events in {sum(len(h.part_files) for h in manifest.hours)} part files")

    print("Creating the Snowflake objects (DAG snowflake_objects) ...", flush=True)
    for dag_id in ("snowflake_objects", "event_log_ingest"):
        api.wait_for_dag(dag_id)
    objects_run = api.trigger("snowflake_objects", logical_date=None)
    api.unpause("snowflake_objects")
    (objects,) = api.wait_for_runs("snowflake_objects", {objects_run}, timeout=300)
    if str(objects.state.value) != "success":
        raise RuntimeError(f"snowflake_objects ended {objects.state.value}: see the Airflow UI at {local.api_url}")

    print("Loading the hours through Airflow (DAG event_log_ingest) ...", flush=True)
    # The backfill is created while the DAG is paused (paused again on a second `make run`), and the scheduler
    # starts its runs after the unpause. On SQLite, `backfill create` that meets the lock deletes the runs it had
    # made (Airflow's partial-backfill clean-up) and is tried again; a scheduler already scheduling one of them
    # crashed on the vanished row (StaleDataError on dag_run) and then hung in the LocalExecutor's shutdown. A
    # paused DAG's runs are not scheduled, so nothing sees the runs until they are all there.
    api.pause("event_log_ingest")
    try:
        backfill(local, first_hour, end_hour - timedelta(hours=1))
    finally:
        api.unpause("event_log_ingest")  # whatever happened: `make run` leaves the DAG unpaused, as it always did
    runs = api.wait_for_runs(
        "event_log_ingest", timeout=1800, logical_date_gte=first_hour, logical_date_lt=end_hour, run_type=["backfill"]
    )
    state_by_hour = {r.logical_date.astimezone(UTC): str(r.state.value) for r in runs}

    loaded = rows_loaded_per_hour(local)
    print()
    print(f"{'hour (UTC)':17} {'part files':>10} {'events landed':>14} {'rows loaded':>12}  status")
    ok = True
    for hour_manifest in manifest.hours:
        hour = hour_manifest.hour
        landed = read_landed_hour(s3, stack.BUCKET, stack.PREFIX, hour, layout=LAYOUT)
        rows = loaded.get(hour, 0)
        status = state_by_hour.get(hour, "no run")
        ok &= status == "success" and rows == len(landed.lines)
        print(f"{hour:%Y-%m-%d %H:00} {len(landed.part_keys):>10} {len(landed.lines):>14} {rows:>12}  {status}")
    print()
    ok &= print_models(local, s3, manifest)
    print()
    print(f"Done in {time.monotonic() - started:.0f}s. Airflow UI: {local.api_url}  login: {stack.ADMIN_USER} / "
          f"{local.admin_password}")  # fmt: skip
    print(f"Event log page (each hour from commit to model): {local.api_url}/plugin/event-log")
    print("The stack keeps running; `make stop` stops it.")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
