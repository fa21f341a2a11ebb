"""include/event_log/celery_config.py: the Celery workers' configuration, which imports the tasks' third-party
libraries once in each worker's main process (worker_init) so that the tasks forked from it do not."""

from __future__ import annotations

import json
import logging
import re
import subprocess
import sys
from importlib.metadata import packages_distributions
from pathlib import Path

from airflow.providers.celery.executors.default_celery import DEFAULT_CELERY_CONFIG

from devstack.stack import CELERY_CONFIG_OPTIONS
from include.event_log import celery_config

REPO = Path(__file__).resolve().parents[2]

# In a fresh interpreter: what Celery's worker_init signal makes importable without an import, and what it starts.
PROBE = r"""
import json, os, sys, threading
from celery.signals import worker_init
import include.event_log.celery_config as config

def fds():
    return sorted(os.listdir("/proc/self/fd"))

before = {name: name in sys.modules for name in config.PRELOADED_MODULES}
fds_before, threads_before = fds(), threading.active_count()
worker_init.send(sender=None)
# A task process is a fork of the worker: it must find the libraries there and run (numpy's OpenBLAS pool included).
read, write = os.pipe()
pid = os.fork()
if pid == 0:
    import numpy
    matrix = numpy.ones((300, 300))
    found = all(name in sys.modules for name in config.PRELOADED_MODULES)
    os.write(write, json.dumps({"found": found, "product": float((matrix @ matrix)[0, 0])}).encode())
    os._exit(0)
os.waitpid(pid, 0)
child = json.loads(os.read(read, 1000))
os.close(read), os.close(write)
print(json.dumps({
    "before": before,
    "after": {name: name in sys.modules for name in config.PRELOADED_MODULES},
    "new_fds": sorted(set(fds()) - set(fds_before)),
    "python_threads": [threads_before, threading.active_count()],
    "child": child,
}))
"""


def test_the_configuration_is_airflows_default_and_the_stack_and_the_image_name_it():
    assert celery_config.CELERY_CONFIG is DEFAULT_CELERY_CONFIG
    module, _, attribute = CELERY_CONFIG_OPTIONS.rpartition(".")
    assert (module, attribute) == (celery_config.__name__, "CELERY_CONFIG")
    dockerfile = (REPO / "Dockerfile").read_text()
    assert f"ENV AIRFLOW__CELERY__CELERY_CONFIG_OPTIONS={CELERY_CONFIG_OPTIONS}\n" in dockerfile


def test_worker_init_imports_the_libraries_once_and_a_forked_task_finds_them(tmp_path):
    result = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=REPO, capture_output=True, text=True, timeout=120,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO), "HOME": str(tmp_path), "AIRFLOW_HOME": str(tmp_path)},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    # Not imported by reading the configuration (the scheduler reads it too): only when a worker starts.
    assert not any(report["before"][name] for name in ("dbt.cli.main", "snowflake.connector")), report
    assert all(report["after"].values()), report
    assert report["child"] == {"found": True, "product": 300.0}
    assert report["new_fds"] == [], "preloading must not open a file or a connection"
    assert report["python_threads"] == [1, 1]


def test_a_library_that_fails_to_import_is_logged_and_the_others_still_load(monkeypatch, caplog):
    monkeypatch.setattr(celery_config, "PRELOADED_MODULES", ("event_log_no_such_module", "json"))
    monkeypatch.delitem(sys.modules, "json")
    with caplog.at_level(logging.ERROR, logger=celery_config.__name__):
        celery_config.preload_task_modules()
    assert "could not preload event_log_no_such_module" in caplog.text
    assert "json" in sys.modules


def test_only_pinned_third_party_libraries_are_preloaded():
    # This project's modules would stay at their old version in a running worker while DAG files change.
    own = {"include", "dags", "plugins", "devstack", "bench", "flink", "tests"}
    own |= {path.stem for path in (REPO / "plugins").glob("*.py")}
    pinned = dict(
        m.groups() for line in (REPO / "requirements.txt").read_text().splitlines()
        if (m := re.match(r"([A-Za-z0-9_.-]+)(?:\[[^\]]*\])?==(\S+)", line))
    )  # fmt: skip
    pinned = {name.lower().replace("_", "-"): version for name, version in pinned.items()}
    distributions = packages_distributions()
    for name in celery_config.PRELOADED_MODULES:
        top = name.split(".")[0]
        assert top not in own, name
        names = {d.lower().replace("_", "-") for d in distributions.get(top, [])}
        if top == "airflow":  # a namespace: the provider that holds the module
            names = {"apache-airflow-providers-" + name.split(".")[2]}
        assert names & pinned.keys(), f"{name} comes from {names}, none pinned in requirements.txt"
