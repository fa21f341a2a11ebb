"""The model tasks' trigger decides from the build task's state and its one report; the task follows it.

The build task's state and XComs are scripted here (the live stack runs the real ones:
tests/live/test_models_follow_raw.py); what is checked is each decision: wait, succeed (ending in the
triggerer when the scheduler started the task there), fail on a first try, build the model alone on a retry.
"""

from __future__ import annotations

import asyncio
import json
import threading
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace

import airflow  # noqa: F401 - puts the plugins folder on sys.path, as in every Airflow component
import pytest
from airflow.sdk.exceptions import AirflowException
from airflow.triggers.base import TaskSuccessEvent
from event_log_model_trigger import BUILD_XCOM_KEY, BuildDueTrigger, ModelBuiltTrigger

from include.event_log.model import dbt_tasks, modeling

MODEL = "model.event_log.fct_runs"
TESTS = ["test.event_log.unique_fct_runs_run_id.1", "test.event_log.not_null_fct_runs_run_id.2"]
HOURS = ["2025-08-01T03:00:00+00:00", "2025-08-01T07:00:00+00:00"]


def report(model_status: str = "success", tests: str = "pass") -> dict:
    nodes = {MODEL: model_status, **dict.fromkeys(TESTS, tests)}
    return {"build_id": "B7", "run_id": "backfill__x", "status": "success", "covered": False, "hours": HOURS,
            "nodes": nodes, "tests": {MODEL: tests}}  # fmt: skip


def decide(states: list[str | None], build: dict | None, try_number: int = 1, in_triggerer: bool = False):
    """Run the trigger against a build task that goes through `states` (one per poll) and leaves `build`."""
    kwargs = {"model_unique_id": MODEL, "producer_task_id": "dbt_models.build", "has_tests": True, "poke_interval": 0}
    if not in_triggerer:
        kwargs.update(dag_id="event_log_ingest", run_id="scheduled__1", map_index=-1, try_number=try_number)
    trigger = ModelBuiltTrigger(**kwargs)
    if in_triggerer:
        trigger.task_instance = SimpleNamespace(dag_id="event_log_ingest", run_id="scheduled__1", map_index=-1,
                                                try_number=try_number, task_id="dbt_models.fct_runs")  # fmt: skip
    polls = iter(states)
    read: list[str] = []

    async def producer_state(dag_id, run_id, max_age):
        return next(polls)

    async def xcom(dag_id, run_id, key):
        read.append(key)
        return build

    trigger._producer_state, trigger._xcom = producer_state, xcom

    async def first_event():
        async for event in trigger.run():
            return event

    return asyncio.run(first_event()), read


def test_it_waits_for_the_build_task_to_end_and_reads_its_report_once():
    event, read = decide([None, "queued", "running", "up_for_retry", "running", "success"], report())
    assert event.payload == {
        "outcome": "success",
        "message": f"{MODEL} and its tests succeeded in build B7 (run backfill__x)",
    }
    assert read == [BUILD_XCOM_KEY], "a previous try's report is never read"


def test_it_looks_every_second_while_the_build_runs_and_every_poke_interval_before(monkeypatch):
    import event_log_model_trigger

    slept: list[float] = []
    ages: list[float] = []
    polls = iter([None, "scheduled", "running", "running", "success"])

    async def sleep(seconds):
        slept.append(seconds)

    async def producer_state(dag_id, run_id, max_age):
        ages.append(max_age)
        return next(polls)

    async def xcom(dag_id, run_id, key):
        return report()

    monkeypatch.setattr(event_log_model_trigger.asyncio, "sleep", sleep)
    trigger = ModelBuiltTrigger(MODEL, "dbt_models.build", True, poke_interval=3.0, dag_id="event_log_ingest",
                                run_id="scheduled__1", try_number=1)  # fmt: skip
    trigger._producer_state, trigger._xcom = producer_state, xcom

    async def first_event():
        async for event in trigger.run():
            return event

    assert asyncio.run(first_event()).payload["outcome"] == "success"
    assert slept == [3.0, 3.0, 1.0, 1.0]
    assert ages == [3.0, 3.0, 3.0, 1.0, 1.0], "a shared answer is never older than the interval it is asked at"


def test_started_in_the_triggerer_a_success_ends_the_task_there():
    event, _ = decide(["success"], report(), in_triggerer=True)
    assert isinstance(event, TaskSuccessEvent)


@pytest.mark.parametrize("encoded", [False, True], ids=["pushed-by-a-worker", "pushed-by-the-triggerer"])
def test_a_covered_run_succeeds_naming_the_build_that_covered_it(encoded):
    covered = {"status": "success", "covered": True, "covered_by": ["B3"], "hours": HOURS}
    event, _ = decide(["success"], json.dumps(covered) if encoded else covered)
    assert event.payload["outcome"] == "success" and "build(s) B3" in event.payload["message"]


@pytest.mark.parametrize(
    ("build", "state", "problem"),
    [
        (report(model_status="error"), "failed", f"{MODEL} ended error in build B7"),
        (report(tests="fail"), "success", f"the tests of {MODEL} failed in build B7"),
        (None, "failed", f"the build task ended failed without a report for {MODEL}"),
    ],
    ids=["model-failed", "tests-failed", "no-report"],
)
def test_a_first_try_fails_and_a_retry_builds_the_model_alone(build, state, problem):
    first, _ = decide([state], build, try_number=1)
    assert first.payload["outcome"] == "failed" and first.payload["message"].startswith(problem)
    retry, _ = decide([state], build, try_number=2)
    assert retry.payload["outcome"] == "rerun" and retry.payload["message"].startswith(problem)
    assert retry.payload["hours"] == (build["hours"] if build else None)


def model_task(monkeypatch) -> tuple[dbt_tasks.ModelBuilt, list]:
    from airflow.dag_processing.dagbag import DagBag

    dag = DagBag(dag_folder=str(Path(__file__).parents[2] / "dags" / "event_log_ingest.py")).dags["event_log_ingest"]
    task = dag.get_task("dbt_models.fct_runs")
    assert isinstance(task, dbt_tasks.ModelBuilt) and task.model_unique_id == MODEL
    task.env = {"OTHER": "1"}
    reruns: list = []
    monkeypatch.setattr(task, "_fallback_to_non_watcher_run", lambda try_number, context: reruns.append(
        (try_number, dict(task.env), task.vars)), raising=False)  # fmt: skip
    return task, reruns


def test_the_build_keeps_dbts_parse_where_the_model_tasks_do_and_passes_no_hours_as_a_var():
    """What lets a build reuse dbt's saved parse: the group's Cosmos cache dir (Cosmos gives it only to the tasks it
    renders) and no var that changes from build to build."""
    from airflow.dag_processing.dagbag import DagBag

    dag = DagBag(dag_folder=str(Path(__file__).parents[2] / "dags" / "event_log_ingest.py")).dags["event_log_ingest"]
    build, model = dag.get_task("dbt_models.build"), dag.get_task("dbt_models.fct_runs")
    assert build.partial_parse and build.cache_dir is not None
    assert build.cache_dir == model.cache_dir
    assert "event_log_hours" not in (build.vars or {}) and "--vars" not in build.add_cmd_flags()
    dbt_tasks.with_build_hours(build, HOURS)
    assert json.loads(build.env[dbt_tasks.BUILD_HOURS_ENV]) == HOURS
    assert "--vars" not in build.add_cmd_flags()


def test_the_task_fails_with_the_message_or_builds_its_model_over_the_builds_hours(monkeypatch):
    task, reruns = model_task(monkeypatch)
    context = {"ti": SimpleNamespace(try_number=2)}
    with pytest.raises(AirflowException, match="fct_runs ended error"):
        task.execute_complete(context, {"outcome": "failed", "message": f"{MODEL} ended error in build B7."})
    assert reruns == []
    task.execute_complete(context, {"outcome": "rerun", "message": "tests failed.", "hours": HOURS})
    # The hours go in the environment, not in a var: dbt's saved parse stays valid for the re-run.
    assert reruns == [(2, {"OTHER": "1", "EVENT_LOG_BUILD_HOURS": json.dumps(HOURS)}, None)]
    task.execute_complete(context, {"outcome": "rerun", "message": "no report.", "hours": None})
    assert reruns[-1] == (2, {"OTHER": "1"}, None), "no hours reported: every loaded hour"
    task.execute_complete(context, {"outcome": "success", "message": "ok"})
    assert len(reruns) == 2


# The build task's trigger: the states of the DAG's build tasks and the hour-changes table are scripted.
def change(load_id: str, run_id: str, minute: int, build_id: str | None = None):
    from include.event_log.model.modeling import HourChange

    return HourChange(load_id, datetime(2025, 8, 1, 3), datetime(2025, 8, 1, 4, minute), "event_log_ingest", run_id,
                      build_id)  # fmt: skip


def start_build(polls: list[tuple[int, list, list]], run_id: str = "backfill__3", grace: float = 6.0):
    """Run the build trigger against `polls`: per poll, (build tasks active, pending changes, this run's changes).
    The clock advances 5 s per poll. Returns the first event and how many polls read the warehouse."""
    trigger = BuildDueTrigger("snowflake_event_log", poke_interval=5, leader_grace=grace)
    trigger.task_instance = SimpleNamespace(dag_id="event_log_ingest", run_id=run_id, task_id="dbt_models.build",
                                            map_index=-1, try_number=1)  # fmt: skip
    script = iter(polls)
    current: list = []
    reads: list = []

    async def active_builds(dag_id, task_id):
        assert (dag_id, task_id) == ("event_log_ingest", "dbt_models.build")
        current[:] = [next(script)]
        return current[0][0]

    def build_state(conn_id, dag_id, run_id):
        assert conn_id == "snowflake_event_log"
        # Read in a thread, never on the triggerer's event loop (asyncio.run's loop runs in the main thread here).
        assert threading.current_thread() is not threading.main_thread()
        reads.append(run_id)
        return current[0][1], current[0][2]

    trigger._active_builds = active_builds

    async def first_event():
        clock = [0.0]
        loop = asyncio.get_running_loop()
        loop.time = lambda: clock[0]

        async def sleep(seconds):
            clock[0] += seconds

        original, read = asyncio.sleep, modeling.build_state
        asyncio.sleep, modeling.build_state = sleep, build_state
        try:
            async for event in trigger.run():
                return event
        finally:
            asyncio.sleep, modeling.build_state = original, read

    return asyncio.run(first_event()), len(reads)


def test_the_build_task_waits_while_a_build_runs_then_ends_covered_in_the_triggerer():
    waiting = [change("l3", "backfill__3", 5)]
    own = [change("l3", "backfill__3", 5, build_id="B1")]
    event, reads = start_build([(1, waiting, waiting), (1, waiting, waiting), (0, [], own)])
    assert isinstance(event, TaskSuccessEvent)
    assert event.xcoms == {
        BUILD_XCOM_KEY: {
            "status": "success",
            "covered": True,
            "covered_by": ["B1"],
            "hours": ["2025-08-01T03:00:00+00:00"],
        },
        "task_status": "completed",
    }
    assert reads == 2, "while a build is active the warehouse is read once per covered-check interval (15 s)"


def test_a_run_whose_changes_a_build_modeled_ends_while_later_builds_run():
    """In a backfill, loads go on while builds run: a run ends once a build included its hours, not when nothing
    is pending any more (that waited for the whole backfill, one run ending per build)."""
    others = [change("l4", "backfill__4", 7), change("l5", "backfill__5", 8)]
    mine = change("l3", "backfill__3", 5)
    polls = [(1, [mine, *others], [mine])] * 4 + [(1, others, [change("l3", "backfill__3", 5, build_id="B1")])] * 4
    event, reads = start_build(polls)
    assert isinstance(event, TaskSuccessEvent) and event.xcoms[BUILD_XCOM_KEY]["covered_by"] == ["B1"]
    assert reads == 3, "read at 0 s, 15 s (still pending) and 30 s (covered), with builds active all along"


def test_a_run_with_nothing_left_to_model_ends_at_once_even_with_others_pending():
    modeled = [change("l3", "backfill__3", 5, build_id="B1")]
    event, reads = start_build([(0, [change("l4", "backfill__4", 7)], modeled)])
    assert isinstance(event, TaskSuccessEvent) and event.xcoms[BUILD_XCOM_KEY]["covered_by"] == ["B1"]
    assert reads == 1


def test_the_run_of_the_oldest_pending_change_builds_and_the_others_wait_for_it():
    pending = [change("l2", "backfill__2", 1), change("l3", "backfill__3", 2)]
    event, _ = start_build([(0, pending, pending[:1])], run_id="backfill__2")
    assert event.payload["build"] is True and "the oldest from run backfill__2" in event.payload["message"]
    # backfill__3 waits while backfill__2's build is due, then is covered by it.
    covered = [change("l3", "backfill__3", 2, build_id="B2")]
    event, _ = start_build([(0, pending, pending[1:]), (1, pending, pending[1:]), (1, pending, pending[1:]),
                            (0, [], covered)])  # fmt: skip
    assert isinstance(event, TaskSuccessEvent) and event.xcoms[BUILD_XCOM_KEY]["covered_by"] == ["B2"]


def test_a_run_waits_for_another_runs_build_only_for_the_grace_period():
    """The oldest pending change may come from a load re-run alone: no build task of its run is coming."""
    pending = [change("l1", "scheduled__1", 1), change("l3", "backfill__3", 2)]
    polls = [(0, pending, pending[1:])] * 5
    event, reads = start_build(polls, grace=15.0)
    assert event.payload["build"] is True
    assert reads == 4, "waited 15 s (three polls of 5 s) after first seeing another run lead"
