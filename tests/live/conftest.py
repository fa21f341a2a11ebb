"""A dedicated local stack per test module: `devstack.stack` in its own var directory (pytest's tmp),
run in a subprocess, so its state, logs, metadata DB and ports never touch the developer's stack in
var/ (the module reads DEVSTACK_VAR_DIR once, when imported).

The stack's components inherit the environment of the process that runs `up`: a test passes its
short deadline intervals and extra connections that way. `stop()` runs `down` and checks that no
process the stack started is left.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import boto3
import pytest

from devstack.ports import LOOPBACK
from devstack.stack import ADMIN_USER, LOCAL_AWS_ENV, REPO, _alive, _group_alive

# `python -m devstack.stack up` with a start date: the DAGs' EVENT_LOG_START_DATE.
UP = "import sys, datetime; from devstack import stack; stack.up(datetime.datetime.fromisoformat(sys.argv[1]))"


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "live: starts a whole local stack (Airflow's four components, S3, Snowflake) and drives it"
    )


@dataclass
class LiveStack:
    var_dir: Path
    env: dict[str, str]
    state: dict[str, Any] | None = None

    def _run(self, code_or_args: list[str], timeout: float) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, *code_or_args], env=self.env, cwd=REPO, capture_output=True, text=True, timeout=timeout
        )

    def start(self, start_date: datetime) -> None:
        result = self._run(["-c", UP, start_date.isoformat()], timeout=420)
        assert result.returncode == 0, f"stack up failed:\n{result.stdout}\n{result.stderr}"
        self.state = json.loads((self.var_dir / "stack" / "state.json").read_text())

    def stop(self) -> None:
        state_file = self.var_dir / "stack" / "state.json"
        if not state_file.exists():
            return
        state = json.loads(state_file.read_text())
        result = self._run(["-m", "devstack.stack", "down"], timeout=180)
        assert result.returncode == 0, f"stack down failed:\n{result.stdout}\n{result.stderr}"
        assert "Had to kill" not in result.stdout, result.stdout
        left = [name for name, pgid in state["pids"].items() if _group_alive(pgid)]
        assert not left, f"processes left after down: {left}"
        assert not _alive(state["supervisor_pid"]), "the stack supervisor is still alive after down"

    def log(self, component: str) -> str:
        return (self.var_dir / "logs" / f"{component}.log").read_text(errors="replace")

    def api(self):
        from devstack.airflow_api import AirflowApi

        return AirflowApi(f"http://{LOOPBACK}:{self.state['api_port']}", ADMIN_USER, self.state["admin_password"])

    def s3(self):
        return boto3.client(
            "s3", endpoint_url=f"http://{LOOPBACK}:{self.state['s3_port']}", region_name="us-east-1",
            aws_access_key_id=LOCAL_AWS_ENV["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=LOCAL_AWS_ENV["AWS_SECRET_ACCESS_KEY"],
        )  # fmt: skip

    def query(self, sql: str, params: dict | None = None) -> list[tuple]:
        import snowflake.connector

        with snowflake.connector.connect(
            user="local", password="local", account="local", host=LOOPBACK, port=self.state["snowflake_port"],
            protocol="http", database="EVENT_LOG", schema="RAW",
        ) as conn, conn.cursor() as cursor:  # fmt: skip
            cursor.execute(sql, params)
            return cursor.fetchall()


def stack_environment(var_dir: Path, extra: dict[str, str]) -> dict[str, str]:
    """This process's environment without what the other test packages set for their in-process
    Airflow (AIRFLOW_*, EVENT_LOG_*): the stack sets its own, plus `extra`."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "EVENT_LOG_", "_AIRFLOW"))}
    return {**base, "DEVSTACK_VAR_DIR": str(var_dir), "PYTHONPATH": str(REPO), **extra}


@pytest.fixture(scope="module")
def live_stack_factory(tmp_path_factory):
    """Start stacks with `factory(start_date, extra_env)`; every one is stopped (and checked) at the end."""
    stacks: list[LiveStack] = []

    def start(start_date: datetime, extra_env: dict[str, str]) -> LiveStack:
        var_dir = tmp_path_factory.mktemp("stack")
        live = LiveStack(var_dir, stack_environment(var_dir, extra_env))
        stacks.append(live)
        live.start(start_date)
        return live

    yield start
    for live in stacks:
        live.stop()


def wait_until(condition, timeout: float, interval: float = 2.0, what: str = "condition"):
    """Poll until `condition()` returns something truthy; return it, or fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        if value := condition():
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)
