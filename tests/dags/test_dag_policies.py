"""Policy tests over one DagBag of every DAG file: what a reviewer checks first."""

from __future__ import annotations

import ast
import socket
from pathlib import Path

import pytest

from include.event_log.config import Tag

DAGS_DIR = Path(__file__).resolve().parents[2] / "dags"
DAG_FILES = sorted(DAGS_DIR.glob("*.py"))


@pytest.fixture(scope="session")
def dag_bag():
    """The DAGs as a deployment parses them: with the package's defaults, not a test's EVENT_LOG_* settings (the
    integration tests' conftest sets some for the whole session when it is collected)."""
    import os

    from airflow.dag_processing.dagbag import DagBag

    with pytest.MonkeyPatch.context() as patch:
        for name in [name for name in os.environ if name.startswith("EVENT_LOG_")]:
            patch.delenv(name)
        return DagBag(dag_folder=str(DAGS_DIR))


def test_no_import_errors(dag_bag):
    assert dag_bag.import_errors == {}


def test_every_dag_file_defines_the_dag_named_after_it(dag_bag):
    assert {path.stem for path in DAG_FILES} == set(dag_bag.dag_ids)
    for dag_id, dag in dag_bag.dags.items():
        assert Path(dag.fileloc).stem == dag_id


@pytest.mark.parametrize("dag_id", [path.stem for path in DAG_FILES])
def test_dag_policy(dag_bag, dag_id):
    dag = dag_bag.dags[dag_id]
    assert dag.doc_md and "###" in dag.doc_md, "the module docstring is the runbook (doc_md=__doc__)"
    assert dag.tags and set(dag.tags) <= {tag.value for tag in Tag}, "tags come from include.event_log.config.Tag"
    for task in dag.tasks:
        assert task.owner == "data-platform", task.task_id
        assert task.retries >= 1, f"{task.task_id} must retry"


def test_hourly_dag_has_a_real_data_interval(dag_bag):
    from airflow.sdk import CronDataIntervalTimetable

    dag = dag_bag.dags["event_log_ingest"]
    assert isinstance(dag.timetable, CronDataIntervalTimetable)
    assert dag.catchup is True


@pytest.mark.parametrize("path", DAG_FILES, ids=lambda p: p.name)
def test_dag_files_use_airflow_3_imports_only(path):
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            assert not node.module.startswith("airflow.decorators"), "import dag/task from airflow.sdk"
            assert node.module != "airflow.models.dag", "import DAG from airflow.sdk"
            assert not node.module.startswith("dags"), "a DAG file never imports another DAG file"
        if isinstance(node, ast.keyword):
            assert node.arg not in {"schedule_interval", "dag"}, f"{path.name}: Airflow 2 argument {node.arg}"


def test_parsing_makes_no_network_call(monkeypatch):
    """Parsing every DAG file (fresh) must not open a socket: no hook, Variable or listing at parse time."""
    from airflow.dag_processing.dagbag import DagBag

    def refuse(*args, **kwargs):
        raise AssertionError(f"network call at parse time: {args}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    bag = DagBag(dag_folder=str(DAGS_DIR))
    assert bag.import_errors == {}
