"""Figures taken on the live stack (scheduler, triggerer, executor), through Airflow's REST API.

- waiting cost: `airflow backfill create` over hours nobody has committed yet, so every run's
  `wait_for_commit` defers; then the task instances holding a worker slot (running or queued, all
  DAGs) and the triggerer's memory (RSS of its whole process group, from /proc) before and after;
- freshness: some of those waiting hours get their `_SUCCESS`, one after the other (the next once the
  previous hour's run is done); from each `_SUCCESS` write to the end of the run's last dbt task, split by
  the task instances' end times into sensor detection, `load_partition`, `check_hour`, `dbt_models.build`
  and the per-model tasks;
- backfill throughput: `airflow backfill create` over committed hours, hours per minute loaded (to
  `check_hour`) and modeled (whole runs, to their last model task), the dbt builds it ran (rows of
  EVENT_LOG_MODEL_BUILDS) and the delay to the first hour loaded; then every model against the oracle
  computed from the landed files (devstack/model_oracle.py).

Every wait is bounded; what did not finish inside its box is reported as such, never waited for.
"""

from __future__ import annotations

import dataclasses
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from devstack.isolated import BUCKET, PREFIX, IsolatedStack

DAG_ID = "event_log_ingest"
SENSOR = "load_hour.wait_for_commit"
LOAD = "load_hour.load_partition"
CHECK = "load_hour.check_hour"
DBT_GROUP = "dbt_models"
# Builds every pending changed hour (whichever run changed it) and records it in EVENT_LOG_MODEL_BUILDS; the
# group's per-model tasks report the build's nodes.
DBT_BUILD = f"{DBT_GROUP}.build"
FINISHED = {"success", "failed", "upstream_failed", "skipped", "removed"}
# The stages of an hour, consecutive from the `_SUCCESS` write, each ending when its task ends.
STAGES = ("sensor_detection", "load_partition", "check_hour", "build", "models")
FRESHNESS_TARGET_SECONDS = 40
BACKFILL_TARGET_PER_MINUTE = 30
WAITING_TARGET_SLOTS = 0


@dataclasses.dataclass(frozen=True)
class Hours:
    """The live phases' hours, apart from each other: each backfill's, the waiting ones, and the first of those
    that the freshness phase commits."""

    backfill: list[datetime]
    long: list[datetime]
    waiting: list[datetime]
    freshness: list[datetime]


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


def backfill_create(stack: IsolatedStack, hours: list[datetime], max_active_runs: int, dag_id: str = DAG_ID) -> int:
    """`airflow backfill create`; on the embedded stack, retried when its SQLite metadata DB was locked by the
    scheduler (the CLI's transaction is then rolled back, nothing was created). On PostgreSQL it runs once.
    Returns the attempts it took."""
    command = [
        "backfill", "create", "--dag-id", dag_id, "--from-date", min(hours).isoformat(),
        "--to-date", max(hours).isoformat(), "--reprocess-behavior", "completed",
        "--max-active-runs", str(max_active_runs),
    ]  # fmt: skip
    result = stack.airflow_cli(command, timeout=180)
    if result.returncode != 0:
        raise RuntimeError(f"airflow backfill create failed:\n{result.stdout}\n{result.stderr[-6000:]}")
    return result.attempts


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
    by_task = {ti.task_id: ti for ti in tis}
    models = [ti for ti in tis if ti.task_id.startswith(DBT_GROUP + ".") and ti.task_id != DBT_BUILD]

    def end(task_id: str) -> datetime | None:
        ti = by_task.get(task_id)
        return ti.end_date if ti is not None and _state(ti) == "success" else None

    models_done = bool(models) and all(_state(ti) == "success" for ti in models)
    models_end = max(ti.end_date for ti in models) if models_done else None
    stages = {
        "sensor_detection": _seconds(end(SENSOR), committed_at),
        "load_partition": _seconds(end(LOAD), end(SENSOR)),
        "check_hour": _seconds(end(CHECK), end(LOAD)),
        "build": _seconds(end(DBT_BUILD), end(CHECK)),
        "models": _seconds(models_end, end(DBT_BUILD)),
    }
    running = {
        task_id: by_task[task_id].duration if task_id in by_task else None for task_id in (LOAD, CHECK, DBT_BUILD)
    }
    model_durations = [ti.duration for ti in models if ti.duration is not None and _state(ti) == "success"]
    build = by_task.get(DBT_BUILD)
    return {
        "committed_at": committed_at.isoformat(),
        "stages_seconds": stages,
        "task_running_seconds": {k: round(v, 2) if v is not None else None for k, v in running.items()},
        "loaded_seconds": _seconds(end(CHECK), committed_at),
        "end_to_end_seconds": _seconds(models_end, committed_at),
        # The build stage split: check_hour done -> the build task starts (scheduling, the dbt pool's slot), and
        # the build task's own run (its bookkeeping, dbt's parse, every model and test).
        "build_split_seconds": {
            "until_build_starts": _seconds(build.start_date, end(CHECK)) if build else None,
            "build_running": round(build.duration, 2) if build and build.duration is not None else None,
        },
        "model_tasks": len(models),
        "model_tasks_done": sum(1 for ti in models if _state(ti) == "success"),
        "model_task_median_seconds": round(statistics.median(model_durations), 2) if model_durations else None,
    }


def measure_freshness(stack: IsolatedStack, api, hours: list[datetime], box: float, log) -> dict[str, Any]:
    """Commit the hours one after the other, each once the previous hour's run has finished, and follow each
    to its last dbt task; at most `box` seconds in all.

    In production an hour is committed an hour after the previous one, long after that one's models are
    fresh; committing the next hour only when the previous run is done keeps that shape (one hour in the
    pipeline at a time) while fitting five hours into minutes. The backfill measures hours queued at once."""
    s3 = stack.s3()
    from include.event_log.land.hour_layout import HourLayout

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
    stage_medians = {stage: _median([t["stages_seconds"][stage] for t in per_hour.values()]) for stage in STAGES}
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
        "build_split_median_seconds": {
            part: _median([t["build_split_seconds"][part] for t in per_hour.values()])
            for part in ("until_build_starts", "build_running")
        },
        "per_hour": per_hour,
        "target_median_seconds": FRESHNESS_TARGET_SECONDS,
    }


def model_builds_since(stack: IsolatedStack, moment: datetime) -> list[tuple]:
    """(BUILD_ID, RUN_ID, TRY_NUMBER, STATUS, HOURS, STARTED_AT, FINISHED_AT) of the builds started since `moment`."""
    from include.event_log.objects.declarations import event_log_objects
    from include.event_log.sql_templates import render_sql

    sql = render_sql("modeling/select_builds_since.sql", **event_log_objects().template_context())
    return stack.query(sql, {"since": moment.astimezone(UTC).replace(tzinfo=None)})


def measure_backfill(stack: IsolatedStack, api, hours: list[datetime], box: float, max_active_runs: int, log):
    """`airflow backfill create` over committed hours; follow it for at most `box` seconds."""
    created_at = utcnow()
    started = time.monotonic()
    deadline = started + box
    attempts = backfill_create(stack, hours, max_active_runs=max_active_runs)
    log(
        f"  backfill create over {len(hours)} committed hours (--max-active-runs {max_active_runs}): "
        f"{time.monotonic() - started:.1f}s, {attempts} attempt(s)"
    )
    last_report = started
    while time.monotonic() < deadline:
        loaded = count_task_instances(api, hours=hours, task_id=CHECK, state=["success"])
        done = sum(1 for r in runs_by_hour(api, hours).values() if _state(r) in FINISHED)
        if done == len(hours):
            break
        if time.monotonic() - last_report > 30:
            log(f"  {time.monotonic() - started:.0f}s: {loaded}/{len(hours)} loaded, {done} runs finished")
            last_report = time.monotonic()
        time.sleep(3)
    observed = time.monotonic() - started
    load_ends, check_ends, modeled_ends, build_ends = [], [], [], []
    runs = runs_by_hour(api, hours)
    for run in runs.values():
        tis = task_instances_of(api, run.dag_run_id)
        load_ends += [ti.end_date for ti in tis if ti.task_id == LOAD and _state(ti) == "success"]
        check_ends += [ti.end_date for ti in tis if ti.task_id == CHECK and _state(ti) == "success"]
        build_ends += [ti.end_date for ti in tis if ti.task_id == DBT_BUILD and _state(ti) == "success"]
        dbt = [ti for ti in tis if ti.task_id.startswith(DBT_GROUP + ".")]
        if dbt and all(_state(ti) == "success" for ti in dbt):
            modeled_ends.append(max(ti.end_date for ti in dbt))
    all_builds = model_builds_since(stack, created_at)
    builds = [b for b in all_builds if b[3] == "success"]

    def offsets(moments: list[datetime]) -> list[float]:
        return sorted(round((t - created_at).total_seconds(), 1) for t in moments)

    def per_minute(ends: list[datetime]) -> float | None:
        # All hours done: hours over the time to the last one; otherwise those done over the time observed.
        if not ends:
            return None
        minutes = (max(ends) - created_at).total_seconds() / 60 if len(ends) == len(hours) else observed / 60
        return round(len(ends) / minutes, 2)

    result = {
        "hours": len(hours),
        "max_active_runs": max_active_runs,
        "box_seconds": round(box),
        "observed_seconds": round(observed, 1),
        "backfill_create_attempts": attempts,
        "hours_loaded": len(check_ends),
        "hours_modeled": len(modeled_ends),
        "runs_unfinished": sum(1 for r in runs.values() if _state(r) not in FINISHED),
        "runs_failed": sum(1 for r in runs.values() if _state(r) == "failed"),
        "first_load_done_seconds": offsets(load_ends)[0] if load_ends else None,
        "first_hour_loaded_seconds": offsets(check_ends)[0] if check_ends else None,
        "minutes_to_load_all": round(offsets(check_ends)[-1] / 60, 2) if len(check_ends) == len(hours) else None,
        "minutes_to_model_all": round(offsets(modeled_ends)[-1] / 60, 2) if len(modeled_ends) == len(hours) else None,
        "load_hours_per_minute": per_minute(check_ends),
        "modeled_hours_per_minute": per_minute(modeled_ends),
        "dbt_builds": len(builds),
        "dbt_build_hours": sum(int(b[4] or 0) for b in builds),
        "dbt_builds_failed": sum(1 for b in all_builds if b[3] == "failed"),
        "dbt_build_tasks_done": len(build_ends),
        "target_hours_per_minute": BACKFILL_TARGET_PER_MINUTE,
        "loaded_offsets_seconds": offsets(check_ends),
        "modeled_offsets_seconds": offsets(modeled_ends),
        "dbt_build_offsets_seconds": [
            [_seconds(b[5].replace(tzinfo=UTC), created_at), _seconds(b[6].replace(tzinfo=UTC), created_at), b[4]]
            for b in builds
            if b[5] is not None and b[6] is not None
        ],
    }
    log(
        f"  first hour loaded after {result['first_hour_loaded_seconds']}s; loaded {len(check_ends)}/{len(hours)}: "
        f"{result['load_hours_per_minute']} hours/min; modeled {len(modeled_ends)}: "
        f"{result['modeled_hours_per_minute']} hours/min; {len(builds)} dbt builds, {result['dbt_build_hours']} hours"
    )
    return result


def compare_models(stack: IsolatedStack, log) -> dict[str, Any]:
    """Every model against the oracle computed from the landed files of every hour the raw table holds."""
    from devstack.model_oracle import models_against_landed_files

    with stack.snowflake() as connection:
        outcome = models_against_landed_files(connection, stack.s3(), BUCKET, PREFIX)
    models = {
        model: {"rows": rows, "expected": expected, "differing": len(diff.splitlines()), "sample": diff[:2000]}
        for model, (rows, expected, diff) in outcome.items()
    }
    differing = {m: v["differing"] for m, v in models.items() if v["differing"]}
    log(f"  models against the landed files: {'equal' if not differing else f'DIFFERENT {differing}'}")
    return {"equal": not differing, "models": models}


def _median(values: list[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return round(statistics.median(known), 2) if known else None


def hour_range(first: datetime, count: int) -> list[datetime]:
    return [first + timedelta(hours=i) for i in range(count)]
