"""Celery configuration for event_log's workers: Airflow's default, and the third-party libraries the tasks use
imported once in each worker's main process (`AIRFLOW__CELERY__CELERY_CONFIG_OPTIONS`, set in the Dockerfile and
by the local stack).

Airflow 3 runs every task in a process forked from a worker's pool process, which was forked from the worker's
main process. A module the main process has imported is in every task process already, copy-on-write; any other
is imported again by every task. The Snowflake connector, boto3 and the providers' hooks, Cosmos and dbt took
about 0.9 s of CPU in each `load_partition` and 2.7 s in each dbt build (bench/README.md); imported here, when
Celery's `worker_init` fires (in the main process, before the pool starts), they cost once per worker.

Only pinned third-party packages, which change with the image: never this project's modules, which a running
worker would then keep at their old version while DAG files changed beside them. Nothing here connects anywhere
or starts a Python thread. The Snowflake connector imports numpy, whose OpenBLAS starts its native thread pool;
OpenBLAS stops and restarts it around a fork (pthread_atfork), so the forked tasks are not affected (tested). The
scheduler imports this module too (the Celery executor reads its configuration); `worker_init` never fires there.
"""

from __future__ import annotations

import importlib
import logging

from airflow.providers.celery.executors.default_celery import DEFAULT_CELERY_CONFIG
from celery.signals import worker_init

CELERY_CONFIG = DEFAULT_CELERY_CONFIG

# What event_log's tasks import beyond Airflow itself, heaviest first (each import pulls in its dependencies).
PRELOADED_MODULES = (
    "dbt.cli.main",
    "snowflake.connector",
    "airflow.providers.snowflake.hooks.snowflake",
    "boto3",
    "airflow.providers.amazon.aws.hooks.s3",
    "cosmos",
    "cosmos.operators.local",
    "cosmos.operators.watcher",
)

log = logging.getLogger(__name__)


@worker_init.connect
def preload_task_modules(**_: object) -> None:
    """Import PRELOADED_MODULES in the worker's main process; one that fails to import is logged and skipped (the
    task that needs it then fails with the import error itself, naming it)."""
    for name in PRELOADED_MODULES:
        try:
            importlib.import_module(name)
        except Exception:
            log.exception("event_log: could not preload %s in the Celery worker", name)
