"""The triggers of event_log_ingest's dbt tasks (include/event_log/model/dbt_tasks.py): `BuildDueTrigger` of the build
task, `ModelBuiltTrigger` of the model tasks.

The build task starts in the triggerer and reads the hour-changes table: once every change of its run was modeled
by a successful build (its own or another run's), the task ends here with the report its model tasks read (XCom
`event_log_build`), even while later runs' builds go on. While a build task of any run is scheduled, queued or
running (a build in the dbt pool), it waits, and looks at the table again every `covered_check_interval`. With no
build active, the run of the oldest pending change resumes in a worker to build (the other runs wait for that
build, at most a grace period, since the run of a re-load alone has no build task coming). The warehouse is read
in a thread, its client imported there too: never on the triggerer's event loop.

A model task starts here, in the triggerer, and waits until its run's build task has ended, then reads
the one report the build task leaves (XCom `event_log_build`): the outcome of every model and of each
model's tests, or that a successful build (of this run or another) covered the run's changes. Success
ends the task here: no worker slot, no process start. A failure, or a retry that must run the model
again, resumes the task in a worker (`execute_complete`), where it fails with the message or builds the
model alone; a task with retries left is then retried.

The plugins folder is on sys.path in every Airflow component, so the triggerer imports this module by
its file name (`event_log_model_trigger.ModelBuiltTrigger`). Heavy imports stay inside the methods.

The report is read only once the build task has ended (success or failed): a build task waiting for a
retry, or cleared and not yet started, still holds its previous try's XComs.

Every run of a backfill has a build trigger and one trigger per model, each asking the execution API every poke
interval: 24 active runs are over 200 triggers. The questions repeat (every build trigger asks the same count of
active builds; a run's model triggers ask the same task state), so the triggers of one triggerer share one answer
per question and poke interval (`SharedAnswers`): one request where there were a run's worth.
"""

from __future__ import annotations

import asyncio
import json
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable
from typing import Any

from airflow.triggers.base import BaseTrigger, TaskSuccessEvent, TriggerEvent

# Must equal include.event_log.model.dbt_tasks.BUILD_XCOM_KEY (not imported: the triggerer imports this module early).
BUILD_XCOM_KEY = "event_log_build"
ENDED_STATES = {"success", "failed"}
# A build task in these states builds, or is about to (a deferred one waits here, like this one).
BUILD_ACTIVE_STATES = ["scheduled", "queued", "running", "restarting"]
# While the run's build task runs in a worker its end is near: the model triggers look this often then (one request
# per run, shared by its model triggers), and every poke interval while it waits or has not started.
RUNNING_BUILD_POKE_INTERVAL = 1.0


class SharedAnswers:
    """One answer per question and interval for every trigger on an event loop (the triggerer runs its triggers on
    one). A question asked again within `max_age` seconds of the request that answered it gets that answer, or
    joins the request still in flight; a failed request is not kept. Cancelling one asker leaves the request
    running for the others."""

    def __init__(self) -> None:
        self._by_loop: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    async def get(self, question: Hashable, max_age: float, ask: Callable[[], Awaitable[Any]]) -> Any:
        loop = asyncio.get_running_loop()
        answers: dict[Hashable, tuple[float, asyncio.Future]] = self._by_loop.setdefault(loop, {})
        now = loop.time()
        for old in [q for q, (at, request) in answers.items() if now - at >= max_age and request.done()]:
            del answers[old]
        entry = answers.get(question)
        if entry is None:
            entry = answers[question] = (now, asyncio.ensure_future(ask()))
        try:
            return await asyncio.shield(entry[1])
        except Exception:
            if answers.get(question) is entry:
                del answers[question]
            raise


ANSWERS = SharedAnswers()


class BuildDueTrigger(BaseTrigger):
    """Started by the scheduler for a build task (start_from_trigger); see the module's docstring."""

    def __init__(
        self, snowflake_conn_id: str, poke_interval: float = 3.0, leader_grace: float = 6.0,
        covered_check_interval: float = 15.0,
    ):  # fmt: skip
        super().__init__()
        self.snowflake_conn_id = snowflake_conn_id
        self.poke_interval = poke_interval
        self.leader_grace = leader_grace
        self.covered_check_interval = covered_check_interval

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            "event_log_model_trigger.BuildDueTrigger",
            {
                "snowflake_conn_id": self.snowflake_conn_id,
                "poke_interval": self.poke_interval,
                "leader_grace": self.leader_grace,
                "covered_check_interval": self.covered_check_interval,
            },
        )

    async def _active_builds(self, dag_id: str, task_id: str) -> int:
        from airflow.sdk.execution_time.task_runner import RuntimeTaskInstance
        from asgiref.sync import sync_to_async

        def ask():
            return sync_to_async(RuntimeTaskInstance.get_ti_count)(
                dag_id=dag_id, task_ids=[task_id], states=BUILD_ACTIVE_STATES
            )

        return await ANSWERS.get(("active builds", dag_id, task_id), self.poke_interval, ask)

    async def _decide(
        self, dag_id: str, run_id: str, waited: float, builds_active: bool
    ) -> tuple[str, dict[str, Any], str]:
        # In a thread: the Snowflake connector blocks, and importing it the first time takes seconds, which would
        # hold up every trigger of the triggerer if done on its event loop.
        return await asyncio.to_thread(
            decide_build, self.snowflake_conn_id, dag_id, run_id, waited, self.leader_grace, builds_active
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        ti = self.task_instance
        loop = asyncio.get_running_loop()
        led_since: float | None = None  # when this run began waiting for another run's build
        checked_at: float | None = None  # when the table was last read while builds were active
        while True:
            active = bool(await self._active_builds(ti.dag_id, ti.task_id))
            now = loop.time()
            if active:
                led_since = None
            if not active or checked_at is None or now - checked_at >= self.covered_check_interval:
                checked_at = now if active else None
                waited = now - led_since if led_since is not None else 0.0
                step, report, message = await self._decide(ti.dag_id, ti.run_id, waited, active)
                if step == "covered":
                    self.log.info("%s", message)
                    yield TaskSuccessEvent(xcoms={BUILD_XCOM_KEY: report, "task_status": "completed"})
                    return
                if step == "build":
                    self.log.info("%s", message)
                    yield TriggerEvent({"build": True, "message": message})
                    return
                if not active and led_since is None:
                    led_since = now
            await asyncio.sleep(self.poke_interval)


def decide_build(
    conn_id: str, dag_id: str, run_id: str, waited: float, leader_grace: float, builds_active: bool = False
) -> tuple[str, dict[str, Any], str]:
    """The build task's next step from the hour-changes table (include/event_log/model/modeling.py `next_step`),
    with the covered report and a message for the log. Runs in a thread of the triggerer."""
    from include.event_log.model import modeling

    pending, own = modeling.build_state(conn_id, dag_id, run_id)
    step = modeling.next_step(pending, own, run_id, waited, leader_grace, builds_active)
    if step == modeling.COVERED:
        report = modeling.covered_report(own)
        builds = ", ".join(report["covered_by"]) or "none needed"
        return step, report, f"Covered: this run's {len(own)} changes were modeled by build(s) {builds}"
    if step == modeling.BUILD:
        return step, {}, f"{len(pending)} changes pending, the oldest from run {pending[0].run_id}: building"
    return step, {}, ""


class ModelBuiltTrigger(BaseTrigger):
    def __init__(
        self,
        model_unique_id: str,
        producer_task_id: str,
        has_tests: bool,
        poke_interval: float = 3.0,
        dag_id: str | None = None,
        run_id: str | None = None,
        map_index: int = -1,
        try_number: int | None = None,
    ):
        super().__init__()
        self.model_unique_id = model_unique_id
        self.producer_task_id = producer_task_id
        self.has_tests = has_tests
        self.poke_interval = poke_interval
        self.dag_id, self.run_id, self.map_index, self.try_number = dag_id, run_id, map_index, try_number

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            "event_log_model_trigger.ModelBuiltTrigger",
            {
                "model_unique_id": self.model_unique_id,
                "producer_task_id": self.producer_task_id,
                "has_tests": self.has_tests,
                "poke_interval": self.poke_interval,
                "dag_id": self.dag_id,
                "run_id": self.run_id,
                "map_index": self.map_index,
                "try_number": self.try_number,
            },
        )

    @property
    def started_in_triggerer(self) -> bool:
        """Started by the scheduler in the triggerer (start_from_trigger), not deferred by a worker."""
        return self.run_id is None

    def _where(self) -> tuple[str, str, int, int]:
        if self.started_in_triggerer:
            ti = self.task_instance
            return ti.dag_id, ti.run_id, ti.map_index if ti.map_index is not None else -1, ti.try_number
        return self.dag_id, self.run_id, self.map_index, self.try_number or 1

    async def _xcom(self, dag_id: str, run_id: str, key: str) -> Any:
        from airflow.sdk.execution_time.xcom import XCom
        from asgiref.sync import sync_to_async

        return await sync_to_async(XCom.get_one)(
            run_id=run_id, key=key, task_id=self.producer_task_id, dag_id=dag_id, map_index=-1
        )

    async def _producer_state(self, dag_id: str, run_id: str, max_age: float) -> str | None:
        from airflow.sdk.execution_time.task_runner import RuntimeTaskInstance
        from asgiref.sync import sync_to_async

        def ask():
            return sync_to_async(RuntimeTaskInstance.get_task_states)(
                dag_id=dag_id, task_ids=[self.producer_task_id], run_ids=[run_id]
            )

        question = ("task states", dag_id, run_id, self.producer_task_id)
        states = await ANSWERS.get(question, max_age, ask)
        state = states.get(run_id, {}).get(self.producer_task_id)
        return str(state.value if hasattr(state, "value") else state) if state is not None else None

    async def run(self) -> AsyncIterator[TriggerEvent]:
        from cosmos.operators._watcher.state import is_dbt_node_status_success

        dag_id, run_id, _, try_number = self._where()
        model = self.model_unique_id
        interval = self.poke_interval
        while (state := await self._producer_state(dag_id, run_id, interval)) not in ENDED_STATES:
            interval = (
                min(self.poke_interval, RUNNING_BUILD_POKE_INTERVAL) if state == "running" else self.poke_interval
            )
            await asyncio.sleep(interval)
        build = await self._xcom(dag_id, run_id, BUILD_XCOM_KEY) or {}
        if isinstance(build, str):
            # The report of a build task that ended in the triggerer (TaskSuccessEvent xcoms): Airflow 3.3.2 stores
            # it JSON-encoded once more than a worker's push, so it reads back as the JSON text.
            build = json.loads(build)
        if build.get("covered"):
            builds = ", ".join(build.get("covered_by") or []) or "none needed"
            yield self._success(f"{model}: this run's changes were modeled by build(s) {builds}")
            return
        status = (build.get("nodes") or {}).get(model)
        tests = (build.get("tests") or {}).get(model, "pass" if not self.has_tests else None)
        where = f"in build {build.get('build_id', '?')} (run {build.get('run_id', run_id)})"
        if is_dbt_node_status_success(status) and is_dbt_node_status_success(tests):
            yield self._success(f"{model}{' and its tests' if self.has_tests else ''} succeeded {where}")
            return
        if not build:
            problem = f"the build task ended {state} without a report for {model}"
        elif not is_dbt_node_status_success(status):
            problem = f"{model} ended {status or 'without a result'} {where}"
        else:
            problem = f"the tests of {model} failed {where}"
        yield self._not_built(problem, try_number, build.get("hours"))

    def _success(self, message: str) -> TriggerEvent:
        self.log.info("%s", message)
        if self.started_in_triggerer:
            return TaskSuccessEvent()
        return TriggerEvent({"outcome": "success", "message": message})

    def _not_built(self, problem: str, try_number: int, hours: list[str] | None) -> TriggerEvent:
        """A first try fails with the problem; a later one (a retry, a clear) builds the model alone."""
        self.log.warning("%s", problem)
        if try_number > 1:
            return TriggerEvent({"outcome": "rerun", "message": problem + ".", "hours": hours})
        return TriggerEvent({"outcome": "failed", "message": problem + ". Review the build task's log."})
