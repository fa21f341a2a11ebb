"""The dbt tasks of event_log_ingest: one build over every changed hour, and one task per model.

Cosmos renders the task group from dbt's manifest in its watcher mode; these two subclasses change what
decides the work, not how dbt runs:

- `ChangedHoursBuild` (the group's `build` task, Cosmos' watcher producer) models the hours changed since
  the last successful build, read from the hour-changes table (include/event_log/model/modeling.py), whichever
  run changed them, in one `dbt build` of every model and its tests. It starts in the triggerer and waits
  there while a build runs; when nothing is pending, a build of another run covered this run's changes and
  it ends there, naming that build (no worker, no pool slot: a backfill's runs do not queue one by one for
  the pool only to find nothing to do). Otherwise the run of the oldest pending change resumes in a worker
  and builds. Unlike Cosmos' producer, a retried or cleared build task builds again (Cosmos would skip it);
  one build runs at a time (pool).
- `ModelBuilt` (one task per model, Cosmos' watcher consumer) reports its model and the model's tests:
  it starts and, on success, ends in the triggerer (no worker slot, no process start), once the run's
  build task has ended and reported the model, or has said that a successful build covered the run. It fails when
  the model or one of its tests failed; its retry (or clearing it) runs `dbt build --select <model>`, the
  model and its tests, over the hours of the run's build.
"""

from __future__ import annotations

import json
from typing import Any

from airflow.sdk.bases.operator import BaseOperator
from airflow.sdk.exceptions import AirflowException
from airflow.triggers.base import StartTriggerArgs
from cosmos.constants import _PRODUCER_CMD_FLAGS_XCOM_KEY
from cosmos.operators._watcher.state import (
    is_dbt_node_status_failed,
    is_dbt_node_status_success,
    is_dbt_node_status_terminal,
    safe_xcom_push,
)
from cosmos.operators.watcher import DbtProducerWatcherOperator, DbtRunWatcherOperator

# What the build task tells its run's model tasks (one XCom of the build task).
BUILD_XCOM_KEY = "event_log_build"
# The hours a dbt build models, a JSON list, read by dbt/macros/event_log_window.sql only while dbt executes: unlike
# a var, it leaves dbt's saved parse valid from one build to the next (a changed var costs a full parse).
BUILD_HOURS_ENV = "EVENT_LOG_BUILD_HOURS"


def with_build_hours(operator: Any, hours: list[str] | None) -> None:
    """Set the hours the operator's next dbt command models (None: every loaded hour)."""
    env = {key: value for key, value in (operator.env or {}).items() if key != BUILD_HOURS_ENV}
    if hours is not None:
        env[BUILD_HOURS_ENV] = json.dumps(list(hours))
    operator.env = env


# The triggers live in plugins/, which every Airflow component (the triggerer included) has on sys.path.
MODEL_TRIGGER = "event_log_model_trigger.ModelBuiltTrigger"
BUILD_TRIGGER = "event_log_model_trigger.BuildDueTrigger"


class ChangedHoursBuild(DbtProducerWatcherOperator):
    """Cosmos' watcher producer, building every hour changed since the last successful build."""

    # The scheduler starts it in the triggerer (BUILD_TRIGGER), which ends it there when another run's build
    # covered the run, and otherwise resumes it in a worker, in the dbt pool, to build (`execute_build`).
    start_from_trigger = True

    def __init__(
        self, *args: Any, snowflake_conn_id: str, poke_interval: float = 3.0, leader_grace: float = 6.0, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.snowflake_conn_id = snowflake_conn_id
        self.start_trigger_args = StartTriggerArgs(
            trigger_cls=BUILD_TRIGGER,
            trigger_kwargs={
                "snowflake_conn_id": snowflake_conn_id,
                "poke_interval": float(poke_interval),
                "leader_grace": float(leader_grace),
            },
            next_method="execute_build",
            next_kwargs=None,
            timeout=None,
        )
        # Cosmos adds `--resource-type` flags that leave the tests out of the build when the group renders
        # no test tasks; here every model's tests run in the build and its model task reports them.
        flags, skip = [], False
        for flag in self.dbt_cmd_flags or []:
            if skip:
                skip = False
            elif flag == "--resource-type":
                skip = True
            else:
                flags.append(flag)
        self.dbt_cmd_flags = flags
        # Cosmos backs the producer's XComs up to a Variable for its retry-as-skip; a retry here builds again.
        self.on_retry_callback = None
        self.on_failure_callback = None
        self._node_statuses: dict[str, str] = {}

    def _make_parse_callable(self):
        parse = super()._make_parse_callable()

        def parse_and_record(line: str, extra_kwargs: Any) -> None:
            parse(line, extra_kwargs)
            try:
                node = json.loads(line).get("data", {}).get("node_info") or {}
            except (ValueError, AttributeError):
                return
            if node.get("unique_id") and is_dbt_node_status_terminal(node.get("node_status")):
                self._node_statuses[node["unique_id"]] = str(node["node_status"])

        return parse_and_record

    def execute(self, context: Any, **kwargs: Any) -> Any:
        from include.event_log.model import modeling

        ti = context["ti"]
        conn_id = self.snowflake_conn_id
        pending = modeling.pending_changes(conn_id)
        if not pending:
            # Every change, this run's included, was modeled by a build that ran after it committed.
            return self._covered(ti, modeling.run_changes(conn_id, ti.dag_id, ti.run_id))
        own_pending = [change for change in pending if change.run_id == ti.run_id]
        build = modeling.plan_build(pending, ti.dag_id, ti.run_id, ti.try_number)
        others = len({c.run_id for c in pending} - {ti.run_id})
        self.log.info(
            "Modeling %s; %d of its loads are this run's, the others come from %d other runs (a backfill, a "
            "re-load, a cleared run)", build.describe(), len(own_pending), others,
        )  # fmt: skip
        modeling.record_build_started(conn_id, build)
        with_build_hours(self, build.hour_labels)
        safe_xcom_push(ti, _PRODUCER_CMD_FLAGS_XCOM_KEY, self.add_cmd_flags())
        self._node_statuses.clear()
        try:
            # Cosmos' producer body (dbt build, node results streamed to XCom) without its retry-as-skip.
            result = super(DbtProducerWatcherOperator, self).execute(context=context, **kwargs)
        except BaseException:
            failed = sorted(uid for uid, status in self._node_statuses.items() if is_dbt_node_status_failed(status))
            modeling.record_build_finished(conn_id, build, succeeded=False, failed_nodes=failed)
            self._report(ti, build, succeeded=False)
            self.log.error("%s failed; its changes stay pending for the next build. Failed nodes: %s",
                           build.describe(), failed or "none reported (dbt did not start?)")  # fmt: skip
            raise
        marked = modeling.record_build_finished(conn_id, build, succeeded=True, failed_nodes=[])
        self._report(ti, build, succeeded=True)
        self.log.info("%s succeeded: %d changes marked modeled", build.describe(), marked)
        if marked != len(build.load_ids):
            self.log.warning("%d of the build's changes were already marked by another build",
                             len(build.load_ids) - marked)  # fmt: skip
        return result

    def execute_build(self, context: Any, event: dict[str, Any] | None = None) -> Any:
        """Resumed from the triggerer: this run's build is due (it leads the pending changes, or waited long
        enough for the run that does). `execute` reads the pending changes again: a build that ran in between
        may have covered them."""
        self.log.info("%s", (event or {}).get("message", "A build is due"))
        return self.execute(context)

    def _report(self, ti: Any, build: Any, succeeded: bool) -> None:
        """What the run's model tasks read once this task has ended: each model's and its tests' outcome."""
        tests = {}
        for model_id, test_ids in (self.tests_per_model or {}).items():
            outcomes = [self._node_statuses.get(test_id) for test_id in test_ids]
            tests[model_id] = "pass" if all(is_dbt_node_status_success(o) for o in outcomes) else "fail"
        summary = {
            "build_id": build.build_id, "run_id": build.run_id, "try_number": build.try_number,
            "status": "success" if succeeded else "failed", "covered": False, "hours": build.hour_labels,
            "nodes": dict(self._node_statuses), "tests": tests,
        }  # fmt: skip
        safe_xcom_push(ti, BUILD_XCOM_KEY, summary)
        safe_xcom_push(ti, "task_status", "completed")

    def _covered(self, ti: Any, own: list[Any]) -> None:
        from include.event_log.model import modeling

        report = modeling.covered_report(own)
        builds = modeling.builds_by_id(self.snowflake_conn_id, set(report["covered_by"]))
        for build_id, build in builds.items():
            self.log.info(
                "This run's changes were modeled by build %s (run %s, try %s, %s hours, finished %s UTC)",
                build_id, build["run_id"], build["try_number"], build["hours"], build["finished_at"],
            )  # fmt: skip
        if not own:
            self.log.info("This run changed no hour: nothing to model")
        with_build_hours(self, report["hours"])
        safe_xcom_push(ti, BUILD_XCOM_KEY, report)
        safe_xcom_push(ti, _PRODUCER_CMD_FLAGS_XCOM_KEY, self.add_cmd_flags())
        safe_xcom_push(ti, "task_status", "completed")


class ModelBuilt(DbtRunWatcherOperator):
    """One model and its tests, as the run's build reported them; retried, it builds that model alone."""

    # Its retry (a clear of the task) runs `dbt build --select <model>`: the model and its tests.
    base_cmd = ["build"]
    start_from_trigger = True

    def __init__(self, *args: Any, has_tests: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.has_tests = has_tests
        self.start_trigger_args = StartTriggerArgs(
            trigger_cls=MODEL_TRIGGER,
            trigger_kwargs=self._trigger_kwargs(),
            next_method="execute_complete",
            next_kwargs=None,
            timeout=None,
        )

    def _trigger_kwargs(self) -> dict[str, Any]:
        return {
            "model_unique_id": self.model_unique_id,
            "producer_task_id": self.producer_task_id,
            "has_tests": self.has_tests,
            "poke_interval": float(self.poke_interval),
        }

    def execute(self, context: Any, **kwargs: Any) -> None:
        """Where a worker starts the task (dag.test(), or a scheduler not starting it in the triggerer)."""
        from event_log_model_trigger import ModelBuiltTrigger

        ti = context["ti"]
        self.defer(
            trigger=ModelBuiltTrigger(
                **self._trigger_kwargs(), dag_id=ti.dag_id, run_id=ti.run_id, map_index=ti.map_index,
                try_number=ti.try_number,
            ),
            method_name="execute_complete",
        )  # fmt: skip

    def execute_complete(self, context: Any, event: dict[str, Any]) -> None:
        outcome, message = event.get("outcome"), event.get("message", "")
        if outcome == "success":
            self.log.info("%s", message)
            return
        if outcome == "rerun":
            hours = event.get("hours")
            self.log.info("%s Re-running dbt build --select %s over %s hours", message, self.model_unique_id,
                          len(hours) if hours is not None else "all")  # fmt: skip
            with_build_hours(self, hours)
            self._fallback_to_non_watcher_run(try_number=context["ti"].try_number, context=context)
            return
        raise AirflowException(message or f"model {self.model_unique_id}: no result ({event})")


def model_task(dag: Any, task_group: Any, node: Any, task_args: dict[str, Any], **_: Any) -> BaseOperator:
    """Cosmos node converter (RenderConfig.node_converters) for every dbt model: a ModelBuilt task."""
    # The model is selected by its unique id when it re-runs; a `select` here would add a second --select.
    args = {key: value for key, value in task_args.items() if key not in ("select", "models")}
    return ModelBuilt(
        # The model's name: the task reports the model and its tests (Cosmos would name it `<model>_run`).
        task_id=node.name,
        dag=dag,
        task_group=task_group,
        producer_task_id=f"{task_group.group_id}.build" if task_group else "build",
        extra_context={"dbt_node_config": node.context_dict, "package_name": node.package_name},
        has_tests=bool(node.has_test),
        # The group's default_args (owner, retries) apply unless the model names an owner of its own.
        **({"owner": node.owner} if node.owner else {}),
        **args,
    )
