"""The local stack's Airflow, driven through its REST API with the official client."""

from __future__ import annotations

import json
import time
import urllib.request
from datetime import datetime
from typing import Any

import airflow_client.client as airflow_client
from airflow_client.client.api.dag_api import DAGApi
from airflow_client.client.api.dag_run_api import DagRunApi
from airflow_client.client.api.event_log_api import EventLogApi
from airflow_client.client.api.task_instance_api import TaskInstanceApi
from airflow_client.client.models.dag_patch_body import DAGPatchBody
from airflow_client.client.models.trigger_dag_run_post_body import TriggerDAGRunPostBody

FINISHED = {"success", "failed"}


class AirflowApi:
    def __init__(self, base_url: str, username: str, password: str):
        self.base_url = base_url
        config = airflow_client.Configuration(host=base_url)
        config.access_token = self._token(username, password)
        self.client = airflow_client.ApiClient(config)
        self.dags = DAGApi(self.client)
        self.runs = DagRunApi(self.client)
        self.task_instances = TaskInstanceApi(self.client)
        self.event_logs = EventLogApi(self.client)

    def _token(self, username: str, password: str) -> str:
        request = urllib.request.Request(
            f"{self.base_url}/auth/token",
            data=json.dumps({"username": username, "password": password}).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.load(response)["access_token"]

    def wait_for_dag(self, dag_id: str, timeout: float = 180) -> None:
        """Wait until the dag-processor has parsed the DAG."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.dags.get_dag(dag_id)
                return
            except airflow_client.ApiException as error:
                if error.status != 404 or time.monotonic() > deadline:
                    raise
            time.sleep(2)

    def unpause(self, dag_id: str) -> None:
        self.dags.patch_dag(dag_id, DAGPatchBody(is_paused=False))

    def pause(self, dag_id: str) -> None:
        self.dags.patch_dag(dag_id, DAGPatchBody(is_paused=True))

    def trigger(self, dag_id: str, logical_date: datetime | None = None, **interval: datetime) -> str:
        body = TriggerDAGRunPostBody(logical_date=logical_date, **interval)
        return self.runs.trigger_dag_run(dag_id, body).dag_run_id

    def dag_runs(self, dag_id: str, **filters: Any) -> list[Any]:
        runs, offset = [], 0
        while True:
            page = self.runs.get_dag_runs(dag_id, limit=100, offset=offset, **filters)
            runs.extend(page.dag_runs)
            offset += len(page.dag_runs)
            if not page.dag_runs or offset >= page.total_entries:
                return runs

    def wait_for_runs(self, dag_id: str, run_ids: set[str] | None = None, timeout: float = 900, **filters: Any):
        """Wait until the runs (all matching runs when no ids) have finished; return them."""
        deadline = time.monotonic() + timeout
        while True:
            runs = [r for r in self.dag_runs(dag_id, **filters) if run_ids is None or r.dag_run_id in run_ids]
            if runs and all(str(r.state.value) in FINISHED for r in runs):
                return runs
            if time.monotonic() > deadline:
                states = {r.dag_run_id: (str(r.state.value), self.task_states(dag_id, r.dag_run_id)) for r in runs}
                raise TimeoutError(f"{dag_id} runs not finished after {timeout:.0f}s (run: state, tasks): {states}")
            time.sleep(3)

    def task_states(self, dag_id: str, run_id: str) -> dict[str, str]:
        """`task_id[map_index]` → `state (try n)` of every task instance of a run (what a timeout reports)."""
        instances = self.task_instances.get_task_instances(dag_id, run_id, limit=200).task_instances
        return {f"{ti.task_id}[{ti.map_index}]": f"{ti.state.value if ti.state else None} (try {ti.try_number})"
                for ti in instances}  # fmt: skip
