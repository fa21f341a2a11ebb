"""The one handle on a local stack: `devstack.stack` in a var directory, driven from outside. `make run`
(devstack/run.py, on var/), the benchmark and the live tests use it.

The stack runs in subprocesses with DEVSTACK_VAR_DIR pointing at that directory (`devstack.stack` reads it
once, when imported), so its state, logs, metadata DB, Snowflake data and ports never touch another stack's.
Its components inherit the environment of the `up` process, plus DEVSTACK_MODE (the stack's `mode`:
embedded or production) and `extra_env`:

- an owned stack (the benchmark, the tests): this process's environment cleaned of AIRFLOW_* and EVENT_LOG_*
  (nothing from the caller's shell or an in-process Airflow leaks in); it stops by itself when this process
  ends without `stop()`;
- an unowned one (`make run`): the caller's environment as it is (the user's EVENT_LOG_* settings); it keeps
  running after this process, for the UI, until `make stop`.

`stop()` runs `down` (in production mode that also drops the stack's PostgreSQL database).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from devstack.localsnow import client as localsnow_client
from devstack.ports import LOOPBACK
from devstack.stack import (
    ADMIN_USER,
    BUCKET,
    EMBEDDED,
    LOCAL_AWS_ENV,
    MODE_VARIABLE,
    OWNER_VARIABLE,
    PREFIX,
    REPO,
    kill_session,
    run_airflow,
)

EXPORT_LINE = re.compile(r"^export (\w+)='(.*)'$")


class StackStartError(RuntimeError):
    """`up` failed; `missing_service` when production mode lacks a machine service (the message says how to get it)."""

    def __init__(self, message: str, missing_service: bool):
        super().__init__(message)
        self.missing_service = missing_service


@dataclass
class IsolatedStack:
    var_dir: Path
    extra_env: dict[str, str] = field(default_factory=dict)
    state: dict[str, Any] | None = None
    # `embedded` (SQLite, LocalExecutor) or `production` (PostgreSQL, Celery, two workers): devstack.stack.
    mode: str = EMBEDDED
    # Owned: cleaned environment, stops with this process. Unowned (`make run`): the caller's environment, outlives it.
    owned: bool = True

    @property
    def env(self) -> dict[str, str]:
        if self.owned:
            base = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "EVENT_LOG_", "_AIRFLOW"))}
            # The stack stops by itself (and drops its database) if this process dies without `stop()`.
            base[OWNER_VARIABLE] = str(os.getpid())
        else:
            base = {k: v for k, v in os.environ.items() if k != OWNER_VARIABLE}
        return {
            **base, "DEVSTACK_VAR_DIR": str(self.var_dir), "PYTHONPATH": str(REPO), MODE_VARIABLE: self.mode,
            **self.extra_env,
        }  # fmt: skip

    def _run(self, args: list[str], timeout: float) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, *args], env=self.env, cwd=REPO, capture_output=True, text=True, timeout=timeout
        )

    def start(self, start_date: datetime | None = None) -> str:
        """`up` (the running stack if there is one): its start date is the DAGs' EVENT_LOG_START_DATE, else this
        hour. Returns what `up` printed; raises StackStartError if it failed."""
        args = ["-m", "devstack.stack", "up", self.mode]
        if start_date:
            args += ["--start-date", start_date.isoformat()]
        result = self._run(args, timeout=420)
        if result.returncode != 0:
            if result.returncode == 2:  # a machine service production mode needs: the message says how to get it
                raise StackStartError(result.stderr.strip(), missing_service=True)
            raise StackStartError(f"stack up failed:\n{result.stdout}\n{result.stderr}", missing_service=False)
        self.refresh_state()
        return result.stdout.strip()

    def refresh_state(self) -> None:
        self.state = json.loads((self.var_dir / "stack" / "state.json").read_text())

    def stop(self) -> str:
        """`down`; what it printed. Raises if it failed."""
        if not (self.var_dir / "stack" / "state.json").exists():
            return "no stack"
        result = self._run(["-m", "devstack.stack", "down"], timeout=240)
        if result.returncode != 0:
            raise RuntimeError(f"stack down failed:\n{result.stdout}\n{result.stderr}")
        return (result.stdout + result.stderr).strip()

    def kill(self, component: str) -> int:
        """SIGKILL the component's process group and every process of its session (task processes the Task SDK
        moved to groups of their own included): the machine it ran on is gone. Returns its pid (= group id)."""
        self.refresh_state()
        pid = self.state["pids"][component]
        kill_session(pid)
        return pid

    def hold(self, component: str) -> None:
        """Leave the component down when it next dies, until `release` (devstack.stack's held components)."""
        self._run(["-m", "devstack.stack", "hold", component], timeout=60).check_returncode()

    def release(self, component: str) -> None:
        self._run(["-m", "devstack.stack", "release", component], timeout=60).check_returncode()

    def log(self, component: str) -> str:
        return (self.log_dir / f"{component}.log").read_text(errors="replace")

    @property
    def s3_endpoint_url(self) -> str:
        return f"http://{LOOPBACK}:{self.state['s3_port']}"

    @property
    def api_url(self) -> str:
        return f"http://{LOOPBACK}:{self.state['api_port']}"

    @property
    def admin_password(self) -> str:
        return self.state["admin_password"]

    @property
    def log_dir(self) -> Path:
        return self.var_dir / "logs"

    def airflow_env(self) -> dict[str, str]:
        """The environment the stack's Airflow components run with (`python -m devstack.stack env`)."""
        result = self._run(["-m", "devstack.stack", "env"], timeout=60)
        result.check_returncode()
        exported = dict(m.groups() for line in result.stdout.splitlines() if (m := EXPORT_LINE.match(line)))
        return {**self.env, **exported}

    def api(self):
        from devstack.airflow_api import AirflowApi

        return AirflowApi(self.api_url, ADMIN_USER, self.admin_password)

    def s3(self):
        import boto3

        return boto3.client(
            "s3", endpoint_url=self.s3_endpoint_url, region_name="us-east-1",
            aws_access_key_id=LOCAL_AWS_ENV["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=LOCAL_AWS_ENV["AWS_SECRET_ACCESS_KEY"],
        )  # fmt: skip

    def snowflake(self):
        return localsnow_client.connect(self.state["snowflake_port"])

    def query(self, sql: str, params: dict | None = None) -> list[tuple]:
        with self.snowflake() as conn, conn.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchall()

    def component_rss_bytes(self, component: str) -> int:
        """Resident memory of every live process in the component's process group (its pid is the pgid)."""
        return process_group_rss(self.state["pids"][component])

    def airflow_cli(self, args: list[str], timeout: float = 300) -> subprocess.CompletedProcess:
        """`airflow <args>` against this stack (`devstack.stack.run_airflow`: retried while SQLite is locked)."""
        return run_airflow(args, self.airflow_env(), self.mode, timeout=timeout)


def process_group_rss(pgid: int) -> int:
    """Sum of VmRSS over the live processes of a process group, read from /proc."""
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[2]) != pgid or fields[0] == "Z":
                continue
            status = (stat.parent / "status").read_text()
        except (OSError, ValueError):
            continue
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1]) * 1024
    return total


def wait_until(condition, timeout: float, interval: float = 2.0, what: str = "condition"):
    """Poll until `condition()` returns something truthy; return it, or raise TimeoutError."""
    deadline = time.monotonic() + timeout
    while True:
        if value := condition():
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


__all__ = ["BUCKET", "PREFIX", "IsolatedStack", "StackStartError", "process_group_rss", "wait_until"]
