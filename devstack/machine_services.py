"""What the production-shaped local stack takes from the machine: the PostgreSQL server (one database per stack,
created by `up`, dropped by `down`) and the redis-server binary (each stack runs a broker of its own).

The PostgreSQL server is the machine's service on 127.0.0.1:5432, user postgres, trust authentication (as on
the development and CI machines). Nothing here needs a password, and none is stored.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
from pathlib import Path

from devstack.ports import LOOPBACK

# Another port only where the machine's server listens elsewhere (or, in a test, where nothing does).
POSTGRES_PORT = int(os.environ.get("DEVSTACK_POSTGRES_PORT", "5432"))
POSTGRES_USER = "postgres"
# The database the server always has, to connect to while creating or dropping a stack's database.
MAINTENANCE_DATABASE = "postgres"
REDIS_SERVER = "redis-server"

POSTGRES_HELP = f"""\
The production-shaped stack (DEVSTACK_MODE=production) runs Airflow's metadata database on the machine's
PostgreSQL server at {LOOPBACK}:{POSTGRES_PORT} (user {POSTGRES_USER}, trust authentication), and could not use it:
  {{error}}
On Debian: `apt-get install postgresql` (package postgresql), then start it with
`pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start`; the user postgres must be able to
connect over TCP from {LOOPBACK} without a password (a `host all postgres {LOOPBACK}/32 trust` line in pg_hba.conf).
Or run the embedded stack (SQLite, LocalExecutor), which needs nothing but Python: DEVSTACK_MODE=embedded."""

REDIS_HELP = """\
The production-shaped stack (DEVSTACK_MODE=production) starts a Celery broker of its own with the redis-server
binary, which is not on PATH. On Debian: `apt-get install redis-server` (package redis-server); the stack runs
the binary itself on a free loopback port, so the machine's Redis service need not be started.
Or run the embedded stack (SQLite, LocalExecutor), which needs nothing but Python: DEVSTACK_MODE=embedded."""


class MissingService(RuntimeError):
    """The machine lacks what the production-shaped stack needs; the message says how to get it."""


def stack_database_name(var_dir: Path) -> str:
    """The stack's own database, named after its var directory: readable, and unique per directory."""
    resolved = str(var_dir.resolve())
    slug = re.sub(r"[^a-z0-9]+", "_", f"{var_dir.resolve().parent.name}_{var_dir.name}".lower()).strip("_")[:32]
    return f"devstack_{slug}_{hashlib.sha1(resolved.encode()).hexdigest()[:8]}"


def sqlalchemy_url(database: str) -> str:
    return f"postgresql+psycopg2://{POSTGRES_USER}@{LOOPBACK}:{POSTGRES_PORT}/{database}"


def _connect(database: str = MAINTENANCE_DATABASE):
    import psycopg2

    try:
        connection = psycopg2.connect(
            host=LOOPBACK, port=POSTGRES_PORT, user=POSTGRES_USER, dbname=database, connect_timeout=5
        )
    except psycopg2.OperationalError as error:
        raise MissingService(POSTGRES_HELP.format(error=str(error).strip())) from error
    connection.autocommit = True  # CREATE/DROP DATABASE cannot run inside a transaction
    return connection


def redis_server_binary() -> str:
    path = shutil.which(REDIS_SERVER)
    if path is None:
        raise MissingService(REDIS_HELP)
    return path


def check_machine() -> None:
    """Raise MissingService, saying how to get it, when redis-server or the PostgreSQL server is missing."""
    redis_server_binary()
    _connect().close()


def database_exists(name: str) -> bool:
    connection = _connect()
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
            return cursor.fetchone() is not None
    finally:
        connection.close()


def _identifier(name: str) -> str:
    if not re.fullmatch(r"[a-z0-9_]{1,63}", name):
        raise ValueError(f"not a stack database name: {name!r}")
    return f'"{name}"'


def create_database(name: str) -> None:
    """Create the stack's database; one left by a stack that died without `down` is dropped first."""
    drop_database(name)
    connection = _connect()
    try:
        with connection.cursor() as cursor:
            cursor.execute(f"CREATE DATABASE {_identifier(name)}")
    finally:
        connection.close()


def drop_database(name: str) -> None:
    """Drop the database, closing whatever connections are left on it (PostgreSQL 13+: WITH (FORCE))."""
    connection = _connect()
    try:
        with connection.cursor() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS {_identifier(name)} WITH (FORCE)")
    finally:
        connection.close()


def broker_command(port: int, working_dir: Path) -> list[str]:
    """A redis-server on loopback that keeps nothing on disk: restarting it is an empty broker."""
    return [
        redis_server_binary(), "--bind", LOOPBACK, "--port", str(port), "--protected-mode", "yes",
        "--save", "", "--appendonly", "no", "--dir", str(working_dir), "--daemonize", "no", "--logfile", "",
    ]  # fmt: skip
