"""The Airflow floor: DAGs that do no work, for `python -m bench.airflow_floor` (never in the product's dags/).

`floor_one_task`: one worker task per run, the least a run can cost. `floor_ingest_shape`: event_log_ingest's
tasks as the scheduler sees them in a backfill, each doing nothing: `hours_to_load`, the mapped group `load_hour`
(`wait_for_commit` starting and ending in the triggerer, `load_partition`, `check_hour` on workers), then `build`
and eight model tasks, each starting and ending in the triggerer (as a covered build and its model tasks do). What
a backfill of them costs is what Airflow itself costs for that shape on the stack, before any S3, warehouse or dbt.
"""

from __future__ import annotations

import os
from datetime import datetime
from typing import Any

from airflow.sdk import BaseOperator, CronDataIntervalTimetable, dag, task, task_group
from airflow.triggers.base import StartTriggerArgs

START = datetime.fromisoformat(os.environ["EVENT_LOG_START_DATE"])
MODELS = 8


class EndsInTriggerer(BaseOperator):
    """Started by the scheduler in the triggerer and ended there (bench.floor_triggers.EndsAtOnce): no worker."""

    start_from_trigger = True
    start_trigger_args = StartTriggerArgs(
        trigger_cls="bench.floor_triggers.EndsAtOnce",
        trigger_kwargs={},
        next_method="execute_complete",
        next_kwargs=None,
        timeout=None,
    )

    def execute(self, context: Any) -> None:  # never called: the trigger ends the task
        raise RuntimeError(f"{self.task_id} must start in the triggerer")

    def execute_complete(self, context: Any, event: Any = None) -> None:
        return None


def floor_dag(dag_id: str):
    return dag(
        dag_id=dag_id,
        schedule=CronDataIntervalTimetable("0 * * * *", timezone="UTC"),
        start_date=START,
        catchup=False,
        max_active_runs=24,
        tags=["bench"],
    )


@floor_dag("floor_one_task")
def floor_one_task():
    @task
    def nothing() -> None:
        return None

    nothing()


@floor_dag("floor_ingest_shape")
def floor_ingest_shape():
    @task
    def hours_to_load(data_interval_start=None) -> list[dict[str, str]]:
        return [{"hour_start": data_interval_start.isoformat()}]

    @task_group
    def load_hour(hour_start: str):
        wait_for_commit = EndsInTriggerer(task_id="wait_for_commit")

        @task
        def load_partition(hour_start: str, completion: Any) -> dict[str, str]:
            return {"hour_start": hour_start}

        @task
        def check_hour(load: dict[str, str]) -> dict[str, str]:
            return load

        check_hour(load_partition(hour_start, wait_for_commit.output))

    build = EndsInTriggerer(task_id="build")
    models = [EndsInTriggerer(task_id=f"model_{n}") for n in range(MODELS)]
    load_hour.expand_kwargs(hours_to_load()) >> build >> models


floor_one_task()
floor_ingest_shape()
