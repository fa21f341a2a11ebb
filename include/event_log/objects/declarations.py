"""The Snowflake objects of the event log, as declared in snowflake_objects.yaml, validated.

Identifiers from this declaration are the only ones templated into SQL (with the privileges and the column
names a plan revokes or drops, checked against PRIVILEGES and IDENTIFIER first); they are checked here against
Snowflake's unquoted-identifier rules, and option values against FILE_FORMAT_OPTIONS, so nothing else can reach a
statement unbound.

Length (about 280 lines): the validation of one YAML declaration, rule by rule, with the error each rule gives.
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

from include.event_log.config import DEFAULT_BUCKET, DEFAULT_PREFIX, OBJECTS_FILE

IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_$]*")
COLUMN_TYPE = re.compile(r"[A-Z_]+(\(\d+(, ?\d+)?\))?")
OBJECT_TYPES = {"file_format", "stage", "external_table", "table"}
# What the declared `role` may be granted on each type of object (Snowflake's privileges, OWNERSHIP aside).
PRIVILEGES = {
    "file_format": {"USAGE"},
    "stage": {"USAGE"},
    "external_table": {"SELECT", "REFERENCES"},
    "table": {"SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES"},
}
BOOLEAN = frozenset({"TRUE", "FALSE"})
# The JSON file format options a declaration may set: allowed values, and Snowflake's default, which a live
# format is compared with when the declaration leaves the option out.
_FALSE_BY_DEFAULT = ("ALLOW_DUPLICATE", "ENABLE_OCTAL", "IGNORE_UTF8_ERRORS", "REPLACE_INVALID_CHARACTERS",
                     "STRIP_NULL_VALUES", "STRIP_OUTER_ARRAY", "TRIM_SPACE")  # fmt: skip
FILE_FORMAT_OPTIONS: dict[str, tuple[frozenset[str], str]] = {
    "TYPE": (frozenset({"JSON"}), "JSON"),
    "COMPRESSION": (frozenset({"AUTO", "GZIP", "BZ2", "BROTLI", "ZSTD", "DEFLATE", "RAW_DEFLATE", "NONE"}), "AUTO"),
    "SKIP_BYTE_ORDER_MARK": (BOOLEAN, "TRUE"),
    **{name: (BOOLEAN, "FALSE") for name in _FALSE_BY_DEFAULT},
}
# What each declared native table is for; the code finds its tables by purpose, never by name.
# hour_changes: one row per load that changed an hour of the raw table, and the dbt build that modeled it;
# model_builds: one row per dbt build of the models (which hours, which changes, how it ended).
TABLE_PURPOSES = {"raw", "rejects", "check_results", "hour_changes", "model_builds"}
# Only these environment variables may be substituted into the declaration.
ALLOWED_ENV = {"EVENT_LOG_BUCKET", "EVENT_LOG_PREFIX", "EVENT_LOG_STORAGE_INTEGRATION"}
ENV_DEFAULTS = {"EVENT_LOG_BUCKET": DEFAULT_BUCKET, "EVENT_LOG_PREFIX": DEFAULT_PREFIX}
# Derived from the hour layout (EVENT_LOG_LAYOUT), never from free text: the external table's file
# pattern and its REPLICATION_HOUR expression.
DERIVED = ("EVENT_LOG_PART_FILE_PATTERN", "EVENT_LOG_REPLICATION_HOUR")


def _derived(text: str) -> str:
    from include.event_log.land.hour_layout import HourLayout

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
    privileges: tuple[str, ...] = ()
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

    def schemas(self) -> dict[tuple[str, str], set[str]]:
        """Each (database, schema) the objects live in, and the roles granted something in it (need USAGE)."""
        schemas: dict[tuple[str, str], set[str]] = {}
        for obj in self.in_creation_order():
            schemas.setdefault((obj.database, obj.schema), set()).update([obj.role] if obj.role else [])
        return schemas

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
    if "EVENT_LOG_PREFIX" in values:
        from include.event_log.land.hour_layout import checked_prefix

        values["EVENT_LOG_PREFIX"] = checked_prefix(values["EVENT_LOG_PREFIX"])
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


def _file_format_options(raw: dict[str, Any], name: str) -> dict[str, str]:
    options = {}
    for key, value in (raw or {}).items():
        option = identifier(key, f"{name} file format option")
        text = str(value).upper()  # YAML reads TRUE as a boolean: str() gives 'True'
        if option not in FILE_FORMAT_OPTIONS:
            raise DeclarationError(f"{name}: file format option {option} is not one of {sorted(FILE_FORMAT_OPTIONS)}")
        if text not in FILE_FORMAT_OPTIONS[option][0]:
            allowed = sorted(FILE_FORMAT_OPTIONS[option][0])
            raise DeclarationError(f"{name}: file format option {option} = {value!r}, expected one of {allowed}")
        options[option] = text
    return options


def _object(raw: dict[str, Any]) -> SnowflakeObject:
    name = identifier(raw["name"], "object name")
    object_type = raw["type"]
    if object_type not in OBJECT_TYPES:
        raise DeclarationError(f"{name}: type must be one of {sorted(OBJECT_TYPES)}, got {object_type!r}")
    options = _file_format_options(raw.get("file_format_options"), name)
    if object_type == "file_format" and options.get("TYPE") != "JSON":
        raise DeclarationError(f"{name}: file_format_options needs TYPE: JSON (the event log is JSON lines)")
    if object_type != "file_format" and options:
        raise DeclarationError(f"{name}: only a file_format takes file_format_options")
    privileges = tuple(sorted({identifier(p, f"{name} privilege") for p in raw.get("privileges") or ()}))
    if unknown := set(privileges) - PRIVILEGES[object_type]:
        raise DeclarationError(f"{name}: privileges {sorted(unknown)} do not apply to a {object_type}")
    role = identifier(raw["role"], f"{name} role") if raw.get("role") else ""
    if bool(role) != bool(privileges):
        raise DeclarationError(f"{name}: role and privileges go together (the role is granted the privileges)")
    columns = tuple(_column(c, name) for c in raw.get("columns") or ())
    if object_type in ("external_table", "table") and not columns:
        raise DeclarationError(f"{name}: a {object_type} needs columns")
    for column in columns:
        if (column.expression is None) == (object_type == "external_table"):
            what = "needs an expression" if object_type == "external_table" else "takes no expression"
            raise DeclarationError(f"{name}: column {column.name} of a {object_type} {what}")
    integration = _substitute_env(str(raw.get("storage_integration", "")))
    return SnowflakeObject(
        name=name,
        type=object_type,
        database=identifier(raw["database"], f"{name} database"),
        schema=identifier(raw["schema"], f"{name} schema"),
        role=role,
        description=str(raw.get("description", "")),
        privileges=privileges,
        columns=columns,
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
    """The validated declaration, read once per process: include/event_log/objects/snowflake_objects.yaml, or the file
    EVENT_LOG_OBJECTS_FILE names (another deployment's declaration; the tests' edited copies)."""
    return load_objects(Path(os.environ.get("EVENT_LOG_OBJECTS_FILE") or OBJECTS_FILE))
