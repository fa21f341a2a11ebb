"""A dedicated local stack per test module: `devstack.stack` in its own var directory (pytest's tmp),
run in a subprocess, so its state, logs, metadata DB and ports never touch the developer's stack in
var/ (the module reads DEVSTACK_VAR_DIR once, when imported).

The stack's components inherit the environment of the process that runs `up`: a test passes its
short deadline intervals and extra connections that way. `stop()` runs `down` and checks that no
process the stack started is left, and in production mode that its database and broker are gone.

The stacks run in production mode (PostgreSQL, the Celery executor, two workers: devstack/stack.py) unless
a test asks for another mode, or DEVSTACK_LIVE_MODE=embedded runs them all on SQLite and the LocalExecutor.
"""

from __future__ import annotations

import json
import os
from datetime import datetime

import pytest

from devstack import machine_services
from devstack.isolated import IsolatedStack
from devstack.stack import PRODUCTION, group_alive, process_alive

LIVE_MODE = os.environ.get("DEVSTACK_LIVE_MODE", PRODUCTION)


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "live: starts a whole local stack (Airflow's four components, S3, Snowflake) and drives it"
    )


class LiveStack(IsolatedStack):
    def stop(self) -> None:
        """`down`, then check that no process the stack started is left."""
        state_file = self.var_dir / "stack" / "state.json"
        if not state_file.exists():
            return
        state = json.loads(state_file.read_text())
        output = super().stop()
        assert "Had to kill" not in output, output
        left = [name for name, pgid in state["pids"].items() if group_alive(pgid)]
        assert not left, f"processes left after down: {left}"
        assert not process_alive(state["supervisor_pid"]), "the stack supervisor is still alive after down"
        if state.get("mode") == PRODUCTION:
            assert not machine_services.database_exists(state["database"]), f"{state['database']} left after down"
            # The broker process is one of the components checked above; it kept nothing on disk.
            assert not (self.var_dir / "broker").exists(), "the broker's directory is left after down"


@pytest.fixture(scope="module")
def live_stack_factory(tmp_path_factory):
    """Start stacks with `factory(start_date, extra_env, mode)`; every one is stopped (and checked) at the end."""
    stacks: list[LiveStack] = []

    def start(start_date: datetime, extra_env: dict[str, str], mode: str = LIVE_MODE) -> LiveStack:
        var_dir = tmp_path_factory.mktemp("stack")
        live = LiveStack(var_dir, extra_env=extra_env, mode=mode)
        stacks.append(live)
        live.start(start_date)
        return live

    yield start
    for live in stacks:
        live.stop()
