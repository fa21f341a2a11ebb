"""The assets the event-log DAGs produce and read, defined once (a DAG file never imports another)."""

from __future__ import annotations

from airflow.sdk import Asset

from include.event_log.config import IngestConfig
from include.event_log.glass.external_assets import asset_by_name


def raw_events_asset(config: IngestConfig) -> Asset:
    """The raw table: one asset event per loaded hour, its `extra` the hour's load report and checks.

    Built from the asset declaration (external_assets.yaml) so that every DAG referencing the table
    gives Airflow the same name, URI, group and extra.
    """
    return asset_by_name("raw_flink_event_log", config)


def snowflake_objects_asset(config: IngestConfig) -> Asset:
    """The declared Snowflake objects: one asset event per applied plan (its `extra` the plan, object by object).

    It is the external table's asset (as declared in external_assets.yaml): the one object the snowflake_objects
    DAG alone defines and fully refreshes (Airflow keeps an asset's name and URI paired, so there is one).
    """
    return asset_by_name("ext_flink_event_log", config)
