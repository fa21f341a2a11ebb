"""Start and stop the local Snowflake as a child process, for tests and the local-stack supervisor."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import IO

from devstack.ports import LOOPBACK

PROJECT_DIR = Path(__file__).resolve().parents[2]


def start_server(
    data_dir: str | os.PathLike,
    s3_endpoint_url: str | None,
    port: int,
    *,
    host: str = LOOPBACK,
    log_file: IO | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 60.0,
) -> subprocess.Popen:
    """Start `python -m devstack.localsnow` and return once it accepts connections.

    Its log (stderr) goes to `log_file`, else to this process's stderr. AWS_* credentials are taken from
    `env`, else from this process's environment. Raises if it exits or is not ready within `timeout`.
    """
    command = [sys.executable, "-m", "devstack.localsnow", "--host", host, "--port", str(port)]
    command += ["--data-dir", str(Path(data_dir).resolve())]
    if s3_endpoint_url:
        command += ["--s3-endpoint-url", s3_endpoint_url]
    child_env = dict(os.environ if env is None else env)
    child_env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PROJECT_DIR), child_env.get("PYTHONPATH")]))
    proc = subprocess.Popen(command, env=child_env, stdout=log_file, stderr=log_file, cwd=PROJECT_DIR)
    try:
        wait_until_ready(proc, port, host=host, timeout=timeout)
    except BaseException:
        stop_server(proc)
        raise
    return proc


def wait_until_ready(proc: subprocess.Popen, port: int, *, host: str = LOOPBACK, timeout: float = 60.0) -> None:
    """Block until the server answers on host:port; fail fast if the process exits first."""
    import socket

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"localsnow exited with code {proc.returncode} before listening on {host}:{port}")
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.settimeout(0.5)
            if sock.connect_ex((host, port)) == 0:
                return
        time.sleep(0.1)
    raise TimeoutError(f"localsnow is not listening on {host}:{port} after {timeout:.0f}s")


def stop_server(proc: subprocess.Popen, timeout: float = 30.0) -> int | None:
    """SIGTERM that process (by its pid only), wait for its clean shutdown, SIGKILL it after `timeout`."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode
