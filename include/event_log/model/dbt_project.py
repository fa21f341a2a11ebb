"""astronomer-cosmos configuration of the event log's dbt project, built once and reused by name.

The DAG renders the project from `dbt/target/manifest.json` (produced by `make dbt-manifest` and by
the image build, never at parse time), so parsing runs no dbt subprocess and makes no network call.

The task group holds one task per model (include/event_log/model/dbt_tasks.py ModelBuilt, made by Cosmos from
the manifest through a node converter) and one `build` task (ChangedHoursBuild) that runs a single
`dbt build` of every model and its tests over the hours changed since the last successful build. Both
are Cosmos' watcher operators underneath: the build streams each node's result to XCom as dbt finishes
it, and each model task reports its node.
"""

from __future__ import annotations

from datetime import timedelta
from functools import cached_property
from typing import Any

from cosmos import ExecutionConfig, ProfileConfig, ProjectConfig, RenderConfig
from cosmos.constants import DbtResourceType, ExecutionMode, InvocationMode, LoadMode, TestBehavior
from cosmos.exceptions import CosmosValueError
from cosmos.profiles import (
    BaseProfileMapping,
    SnowflakeEncryptedPrivateKeyFilePemProfileMapping,
    SnowflakeEncryptedPrivateKeyPemProfileMapping,
    SnowflakePrivateKeyFilePemProfileMapping,
    SnowflakePrivateKeyPemProfileMapping,
    SnowflakeUserPasswordProfileMapping,
)

from include.event_log.config import DBT_POOL, DBT_PROJECT_DIR, SNOWFLAKE_CONN_ID, env_seconds
from include.event_log.model.dbt_tasks import ChangedHoursBuild, model_task

MANIFEST_PATH = DBT_PROJECT_DIR / "target" / "manifest.json"
BUILD_TASK_ID = "build"


def _with_protocol(mapping: type[BaseProfileMapping]) -> type[BaseProfileMapping]:
    """A Cosmos Snowflake mapping that also passes the connection extra `protocol` (next to `host` and `port`)."""
    return type(mapping.__name__, (mapping,), {
        "airflow_param_mapping": {**mapping.airflow_param_mapping, "protocol": "extra.protocol"},
    })  # fmt: skip


# Cosmos's Snowflake mappings, most specific first: the first one that claims the connection is used. A private key
# (its content or a file, encrypted when the connection's password is its passphrase) wins over the password.
SNOWFLAKE_MAPPINGS = tuple(
    _with_protocol(mapping)
    for mapping in (
        SnowflakeEncryptedPrivateKeyPemProfileMapping,
        SnowflakePrivateKeyPemProfileMapping,
        SnowflakeEncryptedPrivateKeyFilePemProfileMapping,
        SnowflakePrivateKeyFilePemProfileMapping,
        SnowflakeUserPasswordProfileMapping,
    )
)


class SnowflakeConnectionProfileMapping(BaseProfileMapping):
    """dbt's profile from the Snowflake connection, password or key pair, chosen when dbt runs.

    The connection is read only then (never at DAG parse): a private key in its extra (`private_key_content` or
    `private_key_file`, with the password as passphrase when set) gives Cosmos's key-pair mapping, else the
    user/password one. Each passes the extra `protocol` next to `host` and `port`, so the same connection reaches a
    PrivateLink/proxy endpoint or the local stack's emulator for dbt as it does for the hooks; plain http is
    refused unless the host is loopback (include.event_log.warehouse.refuse_plain_http).
    """

    airflow_connection_type = "snowflake"
    dbt_profile_type = "snowflake"
    # What a mock profile holds (Cosmos renders from the manifest, so none is needed to parse the DAG).
    required_fields = SnowflakeUserPasswordProfileMapping.required_fields

    @cached_property
    def chosen(self) -> BaseProfileMapping:
        """The mapping that claims the connection, looked up once per process (a secrets backend is asked once)."""
        for mapping in SNOWFLAKE_MAPPINGS:
            candidate = mapping(self.conn_id, self.profile_args, dbt_config_vars=self.dbt_config_vars)
            if candidate.can_claim_connection():
                return candidate
        raise CosmosValueError(
            f"connection {self.conn_id!r}: dbt needs a Snowflake connection with account, login, warehouse, database "
            "and schema, and a password or a private key (extra private_key_content or private_key_file)"
        )

    def can_claim_connection(self) -> bool:
        return any(m(self.conn_id, self.profile_args).can_claim_connection() for m in SNOWFLAKE_MAPPINGS)

    @property
    def profile(self) -> dict[str, Any]:
        from include.event_log.warehouse import refuse_plain_http

        profile = self.chosen.profile
        refuse_plain_http(self.conn_id, profile.get("protocol"), profile.get("host"))
        return profile

    @property
    def env_vars(self) -> dict[str, str]:
        return self.chosen.env_vars


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
EXECUTION_CONFIG = ExecutionConfig(
    # The model tasks are rendered by the node converter below and the build task is added by
    # `add_build_task`; LOCAL only tells Cosmos how a model task runs dbt when it re-runs its model.
    execution_mode=ExecutionMode.LOCAL,
    # dbt runs in the worker's Python (dbt-core's programmatic runner): no subprocess start.
    invocation_mode=InvocationMode.DBT_RUNNER,
)
RENDER_CONFIG = RenderConfig(
    load_method=LoadMode.DBT_MANIFEST,
    # Each model's tests run in the build right after it, and its task reports them with the model.
    test_behavior=TestBehavior.NONE,
    node_converters={DbtResourceType.MODEL: model_task},
    emit_datasets=False,
)
DBT_OPERATOR_ARGS = {
    # How often a model task looks for its result while it waits in the triggerer (Cosmos' default is 10 s).
    "poke_interval": 3,
    # A model task re-running its model takes the one dbt slot, like a build.
    "pool": DBT_POOL,
}


def model_assets(group: Any) -> list[Any]:
    """The assets of the group's models (declared in external_assets.yaml, URIs the Snowflake provider's)."""
    from include.event_log.glass.external_assets import model_asset

    names = sorted(node.name for node in group.dbt_graph.filtered_nodes.values() if node.resource_type.value == "model")
    return [model_asset(name) for name in names]


def group_cache_dir(group: Any) -> Any:
    """The Cosmos cache directory of the group (its model tasks were given it), where dbt's saved parse is kept
    between runs on a worker: with it a build parses only what changed in the project, not the whole of it."""
    return next((task.cache_dir for task in group.children.values() if getattr(task, "cache_dir", None)), None)


def add_build_task(group: Any, inlets: list[Any] | None = None, **kwargs: Any) -> ChangedHoursBuild:
    """The group's `build` task: one `dbt build` of every model and its tests over the changed hours. It reads
    the raw table (inlets) and updates every model (outlets): the asset graph draws raw table -> models."""
    return ChangedHoursBuild(
        cache_dir=group_cache_dir(group),
        task_id=BUILD_TASK_ID,
        task_group=group,
        project_dir=str(DBT_PROJECT_DIR),
        profile_config=PROFILE_CONFIG,
        manifest_filepath=str(MANIFEST_PATH),
        install_deps=False,
        invocation_mode=InvocationMode.DBT_RUNNER,
        emit_datasets=False,
        tests_per_model=group.dbt_graph.tests_per_model,
        snowflake_conn_id=SNOWFLAKE_CONN_ID,
        # One build at a time across runs and workers: runs share each model's transient __dbt_tmp table.
        pool=DBT_POOL,
        # A build that cannot reach the warehouse would wait for ever (the connector retries a query without end):
        # past this, the try fails and the task's retries take over, the pending hours still pending.
        execution_timeout=timedelta(seconds=env_seconds("EVENT_LOG_DBT_BUILD_TIMEOUT_SECONDS", 3600, positive=True)),
        inlets=inlets or [],
        outlets=model_assets(group),
        **kwargs,
    )
