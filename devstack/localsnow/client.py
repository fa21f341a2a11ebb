"""The one way anything outside the package opens a connection to the local Snowflake emulator.

The package itself connects through the Snowflake provider's hook and the `snowflake_default` connection; the
local stack, `make run`, the benchmark and the tests use `connect` here. The emulator accepts any credentials
and speaks plain http on loopback only.
"""

from __future__ import annotations

from typing import Any

from devstack.ports import LOOPBACK

# What the emulator is told at login; it checks none of it.
USER = "local"
PASSWORD = "local"
ACCOUNT = "local"
DATABASE = "EVENT_LOG"
SCHEMA = "RAW"


def connection_parameters(port: int, **overrides: Any) -> dict[str, Any]:
    """The connector's keyword arguments for the emulator on `port`; `overrides` replace or add any of them."""
    return {
        "user": USER, "password": PASSWORD, "account": ACCOUNT, "host": LOOPBACK, "port": port,
        "protocol": "http", "database": DATABASE, "schema": SCHEMA,
    } | overrides  # fmt: skip


def connect(port: int, **overrides: Any):
    """A `snowflake.connector` connection to the emulator on `port` (the connector is imported here, on use)."""
    import snowflake.connector

    return snowflake.connector.connect(**connection_parameters(port, **overrides))
