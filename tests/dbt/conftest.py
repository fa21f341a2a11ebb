"""A real local Snowflake for the dbt tests: fakesnow's server in a subprocess on a free loopback port."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from devstack.localsnow import client as localsnow_client
from devstack.ports import LOOPBACK, free_port, wait_for_port

REPO_ROOT = Path(__file__).resolve().parents[2]
DBT_PROJECT_DIR = REPO_ROOT / "dbt"
# fakesnow accepts any credentials; these only reach the local emulator.
EMULATOR_USER = "dbt_test"
EMULATOR_PASSWORD = "local-emulator"
EMULATOR_ACCOUNT = "fakesnow"


@pytest.fixture(scope="module")
def fakesnow_port(tmp_path_factory):
    """fakesnow's HTTP server, in memory, stopped (by its own pid) at the end of the module."""
    port = free_port()
    log_path = tmp_path_factory.mktemp("fakesnow") / "server.log"
    with log_path.open("wb") as server_log:
        server = subprocess.Popen(
            [sys.executable, "-m", "fakesnow", "-s", "--host", LOOPBACK, "-p", str(port)],
            stdout=server_log,
            stderr=subprocess.STDOUT,
            cwd=REPO_ROOT,
        )
    try:
        wait_for_port(port, timeout=60)
        yield port
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=15)


@pytest.fixture(scope="module")
def snowflake_connection(fakesnow_port):
    connection = localsnow_client.connect(
        fakesnow_port, user=EMULATOR_USER, password=EMULATOR_PASSWORD, account=EMULATOR_ACCOUNT
    )
    yield connection
    connection.close()


@pytest.fixture(scope="module")
def dbt_env(fakesnow_port):
    """The environment dbt/profiles.yml reads, pointing at the emulator."""
    return {
        **os.environ,
        "SNOWFLAKE_ACCOUNT": EMULATOR_ACCOUNT,
        "SNOWFLAKE_USER": EMULATOR_USER,
        "SNOWFLAKE_PASSWORD": EMULATOR_PASSWORD,
        "SNOWFLAKE_HOST": LOOPBACK,
        "SNOWFLAKE_PORT": str(fakesnow_port),
        "SNOWFLAKE_PROTOCOL": "http",
        "SNOWFLAKE_DATABASE": "EVENT_LOG",
        "SNOWFLAKE_SCHEMA": "ANALYTICS",
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        "DO_NOT_TRACK": "1",
    }
