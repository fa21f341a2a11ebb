"""The asset declaration: the providers' URIs, lineage from Kafka to every dbt model, one identity per asset."""

from __future__ import annotations

import json
from urllib.parse import urlsplit

import pytest

from include.event_log.config import DBT_PROJECT_DIR, IngestConfig
from include.event_log.glass.external_assets import ASSETS_FILE, asset_by_name, asset_catalog, load_catalog
from include.event_log.objects.declarations import DeclarationError, event_log_objects

MODELS = {
    "stg_event_log", "fct_runs", "fct_steps", "fct_asset_materializations", "fct_asset_materialization_metadata",
    "fct_asset_check_executions", "mart_usage_daily", "mart_ingestion_freshness",
}  # fmt: skip


def test_uris_are_the_providers_forms_and_pass_their_sanitizers():
    from airflow.providers.amazon.aws.assets.s3 import sanitize_uri as s3_sanitize
    from airflow.providers.snowflake.assets.snowflake import sanitize_uri as snowflake_sanitize
    from airflow.sdk.definitions.asset import _sanitize_uri

    config = IngestConfig.from_env()
    assets = asset_catalog().assets
    assert assets["kafka_dagster_event_log"].uri == "kafka://kafka:9092/dagster_event_log"
    assert assets["s3_flink_event_log"].uri == f"s3://{config.bucket}/{config.prefix}"
    assert (
        assets["raw_flink_event_log"].uri == f"snowflake://{config.snowflake_account}/EVENT_LOG/RAW/RAW_FLINK_EVENT_LOG"
    )
    for model in MODELS:
        assert assets[model].uri == f"snowflake://{config.snowflake_account}/EVENT_LOG/ANALYTICS/{model.upper()}"
    for asset in assets.values():
        # Airflow's own normalization leaves every URI as declared: the graph connects on these strings.
        assert _sanitize_uri(asset.uri) == asset.uri
        parts = urlsplit(asset.uri)
        if parts.scheme == "snowflake":
            assert snowflake_sanitize(parts) == parts
        elif parts.scheme == "s3":
            assert s3_sanitize(parts) == parts
        else:
            assert parts.scheme == "kafka" and parts.netloc and parts.path.strip("/")  # the Kafka provider's check


def test_the_raw_table_is_the_ingest_dags_asset():
    from include.event_log.glass.assets import raw_events_asset

    config = IngestConfig.from_env()
    raw = raw_events_asset(config)
    assert (raw.name, raw.uri) == ("raw_flink_event_log", config.asset_uri(event_log_objects().raw_table))
    assert raw == asset_by_name("raw_flink_event_log", config)


def test_lineage_runs_from_the_topic_to_every_model():
    catalog = asset_catalog()
    downstream: dict[str, set[str]] = {}
    for up, down in catalog.lineage():
        downstream.setdefault(up, set()).add(down)
    reached, frontier = set(), ["kafka_dagster_event_log"]
    while frontier:
        for name in downstream.get(frontier.pop(), ()):
            if name not in reached:
                reached.add(name)
                frontier.append(name)
    assert reached == set(catalog.assets) - {"kafka_dagster_event_log"}
    assert reached >= MODELS
    s3 = catalog.assets["s3_flink_event_log"]
    assert s3.producer.task_id == "flink_event_log_lander" and s3.upstream == ("kafka_dagster_event_log",)


def test_model_lineage_matches_dbt_manifest():
    manifest = json.loads((DBT_PROJECT_DIR / "target" / "manifest.json").read_text())
    models = {node["name"]: node for node in manifest["nodes"].values() if node["resource_type"] == "model"}
    assert set(models) == MODELS
    catalog = asset_catalog()
    for name, node in models.items():
        parents = {dep.rsplit(".", 1)[-1] for dep in node["depends_on"]["nodes"]}
        assert set(catalog.assets[name].upstream) == parents, name
        assert (node["database"], node["schema"]) == ("EVENT_LOG", "ANALYTICS")


def test_the_s3_asset_carries_its_watcher_everywhere(monkeypatch):
    monkeypatch.setenv("EVENT_LOG_WATCH_POLL_SECONDS", "7")
    s3 = asset_by_name("s3_flink_event_log")
    (watcher,) = s3.watchers
    classpath, kwargs = watcher.trigger.serialize()
    assert watcher.name == "s3_committed_hours"
    assert classpath == "event_log_watchers.CommittedHoursTrigger"
    assert kwargs["poll_interval"] == 7.0 and kwargs["bucket"] == IngestConfig.from_env().bucket
    assert asset_by_name("raw_flink_event_log").watchers == []


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda doc: doc.replace("upstream: [kafka_dagster_event_log]", "upstream: [fct_runs]"), "declared before"),
        (lambda doc: doc.replace("snowflake_object: EXT_FLINK_EVENT_LOG", "snowflake_object: NOPE"), "not declared"),
        (lambda doc: doc.replace("${EVENT_LOG_FLINK_UI_URL}", "${HOME}"), "environment variables"),
        (lambda doc: doc.replace("dbt_model: fct_steps", "dbt_model: fct_runs"), "share a URI"),
    ],
)
def test_invalid_declarations_are_refused(tmp_path, change, message):
    path = tmp_path / "assets.yaml"
    path.write_text(change(ASSETS_FILE.read_text()))
    with pytest.raises(DeclarationError, match=message):
        load_catalog(IngestConfig.from_env(), path)


def test_links_come_from_the_environment_and_unset_ones_are_left_out(monkeypatch):
    monkeypatch.setenv("EVENT_LOG_FLINK_UI_URL", "https://flink.example.com/#/job/abc")
    catalog = load_catalog(IngestConfig.from_env())
    assert catalog.assets["s3_flink_event_log"].producer.links == {"flink_ui": "https://flink.example.com/#/job/abc"}
    assert "links" not in catalog.assets["kafka_dagster_event_log"].extra  # EVENT_LOG_KAFKA_TOPIC_URL unset
