"""Deadline alerts on the live local stack: the scheduler notices the missed deadline, the triggerer
runs the callback from the plugins folder, the miss lands in the local Snowflake and a local Slack
webhook, then committing the hour lets the run finish.

Why here and not with `dag.test()`: Airflow 3.3.2's `dag.test()` crashes on any DAG with `deadline=`
(it looks deadline alerts up by the serialized dict instead of their id), and it has no scheduler
or triggerer anyway. So this module starts a whole stack of its own (tests/live/conftest.py) with
short intervals: commit delay 0, and a grace chosen so that the deadline of the last whole hour,
logical date + 1 h + grace, falls about LEAD_SECONDS after the test starts (the stack must come up
and create the Snowflake objects first); `snowflake_objects` gets a 1 s deadline from queued.

The tests share one stack and one story: the objects created, the hour's run missing its deadline, the
triggerer killed while the hour is deferred (the restarted triggerer must end the wait), the hour committed.
Each step runs once, when the first test that needs it asks (`Scenario`), after the steps it follows: the
tests pass alone and in any order. The last test kills the triggerer twice while a deadline's callback runs
(one record, one notification); it needs only the objects.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cached_property
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from devstack.isolated import wait_until
from devstack.ports import LOOPBACK
from devstack.simulator import SimulationOptions, read_landed_hour, simulate
from devstack.stack import BUCKET, PREFIX, group_alive
from include.event_log.land.hour_layout import HourLayout, Layout

pytestmark = [pytest.mark.live, pytest.mark.timeout(900)]

# From the test's start to the ingest run's deadline: stack up, objects DAG, some room (2-core box).
LEAD_SECONDS = 150


@dataclass
class Objects:
    """Step 1: the hour landed uncommitted, the objects created, then a run past its 1 s deadline."""

    late_run: object
    miss: tuple


@dataclass
class Missed:
    """Step 2: the hour's catch-up run, deferred on the uncommitted hour until its deadline fires."""

    run: object
    misses_before_deadline: list | None  # None: the setup overran the deadline, nothing to look at
    miss: tuple
    post: dict  # the Slack notification of the miss


@dataclass
class Restarted:
    """Step 3: the triggerer killed while the hour's sensor is deferred, and restarted by the supervisor."""

    old_pid: int
    new_pid: int
    sensor_state: str
    run_state: str


class Scenario:
    """One story on one stack: each step runs once, the first time a test needs it, after the steps it follows, so
    the tests pass alone and in any order (pytest -k, -p randomly) and each asserts what its step observed."""

    def __init__(self, live, hour: datetime, deadline: datetime, posts: list[dict]):
        self.live, self.hour, self.deadline, self.posts = live, hour, deadline, posts
        self.api = live.api()

    def posts_about(self, dag_id: str) -> list[dict]:
        return [post for post in self.posts if f"[{dag_id}]" in post["text"]]

    @property
    def hour_label(self) -> str:
        return f"{self.hour:%Y-%m-%d %H:00} UTC"

    def deadline_misses(self, dag_id: str, hour: datetime | None = None, run_id: str | None = None) -> list[tuple]:
        sql = (
            "SELECT RUN_ID, REPLICATION_HOUR, STATUS, DETAILS, CHECKED_AT FROM EVENT_LOG.RAW.EVENT_LOG_CHECK_RESULTS "
            "WHERE CHECK_NAME = 'deadline_missed' AND DAG_ID = %(dag_id)s "
            "AND (%(hour)s IS NULL OR REPLICATION_HOUR = %(hour)s) AND (%(run_id)s IS NULL OR RUN_ID = %(run_id)s)"
        )
        params = {"dag_id": dag_id, "hour": hour.replace(tzinfo=None) if hour else None, "run_id": run_id}
        try:
            return self.live.query(sql, params)
        except Exception as error:  # the table does not exist until snowflake_objects has run
            if "does not exist" in str(error).lower():
                return []
            raise

    def ingest_sensor_state(self, run_id: str) -> str:
        tis = self.api.task_instances.get_task_instances("event_log_ingest", run_id).task_instances
        return next(str(ti.state.value) for ti in tis if ti.task_id == "load_hour.wait_for_commit")

    @cached_property
    def objects(self) -> Objects:
        """snowflake_objects has a 1 s deadline here: every run misses it. The first runs create the check-results
        table, so the miss of a run triggered afterwards is what must be recorded."""
        api, s3 = self.api, self.live.s3()
        s3.create_bucket(Bucket=BUCKET)
        options = SimulationOptions(
            bucket=BUCKET, prefix=PREFIX, end_hour=self.hour + timedelta(hours=1), hours=1, events_per_hour=800,
            files_per_hour=2, uncommitted_hours=(self.hour,), seed=11,
        )  # fmt: skip
        simulate(s3, options)
        api.wait_for_dag("snowflake_objects")
        first = api.trigger("snowflake_objects")
        api.unpause("snowflake_objects")
        api.wait_for_runs("snowflake_objects", {first}, timeout=300)
        api.wait_for_runs("snowflake_objects", timeout=300)  # and the scheduled run unpausing created
        late = api.trigger("snowflake_objects")
        (run,) = api.wait_for_runs("snowflake_objects", {late}, timeout=300)
        (miss,) = wait_until(lambda: self.deadline_misses("snowflake_objects", run_id=late), 120,
                             what="the objects run's miss")  # fmt: skip
        return Objects(run, miss)

    @cached_property
    def missed(self) -> Missed:
        self.objects  # noqa: B018 (the step before)
        api = self.api
        api.wait_for_dag("event_log_ingest")
        if (wait := (self.deadline - datetime.now(UTC)).total_seconds() - 30) > 0:
            time.sleep(wait)  # the run starts ~30 s before its deadline, so an early alert would show
        api.unpause("event_log_ingest")
        (run,) = wait_until(lambda: api.dag_runs("event_log_ingest"), 120, what="the catch-up run of the hour")
        early = None
        if (before := (self.deadline - datetime.now(UTC)).total_seconds() - 3) > 0:
            time.sleep(before)
            early = self.deadline_misses("event_log_ingest")
        else:
            print(f"setup overran the deadline by {-before:.0f}s: not checking that the alert waits for it")
        (miss,) = wait_until(lambda: self.deadline_misses("event_log_ingest", hour=self.hour), 180,
                             what="the ingest run's miss")  # fmt: skip
        (post,) = wait_until(lambda: self.posts_about("event_log_ingest"), 60, what="the Slack notification")
        return Missed(run, early, miss, post)

    @cached_property
    def restarted(self) -> Restarted:
        run_id = self.missed.run.dag_run_id
        state_file = self.live.var_dir / "stack" / "state.json"
        wait_until(lambda: self.ingest_sensor_state(run_id) == "deferred", 120, what="the sensor to be deferred")
        old_pid = json.loads(state_file.read_text())["pids"]["triggerer"]
        os.killpg(old_pid, signal.SIGKILL)
        new_pid = wait_until(
            lambda: (pid := json.loads(state_file.read_text())["pids"]["triggerer"]) != old_pid and pid,
            120,
            what="the supervisor to restart the triggerer",
        )
        assert not group_alive(old_pid)
        time.sleep(10)  # the new triggerer has taken the deferred trigger over by now
        run_state = str(self.api.runs.get_dag_run("event_log_ingest", run_id).state.value)
        return Restarted(old_pid, new_pid, self.ingest_sensor_state(run_id), run_state)

    @cached_property
    def committed(self):
        """Only the restarted triggerer can see the commit: the run finishing proves the wait resumed."""
        self.restarted  # noqa: B018 (the step before)
        s3 = self.live.s3()
        s3.put_object(Bucket=BUCKET, Key=HourLayout(Layout.HIVE, PREFIX).success_key(self.hour), Body=b"")
        (run,) = self.api.wait_for_runs("event_log_ingest", {self.missed.run.dag_run_id}, timeout=600)
        return run


class Posts(list):
    def __init__(self):
        super().__init__()
        self.holding = threading.Event()


@pytest.fixture(scope="module")
def slack_posts():
    """A Slack incoming webhook on loopback, for the stack's `slack_event_log` connection. A post counts when
    it arrives; while `posts.holding` is set, the answer waits until it is cleared (a notification in flight)."""
    posts = Posts()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            posts.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            deadline = time.monotonic() + 120
            while posts.holding.is_set() and time.monotonic() < deadline:
                time.sleep(0.2)
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer((LOOPBACK, 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1], posts
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def scenario(live_stack_factory, slack_posts):
    started = datetime.now(UTC)
    hour = started.replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
    grace = round((started + timedelta(seconds=LEAD_SECONDS) - (hour + timedelta(hours=1))).total_seconds())
    slack_port, posts = slack_posts
    live = live_stack_factory(
        hour,  # the DAG's start date: unpausing event_log_ingest creates exactly the run of this hour
        {
            "EVENT_LOG_COMMIT_DELAY_SECONDS": "0",
            "EVENT_LOG_DEADLINE_GRACE_SECONDS": str(grace),
            "EVENT_LOG_OBJECTS_DEADLINE_SECONDS": "1",
            "AIRFLOW_CONN_SLACK_EVENT_LOG": json.dumps(
                {"conn_type": "slackwebhook", "host": f"http://{LOOPBACK}:{slack_port}", "password": "T0/B0/live"}
            ),
        },
    )
    print(f"stack up in {(datetime.now(UTC) - started).total_seconds():.0f}s; grace {grace}s")
    return Scenario(live, hour, hour + timedelta(hours=1, seconds=grace), posts)


def test_an_objects_run_past_its_deadline_is_recorded(scenario):
    late = scenario.objects.late_run
    assert str(late.state.value) == "success", "a missed deadline alerts; it does not fail the run"
    _, replication_hour, status, details, _ = scenario.objects.miss
    assert (replication_hour, status) == (None, "fail")
    assert json.loads(details)["run_type"] == "manual"
    wait_until(lambda: f"run {late.dag_run_id} not done by its deadline" in scenario.live.log("triggerer"), 30,
               what="the triggerer to log the objects run's miss")  # fmt: skip
    wait_until(lambda: any(late.dag_run_id in post["text"] for post in scenario.posts_about("snowflake_objects")), 60,
               what="the Slack notification of the objects run's miss")  # fmt: skip


def test_an_uncommitted_hour_fires_the_deadline_callback(scenario):
    api, live, missed = scenario.api, scenario.live, scenario.missed
    run = missed.run
    assert run.logical_date.astimezone(UTC) == scenario.hour and str(run.run_type.value) == "scheduled"
    assert missed.misses_before_deadline in (None, []), "the callback ran before the deadline"
    run_id, _, status, details, _ = missed.miss
    details = json.loads(details)
    assert (run_id, status) == (run.dag_run_id, "fail")
    folder = HourLayout(Layout.HIVE, PREFIX).hour_uri(BUCKET, scenario.hour)
    assert details["s3_folders"] == [folder]
    assert datetime.fromisoformat(details["deadline_time"]) == scenario.deadline
    if "committed" not in vars(scenario):  # once the hour is committed, the run goes on
        assert str(api.runs.get_dag_run("event_log_ingest", run.dag_run_id).state.value) == "running"

    def alert_lines() -> list[str]:
        return [line for line in live.log("triggerer").splitlines() if "not loaded by its deadline" in line]

    # Logged each time the callback runs (again after a triggerer restart, if a later step has restarted it);
    # recorded and notified once (the last steps check that).
    alerts = wait_until(alert_lines, 30, what="the triggerer to log the miss")
    assert all(scenario.hour_label in alert for alert in alerts), "the triggerer log names the hour"
    triggerer_log = live.log("triggerer")
    assert folder in triggerer_log and run.dag_run_id in triggerer_log
    assert scenario.hour_label in missed.post["text"] and folder in missed.post["text"]


def test_a_triggerer_restart_keeps_the_hour_waiting(scenario):
    """The fault: the triggerer dies while the hour's sensor is deferred. The supervisor restarts it,
    the new triggerer picks the trigger up again, and the commit (the next step) still ends the wait."""
    restarted = scenario.restarted
    assert restarted.new_pid != restarted.old_pid
    assert restarted.sensor_state == "deferred", "the hour is still waited on, without a worker slot"
    assert restarted.run_state == "running"


def test_committing_the_hour_lets_the_run_finish_without_duplicates(scenario):
    run, live = scenario.committed, scenario.live
    assert str(run.state.value) == "success"
    landed = read_landed_hour(live.s3(), BUCKET, PREFIX, scenario.hour)
    ((rows, distinct_lines),) = live.query(
        "SELECT COUNT(*), COUNT(DISTINCT FILE_NAME || ':' || FILE_ROW_NUMBER) FROM EVENT_LOG.RAW.RAW_FLINK_EVENT_LOG "
        "WHERE REPLICATION_HOUR = %(hour)s",
        {"hour": scenario.hour.replace(tzinfo=None)},
    )
    assert rows == distinct_lines == len(landed.lines) > 0
    assert len(scenario.deadline_misses("event_log_ingest", hour=scenario.hour)) == 1, "one alert per missed run"
    assert len(scenario.posts_about("event_log_ingest")) == 1


def test_a_triggerer_killed_twice_while_a_deadline_fires_records_and_notifies_once(scenario):
    """The fault of issue 11: the callback runs again after each triggerer restart. The first kill lands while
    the callback's notification is in flight (the webhook holds its answer), after the record; the second while
    the callback run again by the restarted triggerer waits for the warehouse (stopped with SIGSTOP, so the
    call hangs instead of failing). The third run finds the record: one record, one notification."""
    scenario.objects  # noqa: B018 (the objects and the check-results table exist)
    live, api = scenario.live, scenario.api

    def callback_starts(run_id: str) -> int:
        return live.log("triggerer").count(f"run {run_id} not done by its deadline")

    def found_record(run_id: str) -> bool:
        return f"(snowflake_objects run {run_id}) was already recorded" in live.log("triggerer")

    def restart_triggerer() -> None:
        old_pid = live.kill("triggerer")
        wait_until(lambda: live.refresh_state() or live.state["pids"]["triggerer"] != old_pid, 120,
                   what="the supervisor to restart the triggerer")  # fmt: skip

    scenario.posts.holding.set()
    try:
        run_id = api.trigger("snowflake_objects")
        wait_until(lambda: any(run_id in post["text"] for post in scenario.posts_about("snowflake_objects")), 180,
                   what="the notification of the run's miss to be in flight")  # fmt: skip
        assert len(scenario.deadline_misses("snowflake_objects", run_id=run_id)) == 1, "recorded before notifying"
        warehouse = live.state["pids"]["snowflake"]
        starts = callback_starts(run_id)
        os.killpg(warehouse, signal.SIGSTOP)  # the next call of the callback hangs in the warehouse
        try:
            restart_triggerer()  # kill 1: during the notification
            wait_until(lambda: callback_starts(run_id) > starts, 180, what="the restarted triggerer to run it again")
            time.sleep(1)
            assert found_record(run_id) is False, "the second call cannot reach the warehouse"
            restart_triggerer()  # kill 2: while the callback waits for the warehouse
            starts = callback_starts(run_id)
        finally:
            os.killpg(warehouse, signal.SIGCONT)
    finally:
        scenario.posts.holding.clear()
    wait_until(lambda: callback_starts(run_id) > starts, 180, what="the third triggerer to run the callback again")
    wait_until(lambda: found_record(run_id), 120, what="the third call to find the record")
    time.sleep(10)  # room for a duplicate to show
    assert len(scenario.deadline_misses("snowflake_objects", run_id=run_id)) == 1, "one record"
    assert len([post for post in scenario.posts if run_id in post["text"]]) == 1, "one notification"
