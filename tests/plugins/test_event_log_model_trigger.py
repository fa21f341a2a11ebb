"""The model tasks' trigger decides from the build task's state and its one report; the task follows it.

The build task's state and XComs are scripted here (the live stack runs the real ones:
tests/live/test_models_follow_raw.py); what is checked is each decision: wait, succeed (ending in the
triggerer when the scheduler started the task there), fail on a first try, build the model alone on a retry.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import SimpleNamespace

import airflow  # noqa: F401 - puts the plugins folder on sys.path, as in every Airflow component
import pytest
from airflow.sdk.exceptions import AirflowException
from airflow.triggers.base import TaskSuccessEvent
from event_log_model_trigger import BUILD_XCOM_KEY, ModelBuiltTrigger

from include.event_log import dbt_tasks

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

    async def producer_state(dag_id, run_id):
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


def test_started_in_the_triggerer_a_success_ends_the_task_there():
    event, _ = decide(["success"], report(), in_triggerer=True)
    assert isinstance(event, TaskSuccessEvent)


def test_a_covered_run_succeeds_naming_the_build_that_covered_it():
    event, _ = decide(["success"], {"status": "success", "covered": True, "covered_by": ["B3"], "hours": HOURS})
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
    task.vars = {"other": 1}
    reruns: list = []
    monkeypatch.setattr(task, "_fallback_to_non_watcher_run", lambda try_number, context: reruns.append(
        (try_number, dict(task.vars))), raising=False)  # fmt: skip
    return task, reruns


def test_the_task_fails_with_the_message_or_builds_its_model_over_the_builds_hours(monkeypatch):
    task, reruns = model_task(monkeypatch)
    context = {"ti": SimpleNamespace(try_number=2)}
    with pytest.raises(AirflowException, match="fct_runs ended error"):
        task.execute_complete(context, {"outcome": "failed", "message": f"{MODEL} ended error in build B7."})
    assert reruns == []
    task.execute_complete(context, {"outcome": "rerun", "message": "tests failed.", "hours": HOURS})
    assert reruns == [(2, {"other": 1, "event_log_hours": HOURS})]
    task.execute_complete(context, {"outcome": "success", "message": "ok"})
    assert len(reruns) == 1
