"""Faults on the live local stack (production-shaped: PostgreSQL, Celery, two workers), each followed by exact
counts: every hour's raw rows are its landed lines once, its checks recorded once, and the models equal a
computation from the files in S3.

- S3 unreachable while an hour's load lists its folder: the load fails, retries once S3 is back, loads exactly.
- The warehouse down while an hour is checked: the checks fail, retry, and leave one result per check.
- The scheduler killed, then the dag-processor, in the middle of a 24-hour backfill: the supervisor restarts
  them, the backfill finishes, nothing is loaded or modeled twice.

Each test lands hours of its own (a day of its own), so none depends on another's order.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from devstack.isolated import wait_until
from devstack.simulator import SimulationOptions, simulate
from devstack.simulator.reader import read_landed_hour
from devstack.stack import BUCKET, PREFIX, PRODUCTION
from tests.live.test_models_follow_raw import Stack

pytestmark = [pytest.mark.live, pytest.mark.timeout(1500)]

DAG_ID = "event_log_ingest"
NOW_HOUR = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
START_DATE = NOW_HOUR + timedelta(hours=1)
FIRST_DAY = NOW_HOUR.replace(hour=0) - timedelta(days=4)


def day(n: int) -> datetime:
    return FIRST_DAY + timedelta(days=n)


class Faults(Stack):
    def task_tries(self, run_id: str, task_id: str) -> list:
        from airflow_client.client.exceptions import NotFoundException

        try:
            return self.api.task_instances.get_mapped_task_instance_tries(DAG_ID, run_id, task_id, 0).task_instances
        except NotFoundException:
            return []

    def states(self, run_id: str, task_id: str) -> list[str]:
        return [str(t.state.value) if t.state is not None else "none" for t in self.task_tries(run_id, task_id)]

    def wait_for_task(self, run_id: str, task_id: str, state: str, timeout: float = 600) -> None:
        wait_until(lambda: state in self.states(run_id, task_id), timeout, interval=0.5,
                   what=f"{task_id} of {run_id} to be {state}")  # fmt: skip

    def exact(self, hours: list[datetime]) -> None:
        """Each hour's raw rows are its landed lines, once."""
        for hour in hours:
            ((rows, distinct),) = self.live.query(
                "SELECT COUNT(*), COUNT(DISTINCT FILE_NAME || ':' || FILE_ROW_NUMBER) "
                "FROM EVENT_LOG.RAW.RAW_FLINK_EVENT_LOG WHERE REPLICATION_HOUR = %(h)s",
                {"h": hour.replace(tzinfo=None)},
            )
            landed = len(read_landed_hour(self.s3, BUCKET, PREFIX, hour).lines)
            assert rows == distinct == landed > 0, f"{hour}: {rows} rows, {distinct} distinct lines, {landed} landed"

    def checks_recorded_once(self, run_id: str) -> dict[str, int]:
        rows = self.live.query(
            "SELECT CHECK_NAME, REPLICATION_HOUR, COUNT(*) FROM EVENT_LOG.RAW.EVENT_LOG_CHECK_RESULTS "
            "WHERE RUN_ID = %(run)s GROUP BY 1, 2",
            {"run": run_id},
        )
        assert rows and all(count == 1 for _, _, count in rows), rows
        return {name: count for name, _, count in rows}


@pytest.fixture(scope="module")
def faults(live_stack_factory):
    live = live_stack_factory(
        START_DATE,
        {
            # The hours are days old: their deadline alerts must not fire here.
            "EVENT_LOG_DEADLINE_GRACE_SECONDS": str(30 * 24 * 3600),
            # Room for a fault to last a few retries (5 s apart on the local stack).
            "EVENT_LOG_TASK_RETRIES": "4",
            # The malformed hour's 3 bad lines are over 1% of its ~250 (the default ratio would fail that hour, as
            # it should): here it loads, its rejects counted and kept once across the kills.
            "EVENT_LOG_MAX_REJECT_RATIO": "0.05",
            "AIRFLOW__SCHEDULER__MAX_DAGRUNS_PER_LOOP_TO_SCHEDULE": "32",
        },
        mode=PRODUCTION,
    )
    stack = Faults(live)
    stack.prepare()
    return stack


def land(stack: Faults, first: datetime, hours: int, **options) -> SimulationOptions:
    settings = SimulationOptions(bucket=BUCKET, prefix=PREFIX, end_hour=first + timedelta(hours=hours), hours=hours,
                                 events_per_hour=300, files_per_hour=2, seed=int(first.timestamp()) % 10_000,
                                 **options)  # fmt: skip
    simulate(stack.s3, settings)
    return settings


def backfill(stack: Faults, first: datetime, last: datetime) -> dict[datetime, str]:
    stack.cli(["backfill", "create", "--dag-id", DAG_ID, "--from-date", first.isoformat(), "--to-date",
               last.isoformat(), "--max-active-runs", "24"])  # fmt: skip
    expected = int((last - first) / timedelta(hours=1)) + 1
    runs = wait_until(lambda: (r := stack.runs(first, last)) and len(r) == expected and r, 120, what="the runs")
    return {hour: run.dag_run_id for hour, run in runs.items()}


def test_s3_unreachable_during_the_listing(faults):
    hour = day(0)
    options = land(faults, hour, 1)
    run_id = backfill(faults, hour, hour)[hour]
    faults.wait_for_task(run_id, "load_hour.wait_for_commit", "success")
    faults.live.hold("s3")
    faults.live.kill("s3")  # moto keeps objects in memory: S3 comes back empty, as after losing a region
    wait_until(lambda: any(s in ("up_for_retry", "failed") for s in faults.states(run_id, "load_hour.load_partition")),
               300, interval=0.5, what="the load to fail while S3 is unreachable")  # fmt: skip
    faults.live.release("s3")
    wait_until(lambda: _s3_answers(faults), 120, what="S3 to answer again")
    faults.s3.create_bucket(Bucket=BUCKET)
    simulate(faults.s3, options)  # Flink's files, as they were
    faults.wait_for_runs(hour, hour)
    tries = faults.states(run_id, "load_hour.load_partition")
    assert tries[0] in ("failed", "up_for_retry") and tries[-1] == "success", tries
    faults.exact([hour])
    faults.checks_recorded_once(run_id)
    faults.models_equal_raw()


def _s3_answers(stack: Faults) -> bool:
    try:
        stack.s3.list_buckets()
    except Exception:
        return False
    return True


def test_the_warehouse_down_while_the_hour_is_checked(faults):
    hour = day(1)
    land(faults, hour, 1)
    run_id = backfill(faults, hour, hour)[hour]
    faults.wait_for_task(run_id, "load_hour.load_partition", "success")
    faults.live.hold("snowflake")
    faults.live.kill("snowflake")  # its data is on disk: committed loads survive
    wait_until(lambda: any(s in ("up_for_retry", "failed") for s in faults.states(run_id, "load_hour.check_hour")),
               300, interval=0.5, what="the checks to fail while the warehouse is down")  # fmt: skip
    faults.live.release("snowflake")
    faults.wait_for_runs(hour, hour)
    tries = faults.states(run_id, "load_hour.check_hour")
    assert tries[0] in ("failed", "up_for_retry") and tries[-1] == "success", tries
    faults.exact([hour])
    recorded = faults.checks_recorded_once(run_id)
    assert {"raw_rows_equal_rows_loaded", "unexpected_objects_in_hour"} <= set(recorded)
    faults.models_equal_raw()


def test_scheduler_and_dag_processor_killed_in_a_24_hour_backfill(faults):
    first, hours = day(2), 24
    last = first + timedelta(hours=hours - 1)
    land(faults, first, hours, malformed_hours=(first + timedelta(hours=5),), duplicate_hours=(first,))
    started = datetime.now(UTC)
    runs = backfill(faults, first, last)

    def loaded() -> int:
        ((count,),) = faults.live.query(
            "SELECT COUNT(DISTINCT REPLICATION_HOUR) FROM EVENT_LOG.RAW.EVENT_LOG_HOUR_CHANGES "
            "WHERE REPLICATION_HOUR BETWEEN %(a)s AND %(b)s",
            {"a": first.replace(tzinfo=None), "b": last.replace(tzinfo=None)},
        )
        return count

    wait_until(lambda: loaded() >= 3, 600, interval=1, what="the backfill's first loads")
    faults.live.kill("scheduler")  # the supervisor restarts it
    time.sleep(5)
    wait_until(lambda: loaded() >= 8, 600, interval=1, what="loads after the scheduler came back")
    faults.live.kill("dag-processor")
    faults.wait_for_runs(first, last, timeout=1200)
    faults.live.refresh_state()
    faults.exact([first + timedelta(hours=n) for n in range(hours)])
    for run_id in runs.values():
        faults.checks_recorded_once(run_id)
    # Each hour was loaded once: one change row per hour, all modeled.
    changes = faults.live.query(
        "SELECT REPLICATION_HOUR, COUNT(*) FROM EVENT_LOG.RAW.EVENT_LOG_HOUR_CHANGES "
        "WHERE REPLICATION_HOUR BETWEEN %(a)s AND %(b)s GROUP BY 1",
        {"a": first.replace(tzinfo=None), "b": last.replace(tzinfo=None)},
    )
    assert len(changes) == hours and {count for _, count in changes} == {1}, changes
    builds = [b for b in faults.builds_since(started) if b[3] == "success"]
    assert 1 <= len(builds) < hours, builds
    faults.models_equal_raw()
