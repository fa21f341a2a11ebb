"""The assets the event-log DAGs produce and read, defined once (a DAG file never imports another)."""

from __future__ import annotations

from airflow.sdk import Asset

from include.event_log.config import IngestConfig
from include.event_log.declarations import event_log_objects


def raw_events_asset(config: IngestConfig) -> Asset:
    """The raw table: one asset event per loaded hour, its `extra` the hour's load report and checks."""
    return Asset(name="raw_flink_event_log", uri=config.asset_uri(event_log_objects().raw_table))


def snowflake_objects_asset(config: IngestConfig) -> Asset:
    """The declared Snowflake objects: one asset event per applied plan (its `extra` the plan, object by object).

    Its URI is the external table's: the one object the snowflake_objects DAG alone defines and fully refreshes. Its
    name is the objects' schema (`event_log.raw.objects`): a declaration moved to another schema is another asset,
    as its URI is (Airflow keeps an asset's name and URI paired).
    """
    ext = event_log_objects().external_table
    return Asset(name=f"{ext.database}.{ext.schema}.objects".lower(), uri=config.asset_uri(ext))
