"""The local stack: local S3 (moto), local Snowflake (fakesnow + devstack.localsnow) and Airflow's
api-server, scheduler, dag-processor and triggerer, each a separate supervised process on loopback.

    python -m devstack.stack up       start everything (idempotent), print the URLs
    python -m devstack.stack down     stop every process the stack started, and check none is left
    python -m devstack.stack status   what runs, on which port
    python -m devstack.stack env      the environment for Airflow CLI commands against the stack

`up` spawns one supervisor process (detached), which starts each component in its own process
group, restarts one that dies (a few times, with back-off), and on SIGTERM stops them all by the
process-group ids it started. State (ports, pids, the generated admin password) lives in
var/stack/state.json; logs in var/logs/.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from devstack.ports import LOOPBACK, free_port, wait_for_port
from include.event_log.config import DBT_POOL, DBT_POOL_DESCRIPTION

REPO = Path(__file__).resolve().parent.parent
VAR = Path(os.environ.get("DEVSTACK_VAR_DIR", REPO / "var")).resolve()
STATE_FILE = VAR / "stack" / "state.json"
LOG_DIR = VAR / "logs"
AIRFLOW_HOME = VAR / "airflow"
SNOWFLAKE_DATA = VAR / "localsnow"
BIN = Path(sys.executable).parent

BUCKET = "flink-event-log"
PREFIX = "event_log"
ADMIN_USER = "admin"
# Local-only credentials of the local S3 and Snowflake emulators; never used against real services.
LOCAL_AWS_ENV = {"AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local", "AWS_DEFAULT_REGION": "us-east-1"}
# What the landed data looks like; taken from the environment `up` runs in (RUN_LAYOUT for `make run`).
LAYOUT_SETTINGS = ("EVENT_LOG_LAYOUT", "EVENT_LOG_COMPLETION", "EVENT_LOG_QUIET_PERIOD_SECONDS")
COMPONENTS = ("s3", "snowflake", "dag-processor", "scheduler", "triggerer", "api-server")
MAX_RESTARTS = 5
SUPERVISE_ARGS = ["-m", "devstack.stack", "supervise"]


@dataclass
class StackState:
    s3_port: int
    snowflake_port: int
    api_port: int
    admin_password: str
    jwt_secret: str
    start_date: str
    supervisor_pid: int | None = None
    pids: dict[str, int] = field(default_factory=dict)

    @property
    def s3_endpoint_url(self) -> str:
        return f"http://{LOOPBACK}:{self.s3_port}"

    @property
    def api_url(self) -> str:
        return f"http://{LOOPBACK}:{self.api_port}"

    def save(self) -> None:
        # It holds the admin password and the JWT secret: owner-only, written whole (replace) or not at all.
        tmp = STATE_FILE.with_suffix(".tmp")
        write_private(tmp, json.dumps(asdict(self), indent=2))
        tmp.replace(STATE_FILE)

    @classmethod
    def load(cls) -> StackState | None:
        if not STATE_FILE.exists():
            return None
        return cls(**json.loads(STATE_FILE.read_text()))


def write_private(path: Path, text: str) -> None:
    """Write a secret readable by its owner only: the file 0600 from its creation, its folder 0700."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.parent.chmod(0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as file:
        os.fchmod(fd, 0o600)  # a file that existed keeps its mode through O_CREAT
        file.write(text)


def connection_env(state: Any) -> dict[str, str]:
    """Airflow connections to the local S3 and Snowflake, as AIRFLOW_CONN_* variables."""
    aws = {
        "conn_type": "aws",
        "login": LOCAL_AWS_ENV["AWS_ACCESS_KEY_ID"],
        "password": LOCAL_AWS_ENV["AWS_SECRET_ACCESS_KEY"],
        "extra": {"endpoint_url": f"http://{LOOPBACK}:{state.s3_port}", "region_name": "us-east-1"},
    }
    snowflake = {
        "conn_type": "snowflake",
        "login": "local",
        "password": "local",
        "schema": "RAW",
        "extra": {
            "account": "local",
            "database": "EVENT_LOG",
            "warehouse": "LOCAL_WH",
            "role": "EVENT_LOG_LOADER",
            "host": LOOPBACK,
            "port": state.snowflake_port,
            "protocol": "http",
        },
    }
    return {
        "AIRFLOW_CONN_AWS_EVENT_LOG": json.dumps(aws),
        "AIRFLOW_CONN_SNOWFLAKE_EVENT_LOG": json.dumps(snowflake),
    }


def airflow_env(state: StackState) -> dict[str, str]:
    """The environment every Airflow component and CLI command of the stack runs with."""
    env = {
        **LOCAL_AWS_ENV,
        **connection_env(state),
        "PYTHONPATH": str(REPO),
        "AIRFLOW_HOME": str(AIRFLOW_HOME),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        # Sized for a 2-core machine: the work runs in the warehouse, tasks mostly wait on it.
        "AIRFLOW__CORE__PARALLELISM": "4",
        "AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG": "4",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{AIRFLOW_HOME / 'airflow.db'}",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{state.api_url}/execution/",
        "AIRFLOW__API__BASE_URL": state.api_url,
        "AIRFLOW__API__HOST": LOOPBACK,
        "AIRFLOW__API__PORT": str(state.api_port),
        "AIRFLOW__API__WORKERS": "1",
        "AIRFLOW__API_AUTH__JWT_SECRET": state.jwt_secret,
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{ADMIN_USER}:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(AIRFLOW_HOME / "passwords.json"),
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "10",
        "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "2",
        # The scheduler examines this many running runs per loop (default 20): a backfill of more hours
        # at once would not start its later runs until earlier ones finish.
        "AIRFLOW__SCHEDULER__MAX_DAGRUNS_PER_LOOP_TO_SCHEDULE": "64",
        "AIRFLOW__TRIGGERER__CAPACITY": "200",
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(AIRFLOW_HOME / "logs"),
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
        # Nothing leaves the machine: no usage metrics from Cosmos.
        "AIRFLOW__COSMOS__ENABLE_TELEMETRY": "False",
        "EVENT_LOG_BUCKET": BUCKET,
        "EVENT_LOG_PREFIX": PREFIX,
        # The hour layout the landed data has (include/event_log/hour_layout.py): the lander's by default.
        **{name: os.environ[name] for name in LAYOUT_SETTINGS if name in os.environ},
        "EVENT_LOG_START_DATE": state.start_date,
        "EVENT_LOG_POKE_INTERVAL_SECONDS": "5",
        "EVENT_LOG_RETRY_DELAY_SECONDS": "5",
    }
    return env


def component_command(name: str, state: StackState) -> list[str]:
    python = str(BIN / "python")
    airflow = str(BIN / "airflow")
    return {
        "s3": [python, "-m", "moto.server", "-H", LOOPBACK, "-p", str(state.s3_port)],
        "snowflake": [
            python, "-m", "devstack.localsnow", "--host", LOOPBACK, "--port", str(state.snowflake_port),
            "--data-dir", str(SNOWFLAKE_DATA), "--s3-endpoint-url", state.s3_endpoint_url,
        ],
        "dag-processor": [airflow, "dag-processor"],
        # The log servers would bind every interface; the api-server reads the same log folder instead.
        "scheduler": [airflow, "scheduler", "--skip-serve-logs"],
        "triggerer": [airflow, "triggerer", "--skip-serve-logs"],
        "api-server": [airflow, "api-server", "--host", LOOPBACK, "--port", str(state.api_port), "--workers", "1"],
    }[name]  # fmt: skip


def _alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie still answers kill(0); look at its state.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


def _members(leader: int) -> list[int]:
    """Live (non-zombie) processes of the session we started with `leader` (start_new_session: its pid is both
    the session and the process group id). Airflow's task processes move to process groups of their own, so a
    group kill misses them; they stay in the session."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        # After the command name: state, ppid, pgrp, session.
        if fields[0] != "Z" and leader in (int(fields[2]), int(fields[3])):
            members.append(int(stat.parent.name))
    return members


def _group_alive(pgid: int) -> bool:
    """Whether any live process of the group, or of the session it leads, is left."""
    return bool(_members(pgid))


def _signal_members(leader: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(leader, sig)
    for pid in _members(leader):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


def stop_group(pgid: int, name: str, grace: float = 20.0, leader: subprocess.Popen | None = None) -> None:
    """SIGTERM the process group and session we started (their id is the leader's pid), SIGKILL what is left
    after a grace: the component and every process it started, task processes in groups of their own included."""
    if not _group_alive(pgid):
        return
    _signal_members(pgid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if leader is not None:
            leader.poll()  # reap the leader, or it lingers as a zombie of the group
        if not _group_alive(pgid):
            return
        time.sleep(0.2)
    print(f"{name} (process group {pgid}) ignored SIGTERM for {grace:.0f}s: SIGKILL", file=sys.stderr)
    _signal_members(pgid, signal.SIGKILL)


class Supervisor:
    """Runs in its own detached process: starts the components, restarts the ones that die."""

    def __init__(self, state: StackState):
        self.state = state
        self.env = {**os.environ, **airflow_env(state)}
        self.procs: dict[str, subprocess.Popen] = {}
        self.restarts: dict[str, int] = dict.fromkeys(COMPONENTS, 0)
        self.stopping = False

    def start(self, name: str) -> None:
        log = open(LOG_DIR / f"{name}.log", "ab")  # noqa: SIM115 - the child owns it
        proc = subprocess.Popen(
            component_command(name, self.state), cwd=REPO, env=self.env, stdout=log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        self.procs[name] = proc
        self.state.pids[name] = proc.pid
        self.state.save()

    def stop_all(self) -> None:
        self.stopping = True
        for name in reversed(COMPONENTS):
            if proc := self.procs.get(name):
                stop_group(proc.pid, name, leader=proc)
                proc.wait()
        self.state.pids = {}
        self.state.supervisor_pid = None
        self.state.save()

    def run(self) -> None:
        signal.signal(signal.SIGTERM, lambda *_: self.stop_all() or sys.exit(0))
        signal.signal(signal.SIGINT, lambda *_: self.stop_all() or sys.exit(0))
        self.state.supervisor_pid = os.getpid()
        self.state.save()
        for name in COMPONENTS:
            self.start(name)
            if name == "s3":
                wait_for_port(self.state.s3_port)
        while not self.stopping:
            time.sleep(1)
            for name, proc in list(self.procs.items()):
                if proc.poll() is None or self.stopping:
                    continue
                self.restarts[name] += 1
                if self.restarts[name] > MAX_RESTARTS:
                    print(f"{name} exited {proc.returncode} too often; leaving it down", flush=True)
                    del self.procs[name]
                    continue
                print(f"{name} exited with {proc.returncode}; restart {self.restarts[name]}", flush=True)
                time.sleep(min(2 ** self.restarts[name], 30))
                self.start(name)


def _run_airflow_cli(args: list[str], state: StackState, check: bool = True) -> subprocess.CompletedProcess:
    env = {**os.environ, **airflow_env(state)}
    return subprocess.run([str(BIN / "airflow"), *args], env=env, cwd=REPO, check=check, capture_output=True, text=True)


def running_state() -> StackState | None:
    state = StackState.load()
    if state and _alive(state.supervisor_pid):
        return state
    return None


def up(start_date: datetime | None = None) -> StackState:
    """Start the stack unless it runs already; return its state once every component answers."""
    if state := running_state():
        return state
    for directory in (LOG_DIR, AIRFLOW_HOME, SNOWFLAKE_DATA, STATE_FILE.parent):
        directory.mkdir(parents=True, exist_ok=True)
    previous = StackState.load()
    start = start_date or datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    state = StackState(
        s3_port=free_port(),
        snowflake_port=free_port(),
        api_port=free_port(),
        admin_password=previous.admin_password if previous else secrets.token_urlsafe(12),
        jwt_secret=secrets.token_urlsafe(32),
        start_date=start.isoformat(),
    )
    write_private(AIRFLOW_HOME / "passwords.json", json.dumps({ADMIN_USER: state.admin_password}))
    state.save()
    _run_airflow_cli(["db", "migrate"], state)
    # Every task that runs dbt takes this pool's one slot (include/event_log/config.py).
    _run_airflow_cli(["pools", "set", DBT_POOL, "1", DBT_POOL_DESCRIPTION], state)
    log = open(LOG_DIR / "supervisor.log", "ab")  # noqa: SIM115 - the supervisor owns it
    supervisor = subprocess.Popen(
        [str(BIN / "python"), *SUPERVISE_ARGS], cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL, start_new_session=True, env={**os.environ, **LOCAL_AWS_ENV, "PYTHONPATH": str(REPO)},
    )  # fmt: skip
    for port in (state.s3_port, state.snowflake_port, state.api_port):
        deadline = time.monotonic() + 180
        while True:
            if supervisor.poll() is not None:
                raise RuntimeError(f"the stack supervisor exited ({supervisor.returncode}): see {LOG_DIR}")
            try:
                wait_for_port(port, timeout=1)
                break
            except TimeoutError:
                if time.monotonic() > deadline:
                    down()
                    raise
    _wait_for_api(state)
    return StackState.load()


def _wait_for_api(state: StackState, timeout: float = 120) -> None:
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{state.api_url}/api/v2/monitor/health", timeout=5) as response:
                health = json.load(response)
            if health["metadatabase"]["status"] == "healthy":
                return
        except OSError:
            pass
        time.sleep(1)
    raise TimeoutError(f"the Airflow API at {state.api_url} did not become healthy in {timeout:.0f}s")


def down() -> list[str]:
    """Stop the supervisor (which stops its components); kill any recorded group still alive."""
    state = StackState.load()
    if not state:
        return []
    if state.supervisor_pid and _alive(state.supervisor_pid):
        os.kill(state.supervisor_pid, signal.SIGTERM)
        deadline = time.monotonic() + 90
        while _alive(state.supervisor_pid) and time.monotonic() < deadline:
            time.sleep(0.3)
    leftovers = []
    for name, pgid in (StackState.load() or state).pids.items():
        if _group_alive(pgid):
            leftovers.append(name)
            stop_group(pgid, name, grace=5)
    if state.supervisor_pid and _alive(state.supervisor_pid):
        os.kill(state.supervisor_pid, signal.SIGKILL)
    state = StackState.load() or state
    state.pids, state.supervisor_pid = {}, None
    state.save()
    return leftovers


def main(argv: list[str]) -> int:
    command = argv[0] if argv else "status"
    if command == "supervise":
        Supervisor(StackState.load()).run()
        return 0
    if command == "up":
        state = up()
        print(f"Local stack up. Airflow UI: {state.api_url}  login: {ADMIN_USER} / {state.admin_password}")
        print(f"S3: {state.s3_endpoint_url}  Snowflake: http://{LOOPBACK}:{state.snowflake_port}")
        return 0
    if command == "down":
        leftovers = down()
        print("Local stack stopped." + (f" Had to kill: {leftovers}" if leftovers else ""))
        return 0
    if command == "env":
        state = StackState.load()
        for key, value in airflow_env(state).items():
            print(f"export {key}='{value}'")
        return 0
    state = running_state()
    if not state:
        print("Local stack is not running.")
        return 0
    for name, pid in state.pids.items():
        print(f"{name:14} pid {pid:7}  {'up' if _alive(pid) else 'DOWN'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
