"""
### event_log_assets: the whole pipeline's assets and lineage, from Kafka to the dbt models (never runs)

**What**: one placeholder task per asset written from others, as declared in
`include/event_log/glass/external_assets.yaml`: its `inlets` are the upstream assets, its `outlets` the asset.
Airflow registers an asset only when a DAG references it, and draws lineage asset -> task -> asset, so
this DAG puts the systems Airflow does not run into its asset graph (Assets view): the Kafka topic ->
the Flink lander -> the S3 hourly partitions -> stage and external table -> raw table and rejects ->
the dbt models. Each asset's owner, description and links (Flink UI, Kafka topic) are in its `extra`;
each task's doc says which real job or task does that step.

**Schedule**: none, and it is never triggered: the tasks do nothing. The assets' events come from the
systems themselves: `event_log_ingest` (raw table, models), the `s3_committed_hours` watcher on the S3
asset (`event_log_commits`), and anyone through the REST API or `python -m include.event_log.glass.asset_events`.

**If it fails to parse**: the declaration is invalid (the import error names the asset); fix the YAML.
"""

from __future__ import annotations

from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.sdk import dag

from include.event_log.config import IngestConfig, Tag, default_args
from include.event_log.glass.external_assets import asset_by_name, asset_catalog

CONFIG = IngestConfig.from_env()


def step_doc(asset) -> str:
    producer = asset.producer
    lines = [f"Writes `{asset.name}` ({asset.uri}) from {', '.join(f'`{up}`' for up in asset.upstream)}."]
    if producer:
        lines.append(producer.description)
        if producer.owner:
            lines.append(f"Owner: {producer.owner}.")
        lines += [f"- {label}: {url}" for label, url in producer.links.items()]
    else:
        lines.append("Built by event_log_ingest's `dbt_models` task group (one `dbt build` per run).")
    return "\n\n".join(lines)


@dag(
    dag_id="event_log_assets",
    schedule=None,
    start_date=CONFIG.start_date,
    catchup=False,
    default_args=default_args(),
    tags=[Tag.EVENT_LOG, Tag.ASSETS],
    doc_md=__doc__,
)
def event_log_assets():
    for asset in asset_catalog().derived():
        EmptyOperator(
            task_id=asset.producer.task_id if asset.producer else f"dbt_model_{asset.name}",
            inlets=[asset_by_name(up, CONFIG) for up in asset.upstream],
            outlets=[asset_by_name(asset.name, CONFIG)],
            doc_md=step_doc(asset),
        )


event_log_assets()
