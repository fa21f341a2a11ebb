"""The entry point: loopback only, logs on stderr, clean exit (checkpointed) on SIGTERM and SIGINT."""

from __future__ import annotations

import signal
import subprocess
import sys

import pytest

from devstack.localsnow import client as localsnow_client
from devstack.localsnow import start_server, stop_server
from devstack.localsnow.process import PROJECT_DIR
from devstack.ports import free_port

pytestmark = pytest.mark.timeout(120)


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
def test_stops_cleanly_on_a_signal(tmp_path, s3_endpoint_url, stop_signal):
    port = free_port()
    log_path = tmp_path / "stderr.log"
    with log_path.open("wb") as log:
        proc = start_server(tmp_path / "data", s3_endpoint_url, port, log_file=log)
    try:
        conn = localsnow_client.connect(port)
        conn.cursor().execute("CREATE TABLE T AS SELECT 1 AS A")
        conn.close()
        proc.send_signal(stop_signal)
        assert proc.wait(30) == 0
    finally:
        stop_server(proc)
    log = log_path.read_text()
    assert f"local Snowflake on http://127.0.0.1:{port}" in log
    assert "checkpointed and closed" in log
    # checkpointed: the databases are whole in their files, no write-ahead log is left to replay
    assert sorted(p.name for p in (tmp_path / "data").iterdir() if p.is_file()) == ["EVENT_LOG.db", "_fs_global.db"]


def test_refuses_to_listen_beyond_loopback(tmp_path, s3_endpoint_url):
    result = subprocess.run(
        [
            *(sys.executable, "-m", "devstack.localsnow", "--host", "0.0.0.0", "--port", str(free_port())),
            *("--data-dir", str(tmp_path / "data"), "--s3-endpoint-url", s3_endpoint_url),
        ],
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "loopback only" in result.stderr


def test_stop_server_kills_a_server_that_does_not_stop(tmp_path, s3_endpoint_url):
    port = free_port()
    proc = start_server(tmp_path / "data", s3_endpoint_url, port, log_file=subprocess.DEVNULL)
    proc.send_signal(signal.SIGSTOP)  # frozen: SIGTERM cannot be handled
    assert stop_server(proc, timeout=1) == -signal.SIGKILL
