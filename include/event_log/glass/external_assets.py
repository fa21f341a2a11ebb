"""The pipeline's assets as declared in external_assets.yaml: validated, with the providers' URIs.

Airflow identifies an asset by its name and URI together, so every DAG must build an asset the same
way: the ingest DAG's raw table and the dbt build's model outlets use `asset_by_name()` (or
`model_asset()`), never an `Asset(...)` of their own. The S3 asset always carries its watcher: each
DAG file that references it writes the asset's watchers again when parsed, and a reference without
the watcher would remove it.

Everything here is cheap at parse time: one YAML file, the environment, no network.

Length (about 250 lines): the validation of one YAML declaration, rule by rule, and the URIs built from it.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from string import Template
from typing import Any

import yaml

from include.event_log.config import AWS_CONN_ID, PACKAGE_DIR, IngestConfig, env_int, env_seconds, env_text
from include.event_log.objects.declarations import DeclarationError, event_log_objects

ASSETS_FILE = PACKAGE_DIR / "glass" / "external_assets.yaml"
# The only environment variables the declaration may read, with their defaults.
ENV_DEFAULTS = {
    "EVENT_LOG_KAFKA_TOPIC_URL": "",
    "EVENT_LOG_FLINK_UI_URL": "",
    "EVENT_LOG_S3_CONSOLE_URL": "",
}
KAFKA_BOOTSTRAP_ENV, KAFKA_TOPIC_ENV = "EVENT_LOG_KAFKA_BOOTSTRAP", "EVENT_LOG_KAFKA_TOPIC"
NAME = re.compile(r"[a-z][a-z0-9_]*")
LOCATIONS = ("kafka", "s3", "snowflake_object", "dbt_model")
WATCHER_NAME = "s3_committed_hours"
# The trigger's import path in the plugins folder (on sys.path in every Airflow component).
WATCHER_TRIGGER_MODULE = "event_log_watchers"


@dataclass(frozen=True)
class Producer:
    """The step (outside Airflow, or a task of another DAG) that writes an asset from its upstream."""

    task_id: str
    description: str
    owner: str = ""
    links: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class DeclaredAsset:
    name: str
    location: str
    uri: str
    owner: str
    description: str
    links: dict[str, str]
    upstream: tuple[str, ...]
    producer: Producer | None

    @property
    def extra(self) -> dict[str, Any]:
        """What the Airflow UI shows of the asset besides its name and URI."""
        extra: dict[str, Any] = {"owner": self.owner, "description": self.description, "location": self.location}
        if self.links:
            extra["links"] = self.links
        return extra


@dataclass(frozen=True)
class AssetCatalog:
    group: str
    assets: dict[str, DeclaredAsset]

    def lineage(self) -> list[tuple[str, str]]:
        """(upstream, downstream) name pairs, in declaration order."""
        return [(up, asset.name) for asset in self.assets.values() for up in asset.upstream]

    def derived(self) -> list[DeclaredAsset]:
        """The assets written from others: one placeholder task each in the lineage DAG."""
        return [asset for asset in self.assets.values() if asset.upstream]


def _substitute(text: str) -> str:
    names = set(re.findall(r"\$\{(\w+)\}", text))
    if unknown := names - ENV_DEFAULTS.keys():
        raise DeclarationError(f"the asset declaration may not read environment variables {sorted(unknown)}")
    return Template(text).substitute({name: os.environ.get(name, ENV_DEFAULTS[name]) for name in names})


def _links(raw: dict[str, Any] | None) -> dict[str, str]:
    """Declared links with a value in this environment (an unset URL is left out, not shown empty)."""
    links = {str(key): _substitute(str(value)) for key, value in (raw or {}).items()}
    return {key: value for key, value in links.items() if value}


def kafka_uri() -> str:
    """The Kafka provider's asset URI of the topic: kafka://<bootstrap server>/<topic>."""
    bootstrap = env_text(KAFKA_BOOTSTRAP_ENV, "kafka:9092")
    topic = env_text(KAFKA_TOPIC_ENV, "dagster_event_log")
    if not re.fullmatch(r"[A-Za-z0-9.\-]+(:\d+)?", bootstrap):
        raise DeclarationError(f"{KAFKA_BOOTSTRAP_ENV} must be one host[:port], got {bootstrap!r}")
    if not re.fullmatch(r"[A-Za-z0-9._\-]{1,249}", topic):
        raise DeclarationError(f"{KAFKA_TOPIC_ENV} is not a Kafka topic name: {topic!r}")
    return f"kafka://{bootstrap}/{topic}"


def s3_uri(config: IngestConfig) -> str:
    """The Amazon provider's asset URI of the landing location: s3://<bucket>/<prefix>."""
    return f"s3://{config.bucket}/{config.prefix}" if config.prefix else f"s3://{config.bucket}"


def snowflake_uri(config: IngestConfig, database: str, schema: str, name: str) -> str:
    """The Snowflake provider's asset URI, snowflake://<account>/<DATABASE>/<SCHEMA>/<NAME>, as
    IngestConfig.asset_uri builds it for the declared tables."""
    return f"snowflake://{config.snowflake_account}/{database}/{schema}/{name}"


def _uri(raw: dict[str, Any], location: str, config: IngestConfig, models: dict[str, str]) -> str:
    if location == "kafka":
        return kafka_uri()
    if location == "s3":
        return s3_uri(config)
    if location == "snowflake_object":
        objects = {obj.name: obj for obj in event_log_objects().in_creation_order()}
        name = str(raw["snowflake_object"]).upper()
        if name not in objects:
            raise DeclarationError(f"{raw['name']}: {name} is not declared in snowflake_objects.yaml")
        obj = objects[name]
        return snowflake_uri(config, obj.database, obj.schema, obj.name)
    model = str(raw["dbt_model"])
    if not NAME.fullmatch(model):
        raise DeclarationError(f"{raw['name']}: {model!r} is not a dbt model name")
    return snowflake_uri(config, models["database"], models["schema"], model.upper())


def _asset(raw: dict[str, Any], config: IngestConfig, models: dict[str, str]) -> DeclaredAsset:
    name = str(raw.get("name", ""))
    if not NAME.fullmatch(name):
        raise DeclarationError(f"asset name {name!r} must be lower_snake_case")
    locations = [key for key in LOCATIONS if key in raw]
    if len(locations) != 1:
        raise DeclarationError(f"{name}: give exactly one location of {LOCATIONS}, got {locations}")
    if not raw.get("owner") or not raw.get("description"):
        raise DeclarationError(f"{name}: owner and description are required")
    producer = None
    if produced_by := raw.get("produced_by"):
        if not NAME.fullmatch(str(produced_by.get("task_id", ""))):
            raise DeclarationError(f"{name}: produced_by.task_id must be lower_snake_case")
        producer = Producer(
            task_id=str(produced_by["task_id"]),
            description=str(produced_by.get("description", "")),
            owner=str(produced_by.get("owner", "")),
            links=_links(produced_by.get("links")),
        )
    return DeclaredAsset(
        name=name,
        location=locations[0],
        uri=_uri(raw, locations[0], config, models),
        owner=str(raw["owner"]),
        description=" ".join(str(raw["description"]).split()),
        links=_links(raw.get("links")),
        upstream=tuple(str(up) for up in raw.get("upstream") or ()),
        producer=producer,
    )


def load_catalog(config: IngestConfig, path: Path = ASSETS_FILE) -> AssetCatalog:
    document = yaml.safe_load(path.read_text())
    models = {key: str(value).upper() for key, value in document["dbt_models"].items()}
    assets: dict[str, DeclaredAsset] = {}
    for raw in document["assets"]:
        asset = _asset(raw, config, models)
        if asset.name in assets:
            raise DeclarationError(f"asset {asset.name} is declared twice")
        if missing := [up for up in asset.upstream if up not in assets]:
            # Upstream first: the file reads in the order the data flows, and no cycle can be declared.
            raise DeclarationError(f"{asset.name}: upstream {missing} must be declared before it")
        assets[asset.name] = asset
    uris = [asset.uri for asset in assets.values()]
    if len(set(uris)) != len(uris):
        raise DeclarationError("two declared assets share a URI")
    producers = [asset.producer.task_id for asset in assets.values() if asset.producer]
    if len(set(producers)) != len(producers):
        raise DeclarationError("two declared assets share a producer task_id")
    return AssetCatalog(group=str(document.get("group", "event_log")), assets=assets)


@cache
def asset_catalog() -> AssetCatalog:
    """The validated declaration, read once per process (configuration from the environment)."""
    return load_catalog(IngestConfig.from_env())


@dataclass(frozen=True)
class WatchSettings:
    """How the S3 watcher polls: every `poll_interval` seconds, the hours of the last `lookback_hours`."""

    poll_interval: float
    lookback_hours: int

    @classmethod
    def from_env(cls) -> WatchSettings:
        return cls(
            env_seconds("EVENT_LOG_WATCH_POLL_SECONDS", 60, positive=True),
            env_int("EVENT_LOG_WATCH_LOOKBACK_HOURS", 72, minimum=1, maximum=24 * 366),
        )


def _watchers(declared: DeclaredAsset, config: IngestConfig) -> list:
    if declared.location != "s3":
        return []
    from airflow.sdk import AssetWatcher
    from event_log_watchers import CommittedHoursTrigger

    settings = WatchSettings.from_env()
    trigger = CommittedHoursTrigger(
        bucket=config.bucket,
        prefix=config.prefix,
        aws_conn_id=AWS_CONN_ID,
        poll_interval=settings.poll_interval,
        lookback_hours=settings.lookback_hours,
        layout=config.layout.as_dict(),
    )
    return [AssetWatcher(name=WATCHER_NAME, trigger=trigger)]


def asset_by_name(name: str, config: IngestConfig | None = None):
    """The Airflow asset of a declared name: same name, URI, group and extra in every DAG."""
    from airflow.sdk import Asset

    declared = asset_catalog().assets[name]
    config = config or IngestConfig.from_env()
    return Asset(
        name=declared.name,
        uri=declared.uri,
        group=asset_catalog().group,
        extra=declared.extra,
        watchers=_watchers(declared, config),
    )


def model_asset(model_name: str):
    """The asset of a dbt model (for the dbt build task's outlets): its declared name is the model's."""
    declared = asset_catalog().assets[model_name]
    if declared.location != "dbt_model":
        raise KeyError(f"{model_name} is not a declared dbt model")
    return asset_by_name(model_name)
