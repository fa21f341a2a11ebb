"""The Snowflake objects of the event log, as declared in snowflake_objects.yaml, validated.

Identifiers from this declaration are the only ones ever templated into SQL; they are checked here
against Snowflake's unquoted-identifier rules, so nothing else can reach a statement unbound.
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

from include.event_log.config import OBJECTS_FILE

IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_$]*")
COLUMN_TYPE = re.compile(r"[A-Z_]+(\(\d+(, ?\d+)?\))?")
OBJECT_TYPES = {"file_format", "stage", "external_table", "table"}
# What each declared native table is for; the code finds its tables by purpose, never by name.
# hour_changes: one row per load that changed an hour of the raw table, and the dbt build that modeled it;
# model_builds: one row per dbt build of the models (which hours, which changes, how it ended).
TABLE_PURPOSES = {"raw", "rejects", "check_results", "hour_changes", "model_builds"}
# Only these environment variables may be substituted into the declaration.
ALLOWED_ENV = {"EVENT_LOG_BUCKET", "EVENT_LOG_PREFIX", "EVENT_LOG_STORAGE_INTEGRATION"}
ENV_DEFAULTS = {"EVENT_LOG_BUCKET": "flink-event-log", "EVENT_LOG_PREFIX": "event_log"}
# Derived from the hour layout (EVENT_LOG_LAYOUT), never from free text: the external table's file
# pattern and its REPLICATION_HOUR expression.
DERIVED = ("EVENT_LOG_PART_FILE_PATTERN", "EVENT_LOG_REPLICATION_HOUR")


def _derived(text: str) -> str:
    from include.event_log.hour_layout import HourLayout

    if not any(f"${{{name}}}" in text for name in DERIVED):
        return text
    layout = HourLayout.from_env()
    values = {
        "EVENT_LOG_PART_FILE_PATTERN": layout.external_table_pattern(),
        "EVENT_LOG_REPLICATION_HOUR": layout.replication_hour_expression(),
    }
    for name, value in values.items():
        text = text.replace(f"${{{name}}}", value)
    return text


class DeclarationError(ValueError):
    """The YAML declaration of the Snowflake objects is invalid."""


def identifier(value: Any, what: str) -> str:
    text = str(value)
    if not IDENTIFIER.fullmatch(text):
        raise DeclarationError(f"{what} is not a valid Snowflake identifier: {text!r}")
    return text.upper()


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    expression: str | None = None
    description: str = ""


@dataclass(frozen=True)
class SnowflakeObject:
    name: str
    type: str
    database: str
    schema: str
    role: str
    description: str
    columns: tuple[Column, ...] = ()
    partition_by: tuple[str, ...] = ()
    file_format_options: dict[str, str] = field(default_factory=dict)
    url: str = ""
    storage_integration: str = ""
    pattern: str = ""
    stage: str = ""
    file_format: str = ""
    purpose: str = ""

    @property
    def fqn(self) -> str:
        return f"{self.database}.{self.schema}.{self.name}"


@dataclass(frozen=True)
class EventLogObjects:
    schedule: str
    file_format: SnowflakeObject
    stage: SnowflakeObject
    external_table: SnowflakeObject
    tables: dict[str, SnowflakeObject]

    @property
    def raw_table(self) -> SnowflakeObject:
        return self.tables["raw"]

    @property
    def rejects_table(self) -> SnowflakeObject:
        return self.tables["rejects"]

    @property
    def check_results_table(self) -> SnowflakeObject:
        return self.tables["check_results"]

    @property
    def hour_changes_table(self) -> SnowflakeObject:
        return self.tables["hour_changes"]

    @property
    def model_builds_table(self) -> SnowflakeObject:
        return self.tables["model_builds"]

    def in_creation_order(self) -> list[SnowflakeObject]:
        return [self.file_format, self.stage, self.external_table, *self.tables.values()]

    def template_context(self) -> dict[str, SnowflakeObject]:
        return {
            "file_format": self.file_format,
            "stage": self.stage,
            "external_table": self.external_table,
            "raw_table": self.raw_table,
            "rejects_table": self.rejects_table,
            "check_results_table": self.check_results_table,
            "hour_changes_table": self.hour_changes_table,
            "model_builds_table": self.model_builds_table,
        }


def _substitute_env(text: str) -> str:
    names = {m.group(1) for m in re.finditer(r"\$\{(\w+)\}", text)}
    unknown = names - ALLOWED_ENV
    if unknown:
        raise DeclarationError(f"the declaration may not read environment variables {sorted(unknown)}")
    values = {name: os.environ.get(name, ENV_DEFAULTS.get(name, "")).strip("/") for name in names}
    return Template(text).substitute(values)


def _column(raw: dict[str, Any], owner: str) -> Column:
    column_type = str(raw["type"]).upper()
    if not COLUMN_TYPE.fullmatch(column_type):
        raise DeclarationError(f"{owner}: column type {raw['type']!r} is not a Snowflake type name")
    return Column(
        name=identifier(raw["name"], f"{owner} column name"),
        type=column_type,
        expression=_derived(str(raw["expression"])) if raw.get("expression") else None,
        description=raw.get("description", ""),
    )


def _object(raw: dict[str, Any]) -> SnowflakeObject:
    name = identifier(raw["name"], "object name")
    object_type = raw["type"]
    if object_type not in OBJECT_TYPES:
        raise DeclarationError(f"{name}: type must be one of {sorted(OBJECT_TYPES)}, got {object_type!r}")
    options = {}
    for key, value in (raw.get("file_format_options") or {}).items():
        options[identifier(key, f"{name} file format option")] = str(value)
    integration = _substitute_env(str(raw.get("storage_integration", "")))
    return SnowflakeObject(
        name=name,
        type=object_type,
        database=identifier(raw["database"], f"{name} database"),
        schema=identifier(raw["schema"], f"{name} schema"),
        role=identifier(raw.get("role", "PUBLIC"), f"{name} role"),
        description=str(raw.get("description", "")),
        columns=tuple(_column(c, name) for c in raw.get("columns") or ()),
        partition_by=tuple(identifier(p, f"{name} partition_by") for p in raw.get("partition_by") or ()),
        file_format_options=options,
        url=_substitute_env(str(raw.get("url", ""))),
        storage_integration=identifier(integration, f"{name} storage integration") if integration else "",
        pattern=_derived(str(raw.get("pattern", ""))),
        stage=identifier(raw["stage"], f"{name} stage") if raw.get("stage") else "",
        file_format=identifier(raw["file_format"], f"{name} file format") if raw.get("file_format") else "",
        purpose=str(raw.get("purpose", "")),
    )


def load_objects(path: Path = OBJECTS_FILE) -> EventLogObjects:
    document = yaml.safe_load(path.read_text())
    objects = [_object(raw) for raw in document["objects"]]
    by_type: dict[str, list[SnowflakeObject]] = {}
    for obj in objects:
        by_type.setdefault(obj.type, []).append(obj)
    for object_type in OBJECT_TYPES - {"table"}:
        if len(by_type.get(object_type, [])) != 1:
            raise DeclarationError(f"the declaration needs exactly one object of type {object_type}")
    tables = {table.purpose: table for table in by_type.get("table", [])}
    if sorted(tables) != sorted(TABLE_PURPOSES) or len(by_type.get("table", [])) != len(TABLE_PURPOSES):
        raise DeclarationError(f"the declaration needs one table per purpose {sorted(TABLE_PURPOSES)}")
    catalog = EventLogObjects(
        schedule=str(document.get("schedule", "0 3 * * *")),
        file_format=by_type["file_format"][0],
        stage=by_type["stage"][0],
        external_table=by_type["external_table"][0],
        tables=tables,
    )
    for obj in (catalog.stage, catalog.external_table):
        if obj.file_format != catalog.file_format.name:
            raise DeclarationError(f"{obj.name} refers to file format {obj.file_format}, not declared")
    if catalog.external_table.stage != catalog.stage.name:
        raise DeclarationError(f"{catalog.external_table.name} refers to an undeclared stage")
    if not catalog.stage.url.startswith("s3://"):
        raise DeclarationError(f"{catalog.stage.name}: url must be an s3:// URL, got {catalog.stage.url!r}")
    column_names = {c.name for c in catalog.external_table.columns}
    if missing := set(catalog.external_table.partition_by) - column_names:
        raise DeclarationError(f"partition_by names undeclared columns {sorted(missing)}")
    return catalog


@cache
def event_log_objects() -> EventLogObjects:
    """The validated declaration, read once per process."""
    return load_objects()
