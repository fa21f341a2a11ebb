"""The one handle on a local stack (devstack/isolated.py): what environment its stack inherits, owned or not,
and what `up` is asked (the start date on the command line). The stack itself runs in tests/live and `make run`."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from devstack import isolated, stack
from devstack.isolated import IsolatedStack, StackStartError
from devstack.stack import MODE_VARIABLE, OWNER_VARIABLE, PRODUCTION


@pytest.fixture
def caller_env(monkeypatch):
    monkeypatch.setenv("EVENT_LOG_COMPLETION", "quiet_period")
    monkeypatch.setenv("AIRFLOW__CORE__PARALLELISM", "16")
    monkeypatch.setenv(OWNER_VARIABLE, "1")


def test_an_owned_stack_drops_the_callers_settings_and_stops_with_its_owner(caller_env, tmp_path):
    env = IsolatedStack(tmp_path, extra_env={"EVENT_LOG_LAYOUT": "plain"}, mode=PRODUCTION).env
    assert "EVENT_LOG_COMPLETION" not in env and "AIRFLOW__CORE__PARALLELISM" not in env
    assert env["EVENT_LOG_LAYOUT"] == "plain" and env[MODE_VARIABLE] == PRODUCTION
    assert env[OWNER_VARIABLE] == str(os.getpid())
    assert env["DEVSTACK_VAR_DIR"] == str(tmp_path)


def test_an_unowned_stack_keeps_the_callers_settings_and_outlives_it(caller_env, tmp_path):
    env = IsolatedStack(tmp_path, extra_env={"EVENT_LOG_LAYOUT": "hive"}, owned=False).env
    assert env["EVENT_LOG_COMPLETION"] == "quiet_period" and env["AIRFLOW__CORE__PARALLELISM"] == "16"
    assert env["EVENT_LOG_LAYOUT"] == "hive"
    assert OWNER_VARIABLE not in env


class Completed:
    def __init__(self, returncode: int, stdout: str = "", stderr: str = ""):
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr


def test_start_asks_up_for_the_mode_and_start_date_and_says_what_failed(monkeypatch, tmp_path: Path):
    calls = []
    outcomes = iter([
        Completed(2, stderr="PostgreSQL is not reachable on 127.0.0.1:5432"),
        Completed(1, stderr="Traceback: boom"),
        Completed(0, stdout="Local stack up"),
    ])  # fmt: skip

    def run(self, args, timeout):
        calls.append(args)
        return next(outcomes)

    monkeypatch.setattr(isolated.IsolatedStack, "_run", run)
    (tmp_path / "stack").mkdir()
    (tmp_path / "stack" / "state.json").write_text('{"api_port": 1}')
    local = IsolatedStack(tmp_path, mode=PRODUCTION)
    start = datetime(2026, 12, 1, 14, tzinfo=UTC)
    with pytest.raises(StackStartError, match="PostgreSQL is not reachable") as missing:
        local.start(start)
    assert missing.value.missing_service
    with pytest.raises(StackStartError, match="boom") as failed:
        local.start()
    assert not failed.value.missing_service
    assert local.start() == "Local stack up" and local.state == {"api_port": 1}
    assert calls[0] == ["-m", "devstack.stack", "up", PRODUCTION, "--start-date", start.isoformat()]
    assert calls[1] == ["-m", "devstack.stack", "up", PRODUCTION]


def test_the_stack_cli_reads_the_start_date_and_the_mode_of_up(monkeypatch, capsys):
    asked = []

    class State:
        mode, api_url, admin_password, s3_endpoint_url, snowflake_port = "embedded", "http://x", "pw", "http://s3", 1

    monkeypatch.setattr(stack, "up", lambda start_date=None, mode=None: asked.append((start_date, mode)) or State())
    assert stack.main(["up", "embedded", "--start-date", "2026-12-01T14:00:00+00:00"]) == 0
    assert stack.main(["up"]) == 0
    assert asked == [(datetime(2026, 12, 1, 14, tzinfo=UTC), "embedded"), (None, None)]
    assert "Local stack up (embedded)" in capsys.readouterr().out
    # A usage error exits 1 and starts nothing: exit 2 means a missing machine service (IsolatedStack.start).
    for wrong in (["up", "--start-date"], ["up", "--start-date", "yesterday"], ["up", "staging"]):
        with pytest.raises(SystemExit) as usage:
            stack.main(wrong)
        assert usage.value.code not in (0, 2) and "python -m devstack.stack up: error" in str(usage.value.code)
    assert len(asked) == 2
