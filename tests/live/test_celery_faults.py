"""Faults that only a distributed deployment has, on the production-shaped local stack (PostgreSQL, the Celery
executor, a Redis broker of the stack's own, two Celery workers): tests/live/conftest.py starts it.

- A worker is lost while it runs an hour's COPY: its whole process tree is killed (SIGKILL) and kept down. The
  scheduler sees the task instance without a heartbeat and fails the try; the retry can only run on the other
  worker, and the hour ends with each landed line once (the COPY is one transaction with the hour's DELETE).
- The broker is restarted while tasks wait in it (both workers are down meanwhile, so they can only wait there):
  it kept nothing on disk, so the messages waiting in it are lost. The workers come back; the scheduler requeues
  task instances stuck in `queued`; every run still finishes and every hour is exact.

Short timeouts make the scheduler notice within the test's box: a missing heartbeat after 30 s (300 s by
default), a task instance stuck in queued after 60 s, looked for every 10 s (600 s and 120 s by default).
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

import pytest

from devstack.isolated import wait_until
from devstack.simulator import SimulationOptions, simulate
from devstack.simulator.reader import read_landed_hour
from devstack.stack import BUCKET, PREFIX, PRODUCTION, WORKERS, group_members
from include.event_log.land.hour_layout import HourLayout

pytestmark = [pytest.mark.live, pytest.mark.timeout(900)]

DAG_ID = "event_log_ingest"
# The task that lists the hour's files and COPYs them (one transaction with the hour's DELETE).
COPY = "load_hour.load_partition"
# Big enough that its COPY on the emulator lasts seconds (about 8 s per million events on an idle machine).
KILLED_HOUR_EVENTS = 400_000
BROKER_HOURS = 3
# The Celery queue Airflow sends every task to ([operators] default_queue).
CELERY_QUEUE = "default"


class Faults:
    def __init__(self, live, first_hour: datetime):
        self.live, self.api, self.s3 = live, live.api(), live.s3()
        self.killed_hour = first_hour
        self.broker_hours = [first_hour + timedelta(hours=2 + i) for i in range(BROKER_HOURS)]

    def land(self, first: datetime, hours: int, events: int, files: int, seed: int) -> None:
        options = SimulationOptions(
            bucket=BUCKET, prefix=PREFIX, end_hour=first + timedelta(hours=hours), hours=hours,
            events_per_hour=events, files_per_hour=files, seed=seed,
        )  # fmt: skip
        simulate(self.s3, options)

    def backfill(self, hours: list[datetime]) -> dict[datetime, str]:
        """`airflow backfill create` over the hours, once (no SQLite, no "database is locked"); their run ids."""
        from airflow_client.client.api.backfill_api import BackfillApi

        # One backfill per DAG at a time: the scheduler completes the previous one a loop after its last run.
        backfills = BackfillApi(self.api.client)
        wait_until(lambda: all(b.completed_at for b in backfills.list_backfills(DAG_ID).backfills), 120,
                   what="the previous backfill to complete")  # fmt: skip
        result = self.live.airflow_cli(
            ["backfill", "create", "--dag-id", DAG_ID, "--from-date", min(hours).isoformat(), "--to-date",
             max(hours).isoformat(), "--reprocess-behavior", "completed", "--max-active-runs", str(len(hours))],
            timeout=180,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr[-3000:]

        def runs() -> dict[datetime, str] | None:
            found = self.api.dag_runs(DAG_ID, logical_date_gte=min(hours), logical_date_lte=max(hours))
            by_hour = {run.logical_date.astimezone(UTC): run.dag_run_id for run in found}
            return by_hour if len(by_hour) == len(hours) else None

        return wait_until(runs, 60, what="the backfill's runs")

    def copy_tries(self, run_id: str) -> list:
        """The tries of the hour's COPY task (none until the run's hours are mapped)."""
        from airflow_client.client.exceptions import NotFoundException

        try:
            return self.api.task_instances.get_mapped_task_instance_tries(DAG_ID, run_id, COPY, 0).task_instances
        except NotFoundException:
            return []

    def rows_by_hour(self, hours: list[datetime]) -> dict[datetime, tuple[int, int]]:
        """Raw rows of each hour, and how many distinct landed lines (file, line number) they are."""
        rows = self.live.query(
            "SELECT REPLICATION_HOUR, COUNT(*), COUNT(DISTINCT FILE_NAME || ':' || FILE_ROW_NUMBER) "
            "FROM EVENT_LOG.RAW.RAW_FLINK_EVENT_LOG GROUP BY 1"
        )
        found = {hour.replace(tzinfo=UTC): (count, distinct) for hour, count, distinct in rows}
        return {hour: found.get(hour, (0, 0)) for hour in hours}

    def landed_lines(self, hour: datetime) -> int:
        return len(read_landed_hour(self.s3, BUCKET, PREFIX, hour).lines)

    def task_log(self, run_id: str, task_id: str, try_number: int) -> str:
        folder = self.live.var_dir / "airflow" / "logs" / f"dag_id={DAG_ID}" / f"run_id={run_id}" / f"task_id={task_id}"
        path = folder / "map_index=0" / f"attempt={try_number}.log"
        return path.read_text(errors="replace") if path.exists() else ""


@pytest.fixture(scope="module")
def faults(live_stack_factory):
    now_hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    live = live_stack_factory(
        now_hour + timedelta(hours=1),  # the DAG's start date: no scheduled run, every run is the test's backfill
        {
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "30",
            "AIRFLOW__SCHEDULER__TASK_QUEUED_TIMEOUT": "60",
            "AIRFLOW__SCHEDULER__TASK_QUEUED_TIMEOUT_CHECK_INTERVAL": "10",
            # More task instances in flight than the workers' 2 x 2 slots: the rest wait in the broker.
            "AIRFLOW__CORE__PARALLELISM": "8",
            "AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG": "8",
            # The hours are days old: their deadline alerts would all fire at once.
            "EVENT_LOG_DEADLINE_GRACE_SECONDS": str(10 * 24 * 3600),
        },
        mode=PRODUCTION,
    )
    scenario = Faults(live, now_hour - timedelta(hours=72))
    scenario.s3.create_bucket(Bucket=BUCKET)
    api = scenario.api
    for dag_id in ("snowflake_objects", DAG_ID):
        api.wait_for_dag(dag_id)
    objects_run = api.trigger("snowflake_objects")
    api.unpause("snowflake_objects")
    (objects,) = api.wait_for_runs("snowflake_objects", {objects_run}, timeout=300)
    assert str(objects.state.value) == "success"
    api.unpause(DAG_ID)
    return scenario


# Native parts of the Snowflake connector and of dbt: mapped in a process once it has imported them.
PRELOADED_LIBRARIES = ("snowflake/connector/nanoarrow_arrow_iterator", "dbt_extractor/dbt_extractor")
# Process titles: Celery's main process, and its pool processes, which Airflow renames once they have supervised
# a task ("airflow supervisor: <task instance id>"). The worker's stale-bundle-cleanup helper, forked before Celery
# started (so without the libraries), keeps the command line of `airflow celery worker` and is not looked at.
WORKER_ROLES = {"MainProcess": "main", "ForkPoolWorker": "pool", "supervisor: ": "pool"}


def test_each_worker_imported_the_tasks_libraries_before_its_pool_forked(faults):
    """include/event_log/celery_config.py: the worker's main process and its pool processes (the tasks fork from
    those) hold the Snowflake connector and dbt, so no task imports them again."""
    for worker in WORKERS:
        processes, titles = {}, []
        for pid in group_members(faults.live.state["pids"][worker]):
            try:
                title = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
                maps = Path(f"/proc/{pid}/maps").read_text()
            except OSError:
                continue
            titles.append(title[:80])
            if role := next((role for marker, role in WORKER_ROLES.items() if marker in title), None):
                processes.setdefault(role, []).append(all(library in maps for library in PRELOADED_LIBRARIES))
        assert processes.keys() == {"main", "pool"}, (worker, processes, titles)
        assert all(all(found) for found in processes.values()), (worker, processes, titles)


def test_a_worker_lost_during_a_copy_is_retried_on_the_other_worker_and_the_hour_ends_exact(faults):
    live, api, hour = faults.live, faults.api, faults.killed_hour
    faults.land(hour, 1, KILLED_HOUR_EVENTS, 8, seed=41)
    landed = faults.landed_lines(hour)
    s3_requests_before = len(live.log("s3"))  # moto's request log: from here on, only the stack reads the hour
    run_id = faults.backfill([hour])[hour]

    def copy_running():
        (ti,) = faults.copy_tries(run_id)[-1:] or (None,)
        return ti if ti is not None and _state(ti) == "running" and ti.hostname else None

    first = wait_until(copy_running, 420, interval=0.5, what="load_partition to run")
    assert first.try_number == 1 and first.hostname in WORKERS, first
    victim = first.hostname
    (survivor,) = set(WORKERS) - {victim}
    # The COPY is under way once the warehouse reads the hour's part files from S3 (the listing before it only
    # lists them; the external-table refresh and the checks come after it).
    # The request line shows the key as the client sent it: `dt=…/hr=…` may come URL-encoded (`dt%3D…`).
    folder = HourLayout.from_env({"EVENT_LOG_PREFIX": PREFIX}).hour_prefix(hour)
    reads = {f'"GET /{BUCKET}/{path}part-' for path in (folder, quote(folder, safe="/"))}
    wait_until(lambda: any(read in live.log("s3")[s3_requests_before:] for read in reads), 180, interval=0.2,
               what="the COPY to read the hour's files")  # fmt: skip
    live.hold(victim)  # a lost machine stays lost: the supervisor does not restart it until released
    killed = live.kill(victim)
    wait_until(lambda: not group_members(killed), 10, interval=0.1, what=f"every process of {victim} to be gone")
    copy_log = faults.task_log(run_id, COPY, 1)
    assert "Loaded" not in copy_log, "the COPY had finished before the worker was killed"
    assert faults.rows_by_hour([hour])[hour] == (0, 0), "the killed try committed nothing"

    def retried():
        tries = faults.copy_tries(run_id)
        return tries if len(tries) == 2 and _state(tries[-1]) == "success" else None

    tries = wait_until(retried, 300, interval=2, what="load_partition's retry to succeed")
    assert [(t.try_number, t.hostname, _state(t)) for t in tries] == [
        (1, victim, "failed"),
        (2, survivor, "success"),
    ]
    assert tries[0].pid != tries[1].pid

    live.release(victim)
    wait_until(lambda: _restarted(live, victim, killed), 120, what=f"{victim} to be restarted")
    (run,) = api.wait_for_runs(DAG_ID, {run_id}, timeout=420)
    assert str(run.state.value) == "success"
    assert faults.rows_by_hour([hour])[hour] == (landed, landed), "each landed line exactly once"
    assert landed > 0.9 * KILLED_HOUR_EVENTS


def _queued_messages(redis_client) -> list[dict]:
    """The Celery messages waiting in the broker's queue: which task instance each would run."""
    messages = []
    for raw in redis_client.lrange(CELERY_QUEUE, 0, -1):
        envelope = json.loads(raw)
        args = json.loads(base64.b64decode(envelope["body"]))[0]
        workload = json.loads(args[0]) if isinstance(args[0], str) else args[0]
        messages.append({"celery_id": envelope["headers"]["id"], **workload["ti"]})
    return messages


def test_a_broker_restarted_while_tasks_wait_in_it_loses_them_and_every_run_still_finishes_exact(faults):
    import redis

    live, api, hours = faults.live, faults.api, faults.broker_hours
    faults.land(hours[0], len(hours), 1500, 2, seed=43)
    landed = {hour: faults.landed_lines(hour) for hour in hours}
    # Both workers down (kept down) first: the tasks the scheduler queues can only wait in the broker. With the
    # workers up they took them at once, and whether any waited depended on the machine's speed.
    workers = {}
    for worker in WORKERS:
        live.hold(worker)
        workers[worker] = live.kill(worker)
        wait_until(lambda pid=workers[worker]: not group_members(pid), 10, interval=0.1, what=f"{worker} to be gone")
    run_ids = faults.backfill(hours)
    broker = redis.Redis(host="127.0.0.1", port=live.state["broker_port"], socket_timeout=5)

    waiting = wait_until(lambda: _queued_messages(broker), 420, interval=0.2, what="tasks waiting in the broker")
    killed = live.kill("broker")
    queued_at_restart = {(m["run_id"], m["task_id"], m["map_index"]) for m in waiting}
    print(f"{len(waiting)} messages waiting in the broker when it was killed: {sorted(queued_at_restart)}")
    assert {m["dag_id"] for m in waiting} == {DAG_ID}

    wait_until(lambda: _restarted(live, "broker", killed), 60, what="the supervisor to restart the broker")
    wait_until(lambda: _answers(broker), 30, interval=0.5, what="the restarted broker to answer")
    kept = {m["celery_id"] for m in waiting} & {m["celery_id"] for m in _queued_messages(broker)}
    assert not kept, "the broker keeps nothing on disk: what waited in it is gone with it"
    for worker, pid in workers.items():
        live.release(worker)
        wait_until(lambda worker=worker, pid=pid: _restarted(live, worker, pid), 120, what=f"{worker} to be restarted")

    runs = api.wait_for_runs(DAG_ID, set(run_ids.values()), timeout=600)
    assert sorted(str(run.state.value) for run in runs) == ["success"] * len(hours)
    rows = faults.rows_by_hour(hours)
    assert rows == {hour: (landed[hour], landed[hour]) for hour in hours}, "every hour exact after the restart"
    for run_id, task_id, map_index in sorted(queued_at_restart):
        ti = (
            api.task_instances.get_mapped_task_instance(DAG_ID, run_id, task_id, map_index)
            if map_index >= 0
            else api.task_instances.get_task_instance(DAG_ID, run_id, task_id)
        )
        assert str(ti.state.value) in ("success", "skipped"), (task_id, ti.state)
    requeued = api.event_logs.get_event_logs(dag_id=DAG_ID, event="stuck in queued reschedule").event_logs
    requeued_tis = {(e.run_id, e.task_id, e.map_index) for e in requeued}
    retried = {key for key in queued_at_restart if _tries(api, *key) > 1}
    print(
        f"requeued after {len(requeued)} stuck-in-queued timeouts: {sorted(requeued_tis)}; retried: {sorted(retried)}"
    )
    assert (requeued_tis | retried) & queued_at_restart, "the lost task instances were run again by the scheduler"


def _state(obj) -> str | None:
    return str(obj.state.value) if obj.state is not None else None


def _answers(client) -> bool:
    import redis

    try:
        return bool(client.ping())
    except redis.ConnectionError:
        return False


def _tries(api, run_id: str, task_id: str, map_index: int) -> int:
    if map_index >= 0:
        return len(api.task_instances.get_mapped_task_instance_tries(DAG_ID, run_id, task_id, map_index).task_instances)
    return len(api.task_instances.get_task_instance_tries(DAG_ID, run_id, task_id).task_instances)


def _restarted(live, component: str, old_pid: int) -> int | None:
    """The component's new pid once the supervisor has restarted it."""
    live.refresh_state()
    pid = live.state["pids"].get(component)
    return pid if pid and pid != old_pid else None
