"""The local stack: local S3 (moto), local Snowflake (fakesnow + devstack.localsnow) and Airflow's
api-server, scheduler, dag-processor and triggerer, each a separate supervised process on loopback.

Two modes (DEVSTACK_MODE, read by `up`; a running stack keeps the mode it was started in):

- `embedded` (default): Airflow on SQLite with the LocalExecutor; needs nothing but Python;
- `production`: Airflow as deployed: its metadata database on the machine's PostgreSQL server (a database of
  the stack's own, created by `up` and dropped by `down`), the CeleryExecutor with a Redis broker of the
  stack's own (a supervised `redis-server` on a free loopback port that keeps nothing on disk, so no other
  stack can take this one's tasks) and two Celery workers, `worker-1` and `worker-2`, as separate supervised
  processes; a task instance's `hostname` names the worker that ran it.

    python -m devstack.stack up [embedded|production] [--start-date ISO]
                                      start everything (idempotent), print the URLs; exit 2 names a
                                      machine service production mode needs and does not find
    python -m devstack.stack down     stop every process the stack started, and check none is left
                                      (production: and drop the stack's database)
    python -m devstack.stack status   what runs, on which port
    python -m devstack.stack env      the environment for Airflow CLI commands against the stack
    python -m devstack.stack hold|release COMPONENT   leave a component down when it dies / restart it again

`up` spawns one supervisor process (detached), which starts each component in its own process
group, restarts one that dies (a few times, with back-off), and on SIGTERM stops them all by the
process-group ids it started; while var/stack/held/<component> exists, a component that died is left down
(a fault test's lost machine). State (mode, ports, pids, the generated admin password) lives in
var/stack/state.json; logs in var/logs/.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from devstack import machine_services
from devstack.ports import LOOPBACK, free_port, wait_for_port
from devstack.worker_hostname import WORKER_HOSTNAME_VARIABLE
from include.event_log.config import DBT_POOL, DBT_POOL_DESCRIPTION, DEFAULT_BUCKET, DEFAULT_PREFIX

REPO = Path(__file__).resolve().parent.parent
VAR = Path(os.environ.get("DEVSTACK_VAR_DIR", REPO / "var")).resolve()
STATE_FILE = VAR / "stack" / "state.json"
LOG_DIR = VAR / "logs"
AIRFLOW_HOME = VAR / "airflow"
SNOWFLAKE_DATA = VAR / "localsnow"
BROKER_DIR = VAR / "broker"
HELD_DIR = VAR / "stack" / "held"
BIN = Path(sys.executable).parent

BUCKET = DEFAULT_BUCKET
PREFIX = DEFAULT_PREFIX
ADMIN_USER = "admin"
# Local-only credentials of the local S3 and Snowflake emulators; never used against real services.
LOCAL_AWS_ENV = {"AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local", "AWS_DEFAULT_REGION": "us-east-1"}
# What the landed data looks like; taken from the environment `up` runs in (RUN_LAYOUT for `make run`).
LAYOUT_SETTINGS = ("EVENT_LOG_LAYOUT", "EVENT_LOG_COMPLETION", "EVENT_LOG_QUIET_PERIOD_SECONDS")
EMBEDDED, PRODUCTION = "embedded", "production"
MODES = (EMBEDDED, PRODUCTION)
MODE_VARIABLE = "DEVSTACK_MODE"
# A process whose end stops the stack (a test session, the benchmark): `up` records it, the supervisor watches it.
OWNER_VARIABLE = "DEVSTACK_OWNER_PID"
# Another DAGs folder than the repo's dags/ (bench/airflow_floor.py); unset for every other stack.
DAGS_FOLDER_VARIABLE = "DEVSTACK_DAGS_FOLDER"
WORKERS = ("worker-1", "worker-2")
# In start order; stopped in reverse (the broker outlives the scheduler and the workers).
COMPONENTS = {
    EMBEDDED: ("s3", "snowflake", "dag-processor", "scheduler", "triggerer", "api-server"),
    PRODUCTION: ("s3", "snowflake", "broker", "dag-processor", "scheduler", *WORKERS, "triggerer", "api-server"),
}
EXECUTOR_SIZING = ("AIRFLOW__CORE__PARALLELISM", "AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG")
# The Celery workers' configuration: Airflow's, and the tasks' libraries imported once per worker.
CELERY_CONFIG_OPTIONS = "include.event_log.celery_config.CELERY_CONFIG"
# Each Celery worker runs this many tasks at once: two workers give the 4 slots the LocalExecutor has (a benchmark
# may size them otherwise, bench/backfill_only.py `executor_sizing`).
WORKER_CONCURRENCY = int(os.environ.get("DEVSTACK_WORKER_CONCURRENCY", "2"))
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
    mode: str = EMBEDDED
    # Production mode only: the stack's PostgreSQL database and its broker's port.
    database: str | None = None
    broker_port: int | None = None
    owner_pid: int | None = None

    @property
    def components(self) -> tuple[str, ...]:
        return COMPONENTS[self.mode]

    @property
    def broker_url(self) -> str:
        return f"redis://{LOOPBACK}:{self.broker_port}/0"

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
        # The benchmark's Airflow floor (bench/airflow_floor.py) runs its own DAGs on the same stack.
        "AIRFLOW__CORE__DAGS_FOLDER": os.environ.get(DAGS_FOLDER_VARIABLE) or str(REPO / "dags"),
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
        # The stack's own Cosmos cache (dbt profiles, dbt's saved parse), not the machine-wide one in /tmp.
        "AIRFLOW__COSMOS__CACHE_DIR": str(AIRFLOW_HOME / "cosmos"),
        "EVENT_LOG_BUCKET": BUCKET,
        "EVENT_LOG_PREFIX": PREFIX,
        # The hour layout the landed data has (include/event_log/land/hour_layout.py): the lander's by default.
        **{name: os.environ[name] for name in LAYOUT_SETTINGS if name in os.environ},
        "EVENT_LOG_START_DATE": state.start_date,
        "EVENT_LOG_POKE_INTERVAL_SECONDS": "5",
        "EVENT_LOG_RETRY_DELAY_SECONDS": "5",
    }
    if state.mode == PRODUCTION:
        env.update(production_airflow_env(state))
    # A test may size the executor differently, through the environment it starts the stack with.
    env.update({key: os.environ[key] for key in EXECUTOR_SIZING if key in os.environ})
    return env


def production_airflow_env(state: StackState) -> dict[str, str]:
    """PostgreSQL, the Celery executor and the stack's own broker, instead of SQLite and the LocalExecutor."""
    database_url = machine_services.sqlalchemy_url(state.database)
    return {
        "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": database_url,
        # Several stacks share the machine's server (100 connections by default): small pools per process.
        "AIRFLOW__DATABASE__SQL_ALCHEMY_POOL_SIZE": "3",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_MAX_OVERFLOW": "7",
        "AIRFLOW__CELERY__BROKER_URL": state.broker_url,
        "AIRFLOW__CELERY__RESULT_BACKEND": f"db+{database_url}",
        "AIRFLOW__CELERY__WORKER_CONCURRENCY": str(WORKER_CONCURRENCY),
        # As the image sets it (Dockerfile): the workers import the tasks' libraries once, not per task.
        "AIRFLOW__CELERY__CELERY_CONFIG_OPTIONS": CELERY_CONFIG_OPTIONS,
        # A message a worker took and never acknowledged (it died) goes back to the queue after this long; it
        # must exceed the longest task, or a running task is delivered a second time. Airflow's scheduler, not
        # the broker, retries a task whose worker died (no heartbeat), so this only has to be long.
        "AIRFLOW__CELERY_BROKER_TRANSPORT_OPTIONS__VISIBILITY_TIMEOUT": "21600",
        "AIRFLOW__CORE__HOSTNAME_CALLABLE": "devstack.worker_hostname.worker_hostname",
    }


def component_command(name: str, state: StackState) -> list[str]:
    python = str(BIN / "python")
    airflow = str(BIN / "airflow")
    commands = {
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
    }  # fmt: skip
    if state.mode == PRODUCTION:
        commands["broker"] = machine_services.broker_command(state.broker_port, BROKER_DIR)
        for worker in WORKERS:
            # The Celery node is celery@worker-N; its log server would bind every interface (the api-server
            # reads the shared log folder instead).
            commands[worker] = [
                airflow, "celery", "worker", "--celery-hostname", worker,
                "--concurrency", str(WORKER_CONCURRENCY), "--skip-serve-logs",
            ]  # fmt: skip
    return commands[name]


def component_env(name: str) -> dict[str, str]:
    """What one component's environment adds to the stack's: each worker's name for its task instances."""
    return {WORKER_HOSTNAME_VARIABLE: name} if name in WORKERS else {}


def process_alive(pid: int | None) -> bool:
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


def group_members(leader: int) -> list[int]:
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


def group_alive(pgid: int) -> bool:
    """Whether any live process of the group, or of the session it leads, is left."""
    return bool(group_members(pgid))


def _signal_members(leader: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(leader, sig)
    for pid in group_members(leader):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


def kill_session(leader: int) -> None:
    """SIGKILL a component we started: its process group and every process of its session."""
    _signal_members(leader, signal.SIGKILL)


def stop_group(pgid: int, name: str, grace: float = 20.0, leader: subprocess.Popen | None = None) -> None:
    """SIGTERM the process group and session we started (their id is the leader's pid), SIGKILL what is left
    after a grace: the component and every process it started, task processes in groups of their own included."""
    if not group_alive(pgid):
        return
    _signal_members(pgid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if leader is not None:
            leader.poll()  # reap the leader, or it lingers as a zombie of the group
        if not group_alive(pgid):
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
        self.restarts: dict[str, int] = dict.fromkeys(state.components, 0)
        self.stopping = False

    def start(self, name: str) -> None:
        log = open(LOG_DIR / f"{name}.log", "ab")  # noqa: SIM115 - the child owns it
        proc = subprocess.Popen(
            component_command(name, self.state), cwd=REPO, env={**self.env, **component_env(name)}, stdout=log,
            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        self.procs[name] = proc
        self.state.pids[name] = proc.pid
        self.state.save()

    def stop_all(self) -> None:
        self.stopping = True
        for name in reversed(self.state.components):
            if proc := self.procs.get(name):
                stop_group(proc.pid, name, leader=proc)
                proc.wait()
        self.state.pids = {}
        self.state.supervisor_pid = None
        self.state.save()
        if self.state.owner_pid and not process_alive(self.state.owner_pid):
            # Nobody is left to run `down`: leave nothing behind.
            release_machine_resources(self.state)

    def run(self) -> None:
        signal.signal(signal.SIGTERM, lambda *_: self.stop_all() or sys.exit(0))
        signal.signal(signal.SIGINT, lambda *_: self.stop_all() or sys.exit(0))
        self.state.supervisor_pid = os.getpid()
        self.state.save()
        for name in self.state.components:
            self.start(name)
            if name == "s3":
                wait_for_port(self.state.s3_port)
            if name == "broker":
                wait_for_port(self.state.broker_port)
        while not self.stopping:
            time.sleep(1)
            if self.state.owner_pid and not process_alive(self.state.owner_pid):
                print(f"the stack's owner (pid {self.state.owner_pid}) is gone: stopping the stack", flush=True)
                self.stop_all()
                return
            for name, proc in list(self.procs.items()):
                if proc.poll() is None or self.stopping or (HELD_DIR / name).exists():
                    continue
                self.restarts[name] += 1
                if self.restarts[name] > MAX_RESTARTS:
                    print(f"{name} exited {proc.returncode} too often; leaving it down", flush=True)
                    del self.procs[name]
                    continue
                print(f"{name} exited with {proc.returncode}; restart {self.restarts[name]}", flush=True)
                time.sleep(min(2 ** self.restarts[name], 30))
                self.start(name)


SQLITE_LOCKED = "database is locked"


def run_airflow(
    args: list[str], env: dict[str, str], mode: str, timeout: float | None = None, attempts: int = 10
) -> subprocess.CompletedProcess:
    """`airflow <args>` against a stack, the one place that runs Airflow's CLI for `make run`, the benchmark and
    the tests. On the embedded stack a command that found SQLite locked by the scheduler (its transaction rolled
    back, nothing done) runs again, up to `attempts` times, waiting a little longer each time; PostgreSQL has no
    such lock, so on the production-shaped stack it runs once. Returns the last attempt's result, with
    `attempts` set to how many were made."""
    for attempt in range(1, (attempts if mode == EMBEDDED else 1) + 1):
        result = subprocess.run(
            [str(BIN / "airflow"), *args], env=env, cwd=REPO, capture_output=True, text=True, timeout=timeout
        )
        result.attempts = attempt
        if result.returncode == 0 or SQLITE_LOCKED not in result.stdout + result.stderr:
            break
        time.sleep(2 * attempt)
    return result


def _run_airflow_cli(args: list[str], state: StackState, check: bool = True) -> subprocess.CompletedProcess:
    result = run_airflow(args, {**os.environ, **airflow_env(state)}, state.mode)
    if check and result.returncode != 0:
        raise RuntimeError(f"airflow {' '.join(args)} failed ({state.mode} stack):\n{result.stderr[-4000:]}")
    return result


def running_state() -> StackState | None:
    state = StackState.load()
    if state and process_alive(state.supervisor_pid):
        return state
    return None


def requested_mode(mode: str | None = None) -> str:
    mode = mode or os.environ.get(MODE_VARIABLE) or EMBEDDED
    if mode not in MODES:
        raise ValueError(f"{MODE_VARIABLE} must be one of {', '.join(MODES)}, not {mode!r}")
    return mode


def up(start_date: datetime | None = None, mode: str | None = None) -> StackState:
    """Start the stack unless it runs already; return its state once every component answers.

    The mode is `mode`, else DEVSTACK_MODE, else embedded. In production mode the machine's PostgreSQL server
    and the redis-server binary are checked first (MissingService says how to get them) and the stack's own
    database is created (a leftover of a stack that died without `down` is dropped first)."""
    mode = requested_mode(mode)
    if state := running_state():
        if state.mode != mode:
            raise RuntimeError(f"a {state.mode} stack runs in {VAR}: stop it (`make stop`) to start a {mode} one")
        return state
    if mode == PRODUCTION:
        machine_services.check_machine()
    for directory in (LOG_DIR, AIRFLOW_HOME, SNOWFLAKE_DATA, STATE_FILE.parent):
        directory.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(HELD_DIR, ignore_errors=True)
    previous = StackState.load()
    start = start_date or datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    state = StackState(
        s3_port=free_port(),
        snowflake_port=free_port(),
        api_port=free_port(),
        admin_password=previous.admin_password if previous else secrets.token_urlsafe(12),
        jwt_secret=secrets.token_urlsafe(32),
        start_date=start.isoformat(),
        mode=mode,
        owner_pid=int(os.environ[OWNER_VARIABLE]) if os.environ.get(OWNER_VARIABLE) else None,
    )
    if mode == PRODUCTION:
        state.database = machine_services.stack_database_name(VAR)
        state.broker_port = free_port()
        BROKER_DIR.mkdir(parents=True, exist_ok=True)
        machine_services.create_database(state.database)
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
    for port in (state.s3_port, state.snowflake_port, state.api_port) + (
        (state.broker_port,) if state.broker_port else ()
    ):
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
    """Stop the supervisor (which stops its components); kill any recorded group still alive. In production
    mode, then drop the stack's database and remove its broker's directory (the broker kept nothing on disk)."""
    state = StackState.load()
    if not state:
        return []
    if state.supervisor_pid and process_alive(state.supervisor_pid):
        os.kill(state.supervisor_pid, signal.SIGTERM)
        deadline = time.monotonic() + 90
        while process_alive(state.supervisor_pid) and time.monotonic() < deadline:
            time.sleep(0.3)
    leftovers = []
    for name, pgid in (StackState.load() or state).pids.items():
        if group_alive(pgid):
            leftovers.append(name)
            stop_group(pgid, name, grace=5)
    if state.supervisor_pid and process_alive(state.supervisor_pid):
        os.kill(state.supervisor_pid, signal.SIGKILL)
    state = StackState.load() or state
    state.pids, state.supervisor_pid = {}, None
    state.save()
    release_machine_resources(state)
    return leftovers


def release_machine_resources(state: StackState) -> None:
    """Once every component is stopped: drop the stack's database, remove its broker's (empty) directory."""
    if state.mode == PRODUCTION and state.database:
        machine_services.drop_database(state.database)
        shutil.rmtree(BROKER_DIR, ignore_errors=True)
    shutil.rmtree(HELD_DIR, ignore_errors=True)


def hold(name: str) -> None:
    """Leave the component down when it next dies (until `release`): a lost machine, for fault tests."""
    HELD_DIR.mkdir(parents=True, exist_ok=True)
    (HELD_DIR / name).touch()


def release(name: str) -> None:
    """Let the supervisor restart the component again (at once, if it is down)."""
    (HELD_DIR / name).unlink(missing_ok=True)


class _UpArguments(argparse.ArgumentParser):
    def error(self, message: str):
        """A usage error exits 1, with the usage: exit 2 is kept for a missing machine service."""
        self.print_usage(sys.stderr)
        sys.exit(f"{self.prog}: error: {message}")


def _up_arguments() -> argparse.ArgumentParser:
    parser = _UpArguments(prog="python -m devstack.stack up")
    parser.add_argument("mode", nargs="?", choices=MODES, help=f"default: ${MODE_VARIABLE}, else {EMBEDDED}")
    parser.add_argument("--start-date", type=datetime.fromisoformat, help="the DAGs' EVENT_LOG_START_DATE "
                        "(ISO 8601; default: this hour)")  # fmt: skip
    return parser


def main(argv: list[str]) -> int:
    command = argv[0] if argv else "status"
    if command == "supervise":
        Supervisor(StackState.load()).run()
        return 0
    if command == "up":
        options = _up_arguments().parse_args(argv[1:])
        try:
            state = up(options.start_date, mode=options.mode)
        except machine_services.MissingService as missing:
            print(missing, file=sys.stderr)
            return 2
        print(f"Local stack up ({state.mode}). Airflow UI: {state.api_url}  login: {ADMIN_USER} / "
              f"{state.admin_password}")  # fmt: skip
        print(f"S3: {state.s3_endpoint_url}  Snowflake: http://{LOOPBACK}:{state.snowflake_port}")
        if state.mode == PRODUCTION:
            print(f"Metadata DB: {machine_services.sqlalchemy_url(state.database)}  broker: {state.broker_url}")
        return 0
    if command in ("hold", "release") and len(argv) == 2:
        (hold if command == "hold" else release)(argv[1])
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
    print(
        f"mode: {state.mode}" + (f"  database: {state.database}  broker: {state.broker_url}" if state.database else "")
    )
    for name, pid in state.pids.items():
        print(f"{name:14} pid {pid:7}  {'up' if process_alive(pid) else 'DOWN'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
