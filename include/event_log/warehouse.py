"""Snowflake access for the event-log tasks: the provider's hook, and one transaction helper."""

from __future__ import annotations

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


class EventLogSnowflakeHook(SnowflakeHook):
    """SnowflakeHook that also honours the connection extras `host`, `port` and `protocol`."""

    def _get_conn_params(self) -> dict[str, Any]:
        params = super()._get_conn_params()
        extra = self.get_connection(self.get_conn_id()).extra_dejson
        for key in ENDPOINT_EXTRAS:
            if extra.get(key) not in (None, ""):
                params[key] = int(extra[key]) if key == "port" else extra[key]
        return params


@contextmanager
def transaction(conn_id: str) -> Iterator[Any]:
    """A cursor whose statements commit together, or roll back together on any error."""
    hook = EventLogSnowflakeHook(snowflake_conn_id=conn_id)
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
