"""Snowflake access for the event-log tasks: the provider's hook, and one transaction helper."""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from airflow.providers.snowflake.hooks.snowflake import SnowflakeHook

log = logging.getLogger(__name__)

# Connector options that SnowflakeHook does not pass on from the connection's extra. `host`/`port`
# serve PrivateLink or proxy endpoints; `protocol` lets a connection reach an http endpoint such as
# the local stack's Snowflake emulator.
ENDPOINT_EXTRAS = ("host", "port", "protocol")
# Names of the machine itself: loopback, and the Docker host as `astro dev start` containers reach the local stack
# (airflow_settings.yaml); traffic to either never leaves the machine.
LOCAL_HOST_NAMES = ("localhost", "host.docker.internal")


def refuse_plain_http(conn_id: str, protocol: object, host: object) -> None:
    """Plain http sends the password (or the key-pair JWT) in clear: allowed only towards a loopback host (the
    local stack's emulator). Used by the hooks and by the dbt profile mapping, so both refuse the same."""
    if str(protocol or "https").strip().lower() != "http":
        return
    name = str(host or "").strip().strip("[]").lower()
    try:
        loopback = ipaddress.ip_address(name).is_loopback
    except ValueError:
        loopback = name in LOCAL_HOST_NAMES
    if not loopback:
        raise ValueError(
            f"connection {conn_id!r}: protocol 'http' is allowed only towards a loopback host (127.0.0.1, ::1, "
            f"localhost, host.docker.internal), got host {host!r}; remove the protocol extra (https is the default) "
            "or fix the host"
        )


class EventLogSnowflakeHook(SnowflakeHook):
    """SnowflakeHook that also honours the connection extras `host`, `port` and `protocol` (http only towards
    loopback). `server_side_binding`: the connection binds `?` parameters in the warehouse (qmark), so values
    never become part of the SQL text (nor of Snowflake's query history), and executemany of an INSERT sends
    one statement with array bindings."""

    def __init__(self, *args: Any, server_side_binding: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.server_side_binding = server_side_binding

    def _get_conn_params(self) -> dict[str, Any]:
        params = super()._get_conn_params()
        extra = self.get_connection(self.get_conn_id()).extra_dejson
        for key in ENDPOINT_EXTRAS:
            if extra.get(key) not in (None, ""):
                params[key] = int(extra[key]) if key == "port" else extra[key]
        refuse_plain_http(self.get_conn_id(), params.get("protocol"), params.get("host"))
        if self.server_side_binding:
            params["paramstyle"] = "qmark"
        return params


@contextmanager
def transaction(conn_id: str, *, server_side_binding: bool = False) -> Iterator[Any]:
    """A cursor whose statements commit together, or roll back together on any error. With `server_side_binding`,
    statements take `?` placeholders bound in the warehouse (see EventLogSnowflakeHook)."""
    hook = EventLogSnowflakeHook(snowflake_conn_id=conn_id, server_side_binding=server_side_binding)
    conn = hook.get_conn()
    try:
        conn.autocommit(False)
        with conn.cursor() as cursor:
            try:
                yield cursor
            except BaseException:
                log.warning("rolling back: the transaction's statements are discarded")
                conn.rollback()
                raise
            conn.commit()
    finally:
        conn.close()


def run_statements(conn_id: str, statements: Sequence[tuple[str, dict[str, Any] | None]]) -> list[list]:
    """Run statements one by one in autocommit mode; return the rows of each."""
    hook = EventLogSnowflakeHook(snowflake_conn_id=conn_id)
    conn = hook.get_conn()
    results = []
    try:
        with conn.cursor() as cursor:
            for sql, params in statements:
                log.info("Running: %s | params=%s", sql, params)
                cursor.execute(sql, params)
                results.append(cursor.fetchall())
    finally:
        conn.close()
    return results
