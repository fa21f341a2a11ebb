"""The Astro image's files agree: requirements.txt pins exactly the lock's versions, the Dockerfile starts from
Astronomer's Runtime 3 registry, and .dockerignore keeps secrets, local state and development files out of the
build context while the project's code stays in. (No Docker engine here: the files are checked, not built.)"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from devstack import image_requirements
from devstack.image_requirements import direct_requirements, image_pins, normalized, parse_lock

REPO = Path(__file__).resolve().parent.parent
LOCK = (REPO / "requirements-dev.lock").read_text()
IMAGE_PINS = [line for line in (REPO / "requirements.txt").read_text().splitlines() if not line.startswith("#")]


def test_requirements_txt_is_what_make_lock_writes():
    assert image_requirements.main(["--check"]) == 0
    assert (REPO / "requirements.txt").read_text() == image_requirements.render()


def test_every_image_package_is_pinned_exactly_to_the_version_ci_installs():
    pins, _ = parse_lock(LOCK)
    assert len(IMAGE_PINS) > 100
    for line in IMAGE_PINS:
        match = re.fullmatch(r"([A-Za-z0-9._-]+)(\[[a-z0-9,_-]+\])?==([A-Za-z0-9.+!-]+)", line)
        assert match, f"not an exact pin: {line!r}"
        assert pins[normalized(match[1])][1] == match[3], f"{line} differs from requirements-dev.lock"


def test_the_image_gets_every_direct_requirement_and_never_airflow_itself():
    direct = direct_requirements((REPO / "requirements.in").read_text())
    names = {normalized(re.split(r"[\[=]", line)[0]) for line in IMAGE_PINS}
    assert set(direct) <= names
    assert "apache-airflow-providers-amazon[aiobotocore]==9.39.0" in IMAGE_PINS, "extras kept"
    assert not names & {"apache-airflow", "apache-airflow-core", "apache-airflow-task-sdk"}, "the Runtime brings it"
    assert not names & {"pytest", "moto", "fakesnow", "duckdb", "ruff", "selenium", "s3fs"}, "no development tools"
    assert (REPO / "requirements-dev.txt").read_text().count("-r requirements.in") == 1, "the lock resolves them"


def test_the_closure_follows_dependencies_but_stops_at_airflow():
    lock = """a==1.0
    # via -r requirements.in
b==2.0
    # via
    #   a
    #   apache-airflow
apache-airflow==3.3.2
    # via a
c==3.0
    # via apache-airflow
d==4.0
    # via -r requirements-dev.txt
"""
    assert image_pins({"a": "[x]"}, lock) == ["a[x]==1.0", "b==2.0"]
    with pytest.raises(ValueError, match="e is required but not pinned"):
        image_pins({"e": ""}, lock)


def test_the_base_image_is_a_runtime_3_image_from_astronomers_airflow_3_registry():
    dockerfile = (REPO / "Dockerfile").read_text()
    (base,) = re.findall(r"^FROM\s+(\S+)", dockerfile, flags=re.MULTILINE)
    assert re.fullmatch(r"astrocrpublic\.azurecr\.io/runtime:3\.3-\d+(@sha256:[0-9a-f]{64})?", base), base
    assert "pip install" not in dockerfile, "Astro's ONBUILD installs requirements.txt; nothing else is installed"


def dockerignore_rules() -> list[tuple[bool, re.Pattern[str]]]:
    """(exception?, regex) per line of .dockerignore, in order (Docker: the last rule that matches wins)."""
    rules = []
    for raw in (REPO / ".dockerignore").read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        exception = line.startswith("!")
        pattern = line.removeprefix("!").strip("/")
        regex = "".join(
            "(?:[^/]+/)*" if part == "**" else re.escape(part).replace(r"\*", "[^/]*").replace(r"\?", "[^/]") + "/"
            for part in pattern.split("/")
        )
        rules.append((exception, re.compile(regex.rstrip("/"))))
    return rules


def in_build_context(path: str) -> bool:
    """Whether Docker sends `path` (relative to the project) with the build context: a rule excludes a path when it
    matches the path or one of its folders."""
    parts = path.split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    included = True
    for exception, regex in dockerignore_rules():
        if any(regex.fullmatch(candidate) for candidate in candidates):
            included = exception
    return included


@pytest.mark.parametrize(
    "path",
    [
        ".env", ".env.production", "var/airflow/passwords.json", "var/stack/state.json", "var/airflow/airflow.db",
        ".git/config", ".venv/bin/python", ".venv-flink/bin/python", "airflow_settings.yaml",
        "airflow_settings.local.yaml", ".astro/config.local.yaml", "tests/conftest.py", "bench/run.py",
        "devstack/stack.py", "flink/Dockerfile", "logs/scheduler/latest", "airflow.db", "airflow.cfg",
        "dbt/target/manifest.json", "include/event_log/__pycache__/config.cpython-311.pyc", "requirements-dev.lock",
    ],
)  # fmt: skip
def test_secrets_local_state_and_development_files_stay_out_of_the_image(path):
    assert not in_build_context(path)


@pytest.mark.parametrize(
    "path",
    [
        "Dockerfile", "requirements.txt", "packages.txt", "dags/event_log_ingest.py", "include/event_log/config.py",
        "include/sql/ingest/copy_hour_files.sql", "include/event_log/objects/snowflake_objects.yaml",
        "plugins/event_log_deadlines.py", "dbt/dbt_project.yml", "dbt/profiles.yml", "dbt/models/staging/x.sql",
        ".astro/config.yaml",
    ],
)  # fmt: skip
def test_the_code_the_image_runs_stays_in_the_context(path):
    assert in_build_context(path)


def test_every_local_secret_the_stack_writes_is_under_an_ignored_folder():
    from devstack import stack

    for secret in (stack.STATE_FILE, stack.AIRFLOW_HOME / "passwords.json"):
        if secret.is_relative_to(REPO):
            assert not in_build_context(str(secret.relative_to(REPO))), secret
