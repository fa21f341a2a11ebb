"""The hour sensor on the live stack (production-shaped): the scheduler starts `wait_for_commit` in the triggerer.

- A committed hour: the trigger finds it complete and ends the task there; no worker ever runs it (its only logs
  are the triggerer's), and the load that reads its completion loads the hour exactly.
- An hour that is never committed: the sensor's timeout (EVENT_LOG_COMMIT_TIMEOUT_SECONDS, 45 s here) ends the
  wait; a worker fails the task once, with the hour and its S3 folder named, and nothing of the hour is loaded.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from devstack.isolated import wait_until
from devstack.simulator.reader import read_landed_hour
from devstack.stack import BUCKET, PREFIX, PRODUCTION
from tests.live.test_models_follow_raw import Stack

pytestmark = [pytest.mark.live, pytest.mark.timeout(900)]

DAG_ID = "event_log_ingest"
SENSOR = "load_hour.wait_for_commit"
COMMIT_TIMEOUT_SECONDS = 45
NOW_HOUR = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
COMMITTED = NOW_HOUR - timedelta(days=3, hours=NOW_HOUR.hour - 2)
NEVER_COMMITTED = COMMITTED + timedelta(hours=1)


@pytest.fixture(scope="module")
def stack(live_stack_factory):
    live = live_stack_factory(
        NOW_HOUR + timedelta(hours=1),
        {
            "EVENT_LOG_COMMIT_TIMEOUT_SECONDS": str(COMMIT_TIMEOUT_SECONDS),
            "EVENT_LOG_DEADLINE_GRACE_SECONDS": str(30 * 24 * 3600),  # days-old hours: no deadline alert here
        },
        mode=PRODUCTION,
    )
    stack = Stack(live)
    stack.prepare()
    return stack


def task_log_files(stack: Stack, run_id: str) -> list[str]:
    folder = Path(stack.live.var_dir) / "airflow" / "logs" / f"dag_id={DAG_ID}" / f"run_id={run_id}"
    return sorted(path.name for path in (folder / f"task_id={SENSOR}" / "map_index=0").glob("*"))


def sensor_tries(stack: Stack, run_id: str) -> list:
    return stack.api.task_instances.get_mapped_task_instance_tries(DAG_ID, run_id, SENSOR, 0).task_instances


def worker_log(stack: Stack, run_id: str, try_number: int) -> str:
    """The worker's log of the try, as written (what the UI shows, with each line's error details)."""
    folder = Path(stack.live.var_dir) / "airflow" / "logs" / f"dag_id={DAG_ID}" / f"run_id={run_id}"
    return (folder / f"task_id={SENSOR}" / "map_index=0" / f"attempt={try_number}.log").read_text()


def test_a_committed_hour_ends_in_the_triggerer_and_a_never_committed_one_times_out_naming_its_folder(stack):
    stack.land(COMMITTED, 2, uncommitted_hours=(NEVER_COMMITTED,))
    started = datetime.now(UTC)
    stack.cli(["backfill", "create", "--dag-id", DAG_ID, "--from-date", COMMITTED.isoformat(), "--to-date",
               NEVER_COMMITTED.isoformat()])  # fmt: skip
    runs = wait_until(lambda: (r := stack.runs(COMMITTED, NEVER_COMMITTED)) and len(r) == 2 and r, 120,
                      what="the two runs")  # fmt: skip
    committed, never = runs[COMMITTED].dag_run_id, runs[NEVER_COMMITTED].dag_run_id

    def finished(run_id: str):
        (run,) = [r for r in stack.api.dag_runs(DAG_ID) if r.dag_run_id == run_id]
        return run if str(run.state.value) in ("success", "failed") else None

    done = wait_until(lambda: finished(committed), 600, interval=3, what="the committed hour's run")
    assert str(done.state.value) == "success", stack.unsuccessful_tasks(committed)
    (rows,) = stack.live.query(
        "SELECT COUNT(*) FROM EVENT_LOG.RAW.RAW_FLINK_EVENT_LOG WHERE REPLICATION_HOUR = %(h)s",
        {"h": COMMITTED.replace(tzinfo=None)},
    )[0]
    assert rows == len(read_landed_hour(stack.s3, BUCKET, PREFIX, COMMITTED).lines) > 0
    (sensor,) = sensor_tries(stack, committed)
    assert str(sensor.state.value) == "success" and sensor.try_number == 1
    logs = task_log_files(stack, committed)
    assert logs and all(".trigger." in name for name in logs), f"a worker ran the committed hour's sensor: {logs}"

    failed = wait_until(lambda: finished(never), COMMIT_TIMEOUT_SECONDS + 300, interval=3,
                        what="the never-committed hour's run")  # fmt: skip
    assert str(failed.state.value) == "failed"
    tries = sensor_tries(stack, never)
    assert [str(t.state.value) for t in tries] == ["failed"], "a sensor timeout is final: no retry"
    assert tries[0].end_date - started >= timedelta(seconds=COMMIT_TIMEOUT_SECONDS)
    folder = f"s3://{BUCKET}/{PREFIX}/dt={NEVER_COMMITTED:%Y-%m-%d}/hr={NEVER_COMMITTED:%H}/"
    message = worker_log(stack, never, tries[0].try_number)
    assert f"Hour {NEVER_COMMITTED:%Y-%m-%d %H}:00 UTC was never completed" in message, message[-3000:]
    assert folder in message and "_SUCCESS" in message, message[-3000:]
    (rows,) = stack.live.query(
        "SELECT COUNT(*) FROM EVENT_LOG.RAW.RAW_FLINK_EVENT_LOG WHERE REPLICATION_HOUR = %(h)s",
        {"h": NEVER_COMMITTED.replace(tzinfo=None)},
    )[0]
    assert rows == 0
    states = stack.api.task_states(DAG_ID, never)
    assert states.get("load_hour.load_partition[0]", "").startswith("upstream_failed"), states
