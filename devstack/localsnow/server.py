"""Run fakesnow's Snowflake HTTP server with localsnow's additions, on loopback, until SIGTERM or SIGINT."""

from __future__ import annotations

import ipaddress
import logging
import signal
import warnings
from pathlib import Path

import fakesnow.server
import uvicorn
from fakesnow.instance import FakeSnow

from devstack.localsnow import flatten_order, null_timestamps, persistence, statements, storage, table_comments

log = logging.getLogger(__name__)


def install(data_dir: Path, s3_endpoint_url: str | None) -> FakeSnow:
    """Open the persistent instance and hook localsnow into fakesnow; returns the instance the server uses."""
    # sqlglot warns for every statement it keeps as a Command (ALTER/DROP EXTERNAL TABLE): not news here.
    logging.getLogger("sqlglot").setLevel(logging.ERROR)
    # fakesnow fetches every result with DuckDB's DB-API arrow call, which warns about a copy: known, harmless.
    warnings.filterwarnings("ignore", message="Arrow output on a DB-API result")
    flatten_order.install()  # before any database is attached: its macros are created then
    fs = persistence.open_instance(data_dir)
    storage.configure(fs.duck_conn, s3_endpoint_url)
    statements.install()
    null_timestamps.install()
    table_comments.install()
    # Every session logs into fakesnow.server.shared_fs (looked up at login): make it the persistent one.
    fakesnow.server.shared_fs.duck_conn.close()
    fakesnow.server.shared_fs = fs
    return fs


def serve(host: str, port: int, data_dir: Path, s3_endpoint_url: str | None) -> int:
    if not _is_loopback(host):
        raise ValueError(f"localsnow listens on loopback only, not on {host!r}")

    stop_requested: list[int] = []

    def request_stop(signum: int, _frame: object) -> None:
        # uvicorn handles the signals while it serves; this one covers start-up, and the signal uvicorn
        # re-raises after its graceful shutdown, so that the checkpoint below always runs.
        stop_requested.append(signum)

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)

    fs = install(data_dir, s3_endpoint_url)
    try:
        if not stop_requested:
            config = uvicorn.Config(
                fakesnow.server.app, host=host, port=port, log_config=None, access_log=False, lifespan="off"
            )
            log.info("local Snowflake on http://%s:%d, data in %s", host, port, data_dir)
            uvicorn.Server(config).run()
    finally:
        persistence.close_instance(fs, list(fakesnow.server.sessions.values()))
    log.info("stopped")
    return 0


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
