"""The local stack's secrets (var/stack/state.json: admin password and JWT secret; var/airflow/passwords.json) are
readable by their owner only: files 0600 from the moment they exist, their folders 0700."""

from __future__ import annotations

import json
import os
import stat

from devstack import stack


def mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_state_file_is_owner_only_even_over_a_world_readable_one(tmp_path, monkeypatch):
    state_file = tmp_path / "var" / "stack" / "state.json"
    monkeypatch.setattr(stack, "STATE_FILE", state_file)
    old_umask = os.umask(0o022)
    try:
        state_file.parent.mkdir(parents=True, mode=0o755)
        state_file.with_suffix(".tmp").write_text("{}")
        state_file.with_suffix(".tmp").chmod(0o644)  # a left-over of an earlier run
        state = stack.StackState(1, 2, 3, admin_password="s3cret-pw", jwt_secret="jwt-s3cret", start_date="2025-08-01")
        state.save()
    finally:
        os.umask(old_umask)
    assert (mode(state_file), mode(state_file.parent)) == (0o600, 0o700)
    assert json.loads(state_file.read_text())["jwt_secret"] == "jwt-s3cret"
    assert stack.StackState.load() == state
    assert not state_file.with_suffix(".tmp").exists()


def test_the_admin_password_file_is_owner_only(tmp_path):
    passwords = tmp_path / "var" / "airflow" / "passwords.json"
    old_umask = os.umask(0o000)  # the most permissive umask: the mode must not depend on it
    try:
        stack.write_private(passwords, json.dumps({"admin": "pw"}))
        stack.write_private(passwords, json.dumps({"admin": "pw2"}))  # rewritten in place
    finally:
        os.umask(old_umask)
    assert (mode(passwords), mode(passwords.parent)) == (0o600, 0o700)
    assert json.loads(passwords.read_text()) == {"admin": "pw2"}


def test_up_writes_the_password_file_through_the_owner_only_writer():
    import inspect

    source = inspect.getsource(stack.up)
    assert 'write_private(AIRFLOW_HOME / "passwords.json"' in source and ".write_text(" not in source
