"""Fixtures for the local Snowflake (devstack.localsnow): a real server subprocess on a free loopback port."""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import snowflake.connector

from devstack.localsnow import client as localsnow_client
from devstack.localsnow import start_server, stop_server
from devstack.ports import free_port

PREFIX = "event_log"


@dataclass
class LocalSnow:
    """One localsnow server process; `restart()` stops it by its pid and starts it on the same data dir."""

    data_dir: Path
    s3_endpoint_url: str
    log_path: Path
    port: int = 0
    proc: Any = None
    connections: list = field(default_factory=list)

    def start(self) -> None:
        self.port = free_port()
        with self.log_path.open("ab") as log:
            self.proc = start_server(self.data_dir, self.s3_endpoint_url, self.port, log_file=log)

    def stop(self) -> int | None:
        for conn in self.connections:
            if not conn.is_closed():
                conn.close()
        self.connections.clear()
        return stop_server(self.proc) if self.proc else None

    def restart(self) -> None:
        self.stop()
        self.start()

    def connect(self, **kwargs: Any) -> snowflake.connector.SnowflakeConnection:
        params = {
            "session_parameters": {"CLIENT_OUT_OF_BAND_TELEMETRY_ENABLED": False},
            "network_timeout": 60,
        } | kwargs
        conn = localsnow_client.connect(self.port, **params)
        self.connections.append(conn)
        return conn

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@pytest.fixture
def localsnow(tmp_path: Path, s3_endpoint_url: str) -> Iterator[LocalSnow]:
    server = LocalSnow(tmp_path / "localsnow-data", s3_endpoint_url, tmp_path / "localsnow.log")
    server.start()
    yield server
    server.stop()


@pytest.fixture
def put_lines(s3_client, bucket):
    """Write a JSON-lines object under the bucket's event-log prefix; gzip it when the key ends in .gz."""

    def put(key: str, lines: list[str] | str) -> str:
        body = (lines if isinstance(lines, str) else "".join(line + "\n" for line in lines)).encode()
        if key.endswith(".gz"):
            body = gzip.compress(body)
        s3_client.put_object(Bucket=bucket, Key=f"{PREFIX}/{key}", Body=body)
        return key

    return put


def create_event_log_objects(cursor, bucket: str) -> None:
    """The minimum the COPY and external-table tests need: database, schema, file format, stage, raw table."""
    for sql in (
        "CREATE DATABASE IF NOT EXISTS EVENT_LOG",
        "CREATE SCHEMA IF NOT EXISTS EVENT_LOG.RAW",
        "CREATE FILE FORMAT IF NOT EXISTS EVENT_LOG.RAW.FF_JSON TYPE = JSON COMPRESSION = AUTO",
        f"CREATE STAGE IF NOT EXISTS EVENT_LOG.RAW.STAGE_EVENTS URL = 's3://{bucket}/{PREFIX}/' "
        "FILE_FORMAT = (FORMAT_NAME = EVENT_LOG.RAW.FF_JSON)",
        "CREATE TABLE IF NOT EXISTS EVENT_LOG.RAW.RAW_EVENTS (RECORD VARIANT, FILE_NAME VARCHAR, "
        "FILE_ROW_NUMBER NUMBER, REPLICATION_HOUR TIMESTAMP_NTZ, LOADED_AT TIMESTAMP_NTZ, AIRFLOW_RUN_ID VARCHAR)",
    ):
        cursor.execute(sql)


@pytest.fixture
def event_log(localsnow, bucket):
    """A connection (autocommit) on a server where the event-log objects exist."""
    conn = localsnow.connect()
    create_event_log_objects(conn.cursor(), bucket)
    return conn
