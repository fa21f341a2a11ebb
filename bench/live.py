"""Figures taken on the live stack (scheduler, triggerer, LocalExecutor), through Airflow's REST API.

- waiting cost: `airflow backfill create` over hours nobody has committed yet, so every run's
  `wait_for_commit` defers; then the task instances holding a worker slot (running or queued, all
  DAGs) and the triggerer's memory (RSS of its whole process group, from /proc) before and after;
- freshness: some of those waiting hours get their `_SUCCESS`, one after the other (the next once the
  previous hour is loaded and checked); from each `_SUCCESS` write to the end of the run's last dbt
  task, split by the task instances' end times into sensor detection, listing, COPY, checks and dbt;
- backfill throughput: `airflow backfill create` over committed hours, hours per minute, for the load
  (to `check_hour`) and, time-boxed, for whole runs with dbt.

Every wait is bounded; what did not finish inside its box is reported as such, never waited for.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from devstack.isolated import BUCKET, PREFIX, IsolatedStack
from devstack.stack import EMBEDDED

DAG_ID = "event_log_ingest"
SENSOR = "load_hour.wait_for_commit"
LISTING = "load_hour.list_part_files"
COPY = "load_hour.copy_partition"
REFRESH = "load_hour.refresh_external_table"
CHECK = "load_hour.check_hour"
DBT_GROUP = "dbt_models"
# Cosmos watcher mode: this task runs the hour's one `dbt build`; the group's other tasks report its nodes.
DBT_BUILD = f"{DBT_GROUP}.dbt_producer_watcher"
FINISHED = {"success", "failed", "upstream_failed", "skipped", "removed"}
FRESHNESS_TARGET_SECONDS = 60
BACKFILL_TARGET_PER_MINUTE = 12
WAITING_TARGET_SLOTS = 0


def utcnow() -> datetime:
    return datetime.now(UTC)


def _state(obj: Any) -> str | None:
    return str(obj.state.value) if obj.state is not None else None


def count_task_instances(api, dag_id: str = DAG_ID, hours: list[datetime] | None = None, **filters: Any) -> int:
    if hours:
        filters.update(logical_date_gte=min(hours), logical_date_lte=max(hours))
    return api.task_instances.get_task_instances(dag_id, "~", limit=1, **filters).total_entries


def slots_in_use(api) -> int:
    """Task instances holding (or about to take) a worker slot, across every DAG."""
    return count_task_instances(api, dag_id="~", state=["running", "queued"])


def backfill_create(stack: IsolatedStack, hours: list[datetime], max_active_runs: int, attempts: int = 10) -> int:
    """`airflow backfill create`; on the embedded stack, retried when its SQLite metadata DB was locked by the
    scheduler (the CLI's transaction is then rolled back, nothing was created). On PostgreSQL it runs once.
    Returns the attempts it took."""
    if stack.mode != EMBEDDED:
        attempts = 1
    command = [
        "backfill", "create", "--dag-id", DAG_ID, "--from-date", min(hours).isoformat(),
        "--to-date", max(hours).isoformat(), "--reprocess-behavior", "completed",
        "--max-active-runs", str(max_active_runs),
    ]  # fmt: skip
    for attempt in range(1, attempts + 1):
        result = stack.airflow_cli(command, timeout=180)
        if result.returncode == 0:
            return attempt
        if "database is locked" not in result.stderr or attempt == attempts:
            raise RuntimeError(f"airflow backfill create failed:\n{result.stdout}\n{result.stderr[-6000:]}")
        time.sleep(2 * attempt)  # the scheduler may be busy for a while (e.g. right after runs were stopped)
    raise AssertionError("unreachable")


def runs_by_hour(api, hours: list[datetime]) -> dict[datetime, Any]:
    runs = api.dag_runs(DAG_ID, logical_date_gte=min(hours), logical_date_lte=max(hours))
    return {r.logical_date.astimezone(UTC): r for r in runs}


def task_instances_of(api, run_id: str) -> list[Any]:
    return api.task_instances.get_task_instances(DAG_ID, run_id, limit=200).task_instances


def sample_rss(stack: IsolatedStack, component: str, samples: int = 3, interval: float = 1.0) -> int:
    values = []
    for index in range(samples):
        stack.refresh_state()  # a restarted component has a new process group
        values.append(stack.component_rss_bytes(component))
        if index < samples - 1:
            time.sleep(interval)
    return int(statistics.median(values))


def stop_runs(api, hours: list[datetime], log: Callable[[str], None]) -> None:
    """Cancel the active backfill and fail the DAG's unfinished runs in `hours` (their tasks are stopped)."""
    from airflow_client.client.api.backfill_api import BackfillApi
    from airflow_client.client.models.dag_run_mutable_states import DagRunMutableStates
    from airflow_client.client.models.dag_run_patch_body import DAGRunPatchBody

    backfills = BackfillApi(api.client)
    for backfill in backfills.list_backfills(DAG_ID).backfills:
        if backfill.completed_at is None:
            backfills.cancel_backfill(backfill.id)
    unfinished = [r for r in runs_by_hour(api, hours).values() if _state(r) not in FINISHED]
    for run in unfinished:
        api.runs.patch_dag_run(DAG_ID, run.dag_run_id, DAGRunPatchBody(state=DagRunMutableStates.FAILED))
    log(f"  stopped {len(unfinished)} unfinished runs")
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        busy = count_task_instances(api, hours=hours, state=["running", "queued", "deferred", "up_for_reschedule"])
        if busy == 0:
            return
        time.sleep(2)
    log("  some task instances were still running 90s after their runs were failed")


def measure_waiting(stack: IsolatedStack, api, hours: list[datetime], timeout: float, log) -> dict[str, Any]:
    triggerer_before = sample_rss(stack, "triggerer")
    log(f"  triggerer RSS before: {triggerer_before / 2**20:.0f} MiB; backfill create over {len(hours)} hours")
    started = time.monotonic()
    attempts = backfill_create(stack, hours, max_active_runs=len(hours))
    deferred = 0
    deadline = started + timeout
    while time.monotonic() < deadline:
        deferred = count_task_instances(api, hours=hours, task_id=SENSOR, state=["deferred"])
        if deferred == len(hours):
            break
        time.sleep(2)
    all_deferred_after = time.monotonic() - started
    log(f"  {deferred}/{len(hours)} hours waiting (deferred) after {all_deferred_after:.0f}s")
    time.sleep(5)  # let the triggerer pick up the last triggers
    slot_samples = []
    for _ in range(5):
        slot_samples.append(slots_in_use(api))
        time.sleep(2)
    triggerer_after = sample_rss(stack, "triggerer")
    result = {
        "hours_waiting": deferred,
        "hours_requested": len(hours),
        "backfill_create_attempts": attempts,
        "seconds_until_all_waiting": round(all_deferred_after, 1),
        "worker_slots_in_use_samples": slot_samples,
        "worker_slots_in_use": max(slot_samples),
        "target_slots": WAITING_TARGET_SLOTS,
        "triggerer_rss_before_bytes": triggerer_before,
        "triggerer_rss_after_bytes": triggerer_after,
        "triggerer_extra_bytes": triggerer_after - triggerer_before,
        "triggerer_extra_bytes_per_hour": int((triggerer_after - triggerer_before) / max(deferred, 1)),
    }
    log(
        f"  worker slots in use while waiting: {slot_samples}; triggerer RSS after: "
        f"{triggerer_after / 2**20:.0f} MiB (+{result['triggerer_extra_bytes'] / 2**20:.1f} MiB)"
    )
    return result


def _seconds(later: datetime | None, earlier: datetime | None) -> float | None:
    if later is None or earlier is None:
        return None
    return round((later - earlier).total_seconds(), 2)


def hour_timeline(tis: list[Any], committed_at: datetime) -> dict[str, Any]:
    """The stages of one hour's run, as consecutive intervals from the `_SUCCESS` write."""
    by_task = {ti.task_id: ti for ti in tis if not ti.task_id.startswith(DBT_GROUP + ".")}
    dbt = [ti for ti in tis if ti.task_id.startswith(DBT_GROUP + ".")]

    def end(task_id: str) -> datetime | None:
        ti = by_task.get(task_id)
        return ti.end_date if ti is not None and _state(ti) == "success" else None

    dbt_done = bool(dbt) and all(_state(ti) == "success" for ti in dbt)
    dbt_end = max(ti.end_date for ti in dbt) if dbt_done else None
    stages = {
        "sensor_detection": _seconds(end(SENSOR), committed_at),
        "listing": _seconds(end(LISTING), end(SENSOR)),
        "copy": _seconds(end(COPY), end(LISTING)),
        "checks": _seconds(end(CHECK), end(COPY)),
        "dbt": _seconds(dbt_end, end(CHECK)),
    }
    running = {
        "listing": by_task.get(LISTING).duration if LISTING in by_task else None,
        "copy": by_task.get(COPY).duration if COPY in by_task else None,
        "checks": sum((by_task[t].duration or 0) for t in (REFRESH, CHECK) if t in by_task),
    }
    dbt_durations = [ti.duration for ti in dbt if ti.duration is not None and _state(ti) == "success"]
    build = next((ti for ti in dbt if ti.task_id == DBT_BUILD and _state(ti) == "success"), None)
    return {
        "committed_at": committed_at.isoformat(),
        "stages_seconds": stages,
        "task_running_seconds": {k: round(v, 2) if v is not None else None for k, v in running.items()},
        "loaded_seconds": _seconds(end(CHECK), committed_at),
        "end_to_end_seconds": _seconds(dbt_end, committed_at),
        # The dbt stage split: check_hour done -> `dbt build` started (scheduling), the build itself, and
        # build done -> last model/test task done (the per-node tasks reporting its results).
        "dbt_split_seconds": {
            "until_build_starts": _seconds(build.start_date, end(CHECK)) if build else None,
            "build": round(build.duration, 2) if build and build.duration is not None else None,
            "after_build": _seconds(dbt_end, build.end_date) if build else None,
        },
        "dbt_tasks": len(dbt),
        "dbt_tasks_done": sum(1 for ti in dbt if _state(ti) == "success"),
        "dbt_task_median_seconds": round(statistics.median(dbt_durations), 2) if dbt_durations else None,
        "dbt_task_seconds_total": round(sum(dbt_durations), 1),
    }


def measure_freshness(stack: IsolatedStack, api, hours: list[datetime], box: float, log) -> dict[str, Any]:
    """Commit the hours one after the other, each once the previous hour's run has finished, and follow each
    to its last dbt task; at most `box` seconds in all.

    In production an hour is committed an hour after the previous one, long after that one's models are
    fresh; committing the next hour only when the previous run is done keeps that shape (one hour in the
    pipeline at a time) while fitting five hours into minutes. The backfill measures hours queued at once."""
    s3 = stack.s3()
    from include.event_log.hour_layout import HourLayout

    layout = HourLayout.from_env({"EVENT_LOG_PREFIX": PREFIX})

    committed: dict[datetime, datetime] = {}
    started = time.monotonic()
    deadline = started + box
    runs = runs_by_hour(api, hours)

    def wait_for(run_id: str, task_id: str | None, until: float) -> None:
        while time.monotonic() < until:
            if task_id is None:
                finished = _state(api.runs.get_dag_run(DAG_ID, run_id)) in FINISHED
            else:
                tis = api.task_instances.get_task_instances(DAG_ID, run_id, task_id=task_id).task_instances
                finished = bool(tis) and _state(tis[0]) in FINISHED
            if finished:
                return
            time.sleep(1)

    for hour in hours:
        if time.monotonic() >= deadline:
            log(f"  {hour:%Y-%m-%d %H:00} not committed: the box closed")
            break
        key = layout.success_key(hour)
        s3.put_object(Bucket=BUCKET, Key=key, Body=b"")
        committed[hour] = utcnow()
        run_id = runs[hour].dag_run_id
        wait_for(run_id, CHECK, deadline)
        log(f"  {hour:%Y-%m-%d %H:00} committed, loaded after {(utcnow() - committed[hour]).total_seconds():.0f}s")
        wait_for(run_id, None, deadline)
        log(f"  {hour:%Y-%m-%d %H:00} run finished after {(utcnow() - committed[hour]).total_seconds():.0f}s")
    elapsed = time.monotonic() - started
    per_hour = {}
    for hour in committed:
        run = runs_by_hour(api, [hour])[hour]
        timeline = hour_timeline(task_instances_of(api, run.dag_run_id), committed[hour])
        timeline["run_state"] = _state(run)
        per_hour[hour.isoformat()] = timeline
        log(
            f"  {hour:%Y-%m-%d %H:00}: "
            + ", ".join(f"{k} {v}s" for k, v in timeline["stages_seconds"].items())
            + f" -> end to end {timeline['end_to_end_seconds']}s ({timeline['run_state']})"
        )
    ends = [t["end_to_end_seconds"] for t in per_hour.values() if t["end_to_end_seconds"] is not None]
    # An hour still in dbt when the box closed took at least as long as it had been running.
    unfinished = [
        round((utcnow() - committed[datetime.fromisoformat(h)]).total_seconds(), 1)
        for h, t in per_hour.items()
        if t["end_to_end_seconds"] is None
    ]
    loaded = [t["loaded_seconds"] for t in per_hour.values() if t["loaded_seconds"] is not None]
    stage_medians = {}
    for stage in ("sensor_detection", "listing", "copy", "checks", "dbt"):
        values = [t["stages_seconds"][stage] for t in per_hour.values() if t["stages_seconds"][stage] is not None]
        stage_medians[stage] = round(statistics.median(values), 2) if values else None
    return {
        "hours": len(hours),
        "hours_committed": len(committed),
        "box_seconds": round(box),
        "observed_seconds": round(elapsed, 1),
        "hours_modeled_in_box": len(ends),
        "median_end_to_end_seconds": round(statistics.median(ends), 1) if ends else None,
        "max_end_to_end_seconds": round(max(ends), 1) if ends else None,
        "unfinished_at_least_seconds": unfinished,
        # Lower bounds in place of the unfinished hours: the true median over every hour is at least this.
        "median_end_to_end_at_least_seconds": round(statistics.median(ends + unfinished), 1),
        "median_loaded_seconds": round(statistics.median(loaded), 1) if loaded else None,
        "max_loaded_seconds": round(max(loaded), 1) if loaded else None,
        "stage_median_seconds": stage_medians,
        "dbt_split_median_seconds": {
            part: _median([t["dbt_split_seconds"][part] for t in per_hour.values()])
            for part in ("until_build_starts", "build", "after_build")
        },
        "per_hour": per_hour,
        "target_median_seconds": FRESHNESS_TARGET_SECONDS,
    }


def measure_backfill(stack: IsolatedStack, api, hours: list[datetime], box: float, log) -> dict[str, Any]:
    """`airflow backfill create` over committed hours; follow it for at most `box` seconds."""
    created_at = utcnow()
    started = time.monotonic()
    deadline = started + box
    attempts = backfill_create(stack, hours, max_active_runs=len(hours))
    log(
        f"  backfill create over {len(hours)} committed hours: {time.monotonic() - started:.1f}s, {attempts} attempt(s)"
    )
    loaded_at = None
    last_report = started
    while time.monotonic() < deadline:
        loaded = count_task_instances(api, hours=hours, task_id=CHECK, state=["success"])
        runs = runs_by_hour(api, hours)
        done = sum(1 for r in runs.values() if _state(r) in FINISHED)
        if loaded == len(hours) and loaded_at is None:
            loaded_at = time.monotonic() - started
            log(f"  all {loaded} hours loaded after {loaded_at:.0f}s; following dbt until the box closes")
        if done == len(hours):
            break
        if time.monotonic() - last_report > 30:
            log(f"  {time.monotonic() - started:.0f}s: {loaded}/{len(hours)} loaded, {done} runs finished")
            last_report = time.monotonic()
        time.sleep(3)
    observed = time.monotonic() - started
    closed_at = utcnow()
    check_ends, dbt_ends, dbt_per_run, run_ends, build_ends = [], [], [], [], []
    for run in runs_by_hour(api, hours).values():
        tis = task_instances_of(api, run.dag_run_id)
        check = [ti for ti in tis if ti.task_id == CHECK and _state(ti) == "success"]
        check_ends += [ti.end_date for ti in check]
        dbt = [ti for ti in tis if ti.task_id.startswith(DBT_GROUP + ".")]
        dbt_per_run.append(len(dbt))
        dbt_ends += [ti.end_date for ti in dbt if _state(ti) == "success"]
        build_ends += [ti.end_date for ti in dbt if ti.task_id == DBT_BUILD and _state(ti) == "success"]
        if _state(run) == "success":
            run_ends.append(run.end_date)
    minutes_to_load_all = (max(check_ends) - created_at).total_seconds() / 60 if check_ends else None
    load_rate = (
        len(check_ends) / minutes_to_load_all
        if check_ends and len(check_ends) == len(hours)
        else len(check_ends) / (observed / 60)
    )
    dbt_tasks_per_hour = max(dbt_per_run) if dbt_per_run else 0
    first_dbt = min(dbt_ends) if dbt_ends else None
    dbt_window_minutes = (closed_at - first_dbt).total_seconds() / 60 if first_dbt else None
    dbt_task_rate = len(dbt_ends) / dbt_window_minutes if dbt_window_minutes else None
    whole_runs_rate = len(run_ends) / (observed / 60)
    # Builds run one at a time: their steady pace (between the first and the last finished) is the pace at
    # which whole hours can finish once the loads are ahead.
    build_ends.sort()
    build_pace = (
        (len(build_ends) - 1) / ((build_ends[-1] - build_ends[0]).total_seconds() / 60)
        if len(build_ends) >= 3 and build_ends[-1] > build_ends[0]
        else None
    )
    result = {
        "hours": len(hours),
        "box_seconds": round(box),
        "observed_seconds": round(observed, 1),
        "backfill_create_attempts": attempts,
        "hours_loaded": len(check_ends),
        "minutes_to_load_all": round(minutes_to_load_all, 2) if check_ends and len(check_ends) == len(hours) else None,
        "load_hours_per_minute": round(load_rate, 2),
        "runs_finished_in_box": len(run_ends),
        "whole_runs_per_minute_in_box": round(whole_runs_rate, 2),
        "dbt_tasks_per_hour": dbt_tasks_per_hour,
        "dbt_tasks_done": len(dbt_ends),
        "dbt_tasks_per_minute": round(dbt_task_rate, 2) if dbt_task_rate else None,
        "dbt_builds_done": len(build_ends),
        "dbt_builds_per_minute": round(build_pace, 2) if build_pace else None,
        # With the loads ahead, whole hours finish at the pace of the hourly `dbt build`s.
        "estimated_hours_per_minute_with_dbt": round(build_pace, 2) if build_pace else None,
        "target_hours_per_minute": BACKFILL_TARGET_PER_MINUTE,
        "loaded_offsets_seconds": sorted(round((t - created_at).total_seconds(), 1) for t in check_ends),
        "run_done_offsets_seconds": sorted(round((t - created_at).total_seconds(), 1) for t in run_ends),
        "dbt_task_done_offsets_seconds": sorted(round((t - created_at).total_seconds(), 1) for t in dbt_ends),
        "dbt_build_done_offsets_seconds": [round((t - created_at).total_seconds(), 1) for t in build_ends],
    }
    log(
        f"  loaded {len(check_ends)}/{len(hours)} hours: {result['load_hours_per_minute']} hours/min; "
        f"{len(run_ends)} whole runs in {observed:.0f}s; dbt {len(dbt_ends)} tasks "
        f"({result['dbt_tasks_per_minute']} per min, {dbt_tasks_per_hour} per hour)"
    )
    return result


def _median(values: list[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return round(statistics.median(known), 2) if known else None


def hour_range(first: datetime, count: int) -> list[datetime]:
    return [first + timedelta(hours=i) for i in range(count)]
