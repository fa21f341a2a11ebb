"""The local stack for integration tests: moto's S3 and the local Snowflake on free loopback ports,
Airflow connections pointing at them, a migrated throw-away metadata DB, and the Snowflake objects.

DAGs run with `dag.test()` in this process, each test under a hard pytest-timeout: an inline trigger
ignores the sensor's own timeout and would wait forever on a missing `_SUCCESS`.
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest

from devstack.localsnow import client as localsnow_client
from devstack.localsnow.process import start_server, stop_server
from devstack.ports import free_port
from devstack.stack import BUCKET, PREFIX, REPO, connection_env

# The DAG module reads its configuration when imported: set it before any test imports a DAG.
os.environ.update(
    {
        "EVENT_LOG_BUCKET": BUCKET,
        "EVENT_LOG_PREFIX": PREFIX,
        "EVENT_LOG_START_DATE": "2025-08-01T00:00:00Z",
        "EVENT_LOG_POKE_INTERVAL_SECONDS": "1",
        "EVENT_LOG_TASK_RETRIES": "0",
    }
)
FIRST_HOUR = datetime(2025, 8, 1, 0, tzinfo=UTC)


def hour(n: int) -> datetime:
    return FIRST_HOUR + timedelta(hours=n)


def load_dag(dag_id: str):
    """The DAG as the dag-processor sees it: parsed from its file by a DagBag."""
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(REPO / "dags" / f"{dag_id}.py"))
    assert not bag.import_errors, bag.import_errors
    dag = bag.dags[dag_id]
    # Airflow 3.3.2's dag.test() crashes on a DAG with `deadline=`: run these DAGs without their
    # deadline alerts here; the alerts are tested on the live stack (tests/live/test_deadlines.py).
    dag.deadline = None
    _run_dbt_producer_first(dag)
    return dag


def _run_dbt_producer_first(dag) -> None:
    """dag.test() runs one task at a time: a model task (waiting in a trigger for the build task to report its
    model) picked before the build would wait inline for ever. Here the build runs first, so each model task
    finds its result at once. The scheduler runs them side by side (the live stack, `make run`, the benchmark)."""
    from include.event_log.model.dbt_project import BUILD_TASK_ID

    for build in [t for t in dag.tasks if t.task_id.split(".")[-1] == BUILD_TASK_ID]:
        prefix = build.task_group.group_id + "."
        members = {t.task_id for t in dag.tasks if t.task_id.startswith(prefix)}
        for task in dag.tasks:
            if task.task_id in members and task is not build and not task.upstream_task_ids & members:
                build >> task


class LocalServers:
    """The test session's local S3 and local Snowflake (a server process this fixture owns), without Airflow's
    components: DAGs run in this process with `dag.test()`. A whole stack is `devstack.isolated.IsolatedStack`."""

    def __init__(self, s3_endpoint_url: str, data_dir, log):
        self.s3_endpoint_url = s3_endpoint_url
        self.s3_port = int(s3_endpoint_url.rsplit(":", 1)[1])
        self.snowflake_port = free_port()
        self.data_dir, self.log = data_dir, log
        self.server = start_server(data_dir, s3_endpoint_url, self.snowflake_port, log_file=log)

    def crash_and_restart_snowflake(self) -> None:
        """SIGKILL the local Snowflake (what a lost warehouse looks like to open sessions) and start it
        again on the same port and data: committed data survives, open transactions do not."""
        self.server.kill()
        self.server.wait()
        self.server = start_server(self.data_dir, self.s3_endpoint_url, self.snowflake_port, log_file=self.log)

    def stop(self) -> None:
        stop_server(self.server)


@pytest.fixture(scope="session")
def local_stack(s3_endpoint_url, s3_client, tmp_path_factory):
    """Local S3 + local Snowflake; Airflow connections to both as AIRFLOW_CONN_* variables."""
    log = (tmp_path_factory.getbasetemp() / "localsnow.log").open("ab")
    stack = LocalServers(s3_endpoint_url, tmp_path_factory.mktemp("localsnow"), log)
    os.environ.update(connection_env(stack))
    s3_client.create_bucket(Bucket=BUCKET)
    subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], check=True, capture_output=True)
    yield stack
    stack.stop()
    log.close()


@pytest.fixture(scope="session")
def snowflake_objects(local_stack):
    """The Snowflake objects, created by running the snowflake_objects DAG once."""
    run = load_dag("snowflake_objects").test()
    assert run.state == "success"
    return run


@pytest.fixture
def warehouse(local_stack):
    conn = localsnow_client.connect(local_stack.snowflake_port)
    yield conn
    conn.close()


def query(conn, sql: str, params=None) -> list[tuple]:
    with conn.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()
