"""astronomer-cosmos configuration of the event log's dbt project, built once and reused by name.

The DAG renders the project from `dbt/target/manifest.json` (produced by `make dbt-manifest` and by
the image build, never at parse time), so parsing runs no dbt subprocess and makes no network call.
"""

from __future__ import annotations

from cosmos import ExecutionConfig, ProfileConfig, ProjectConfig, RenderConfig
from cosmos.constants import ExecutionMode, InvocationMode, LoadMode, TestBehavior
from cosmos.profiles import SnowflakeUserPasswordProfileMapping

from include.event_log.config import DBT_PROJECT_DIR, SNOWFLAKE_CONN_ID

MANIFEST_PATH = DBT_PROJECT_DIR / "target" / "manifest.json"


class SnowflakeConnectionProfileMapping(SnowflakeUserPasswordProfileMapping):
    """The user/password mapping, plus the connection extra `protocol` next to `host` and `port`.

    The same connection then reaches a PrivateLink/proxy endpoint or the local stack's emulator
    (http) for dbt exactly as it does for the hooks (include.event_log.warehouse).
    """

    airflow_param_mapping = {**SnowflakeUserPasswordProfileMapping.airflow_param_mapping, "protocol": "extra.protocol"}


PROJECT_CONFIG = ProjectConfig(
    dbt_project_path=DBT_PROJECT_DIR,
    manifest_path=MANIFEST_PATH,
    project_name="event_log",
    install_dbt_deps=False,
)
PROFILE_CONFIG = ProfileConfig(
    profile_name="event_log",
    target_name="airflow",
    profile_mapping=SnowflakeConnectionProfileMapping(conn_id=SNOWFLAKE_CONN_ID, profile_args={"schema": "ANALYTICS"}),
)
# One `dbt build` per hour (the watcher's producer task) instead of one dbt invocation per model and per
# test: each invocation pays dbt's import and a full re-parse (the vars change every run), about 5-8 s,
# which made the models take minutes per hour. Each model and each model's tests still get their own task
# (deferrable consumer sensors reporting the producer's per-node results), so a failing model or test
# fails its own task; on that task's retry Cosmos re-runs just that node.
EXECUTION_CONFIG = ExecutionConfig(
    execution_mode=ExecutionMode.WATCHER,
    # dbt runs in the worker's Python (dbt-core's programmatic runner): no subprocess start.
    invocation_mode=InvocationMode.DBT_RUNNER,
    setup_operator_args={
        # Two runs must not build at once: they share each model's transient __dbt_tmp table.
        "max_active_tis_per_dag": 1,
        # A producer retry only skips (Cosmos never runs a second `dbt build` in one run); the consumers'
        # retries re-run the nodes that failed.
        "retries": 0,
    },
)
RENDER_CONFIG = RenderConfig(
    load_method=LoadMode.DBT_MANIFEST,
    test_behavior=TestBehavior.AFTER_EACH,
    # Tests spanning several models (relationships, cross-layer counts) run in the hour's `dbt build` after all
    # their parents, and each parent's test task reports them with its own tests. Detached into tasks of their
    # own, Cosmos 1.15.1's watcher looks their result up under a key the build never writes: the task logged
    # "skipped by the dbt command" whatever the test's result.
    should_detach_multiple_parents_tests=False,
    emit_datasets=False,
)
# The run's data interval reaches the incremental models as dbt vars (see dbt/dbt_project.yml).
DBT_OPERATOR_ARGS = {
    "vars": {
        "data_interval_start": "{{ data_interval_start }}",
        "data_interval_end": "{{ data_interval_end }}",
    },
    # How often a deferred model or test task looks for its result (Cosmos' default is 10 s).
    "poke_interval": 3,
}
