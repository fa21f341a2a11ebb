"""What the production-shaped stack takes from the machine (devstack.machine_services), without starting a stack:
its database on the machine's PostgreSQL server, and `up` refusing, with the Debian packages to install, on a
machine that lacks the server or redis-server."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from devstack import machine_services
from devstack.ports import free_port
from devstack.stack import REPO

pytestmark = pytest.mark.timeout(120)


def stack_command(args: list[str], var_dir: Path, **env: str) -> subprocess.CompletedProcess:
    environment = {"PATH": "/usr/bin:/bin", "DEVSTACK_VAR_DIR": str(var_dir), "PYTHONPATH": str(REPO), **env}
    return subprocess.run(
        [sys.executable, "-m", "devstack.stack", *args], env=environment, cwd=REPO, capture_output=True, text=True,
        timeout=90,
    )  # fmt: skip


def test_a_stack_database_is_named_after_its_var_directory_and_unique_per_directory(tmp_path):
    first = machine_services.stack_database_name(tmp_path / "a" / "var")
    second = machine_services.stack_database_name(tmp_path / "b" / "var")
    assert first.startswith("devstack_a_var_") and second.startswith("devstack_b_var_")
    assert first != second and len(first) <= 63
    assert machine_services.stack_database_name(tmp_path / "a" / "var") == first


def test_create_then_drop_leaves_no_database_and_create_replaces_a_leftover(tmp_path):
    import psycopg2

    name = machine_services.stack_database_name(tmp_path / "var")
    try:
        machine_services.create_database(name)
        assert machine_services.database_exists(name)
        dsn = machine_services.sqlalchemy_url(name).replace("+psycopg2", "")
        leftover = psycopg2.connect(dsn)
        leftover.autocommit = True
        with leftover.cursor() as cursor:
            cursor.execute("CREATE TABLE left_by_a_dead_stack (id int)")
        # Still connected, like a component killed before `down`: create drops it anyway, closing that session.
        machine_services.create_database(name)
        with pytest.raises(psycopg2.OperationalError), leftover.cursor() as cursor:
            cursor.execute("SELECT 1")
        fresh = psycopg2.connect(dsn)
        try:
            with fresh.cursor() as cursor:
                cursor.execute("SELECT count(*) FROM pg_tables WHERE tablename = 'left_by_a_dead_stack'")
                assert cursor.fetchone() == (0,)
        finally:
            fresh.close()
    finally:
        machine_services.drop_database(name)
    assert not machine_services.database_exists(name)


def test_up_without_redis_server_names_the_debian_package_and_starts_nothing(tmp_path):
    result = stack_command(["up", "production"], tmp_path / "var", PATH=str(tmp_path))  # no redis-server there
    assert result.returncode == 2, result.stderr
    assert "apt-get install redis-server" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "var" / "stack" / "state.json").exists()
    assert not machine_services.database_exists(machine_services.stack_database_name(tmp_path / "var"))


def test_up_without_a_postgresql_server_names_the_debian_package_and_starts_nothing(tmp_path):
    result = stack_command(["up", "production"], tmp_path / "var", DEVSTACK_POSTGRES_PORT=str(free_port()))
    assert result.returncode == 2, result.stderr
    assert "apt-get install postgresql" in result.stderr and "pg_ctlcluster" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "var" / "stack" / "state.json").exists()


def test_an_unknown_mode_is_refused(tmp_path):
    result = stack_command(["up"], tmp_path / "var", DEVSTACK_MODE="distributed")
    assert result.returncode != 0 and "DEVSTACK_MODE must be one of embedded, production" in result.stderr
    assert not (tmp_path / "var" / "stack" / "state.json").exists()


def test_status_of_a_stopped_production_stack_reads_its_state(tmp_path):
    state_dir = tmp_path / "var" / "stack"
    state_dir.mkdir(parents=True)
    (state_dir / "state.json").write_text(json.dumps({
        "s3_port": 1, "snowflake_port": 2, "api_port": 3, "admin_password": "x", "jwt_secret": "y",
        "start_date": "2026-01-01T00:00:00+00:00", "mode": "production", "database": "devstack_x", "broker_port": 4,
    }))  # fmt: skip
    result = stack_command(["status"], tmp_path / "var")
    assert result.returncode == 0 and "not running" in result.stdout
