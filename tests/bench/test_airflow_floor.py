"""bench/airflow_floor.py: its DAGs have the ingest's shape as the scheduler sees it, and the stack runs them."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from airflow.dag_processing.dagbag import DagBag

from bench.airflow_floor import FLOOR_DAGS
from devstack import stack

INGEST = "event_log_ingest"


@pytest.fixture(scope="module")
def bags():
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("EVENT_LOG_START_DATE", datetime(2026, 1, 1, tzinfo=UTC).isoformat())
        floor = DagBag(dag_folder=str(FLOOR_DAGS))
        product = DagBag(dag_folder=str(stack.REPO / "dags" / f"{INGEST}.py"))
    assert not floor.import_errors and not product.import_errors, (floor.import_errors, product.import_errors)
    return floor, product


def shape(dag) -> dict[str, tuple[bool, tuple[str, ...]]]:
    """Per task: whether it starts in the triggerer, and its downstream tasks."""
    return {
        t.task_id: (bool(getattr(t, "start_from_trigger", False)), tuple(sorted(t.downstream_task_ids)))
        for t in dag.tasks
    }


def test_the_ingest_shape_has_the_ingests_tasks_where_they_start(bags):
    floor, product = bags
    floor_shape = shape(floor.dags["floor_ingest_shape"])
    ingest = shape(product.dags[INGEST])
    assert len(floor_shape) == len(ingest) == 13
    in_triggerer = sorted(task for task, (trigger, _) in floor_shape.items() if trigger)
    assert len(in_triggerer) == sum(trigger for trigger, _ in ingest.values()) == 10
    # The load group's three tasks and their order, and the task that maps it.
    for task in ("hours_to_load", "load_hour.wait_for_commit", "load_hour.load_partition", "load_hour.check_hour"):
        assert floor_shape[task][0] == ingest[task][0], task
    assert len(shape(floor.dags["floor_one_task"])) == 1


def test_a_stack_reads_another_dags_folder_only_when_asked(monkeypatch):
    state = stack.StackState(1, 2, 3, admin_password="pw", jwt_secret="jwt", start_date="2025-08-01")
    monkeypatch.delenv(stack.DAGS_FOLDER_VARIABLE, raising=False)
    assert stack.airflow_env(state)["AIRFLOW__CORE__DAGS_FOLDER"] == str(stack.REPO / "dags")
    monkeypatch.setenv(stack.DAGS_FOLDER_VARIABLE, str(FLOOR_DAGS))
    assert stack.airflow_env(state)["AIRFLOW__CORE__DAGS_FOLDER"] == str(FLOOR_DAGS)
