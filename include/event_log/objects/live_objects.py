"""The live state of the declared objects, read with SHOW and DESCRIBE (and COUNT for a table's rows).

Every statement is a file of include/sql/objects/ rendered with the declaration's validated names; the rows are
read by column name, so the extra columns a real account returns change nothing. Values are normalized here the
way the plan compares them: option values and URLs as strings, names upper-case and fully qualified.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from include.event_log.objects.declarations import EventLogObjects, SnowflakeObject
from include.event_log.sql_templates import render_sql

# How an external table's COMMENT carries the fingerprint of the DDL that created it (see object_statements).
FINGERPRINT_IN_COMMENT = re.compile(r"\[ddl sha256:([0-9a-f]{16})\]\s*$")
# SHOW GRANTS ON <kind>: the object kinds as Snowflake's grammar spells them.
GRANT_KINDS = {
    "schema": "SCHEMA",
    "file_format": "FILE FORMAT",
    "stage": "STAGE",
    "external_table": "EXTERNAL TABLE",
    "table": "TABLE",
}


@dataclass(frozen=True)
class LiveColumn:
    name: str
    type: str
    comment: str = ""


@dataclass(frozen=True)
class LiveObject:
    comment: str = ""
    properties: Mapping[str, str] = field(default_factory=dict)
    columns: tuple[LiveColumn, ...] = ()
    grants: Mapping[str, frozenset[str]] = field(default_factory=dict)  # role -> privileges (not OWNERSHIP)
    rows: int | None = None


def fingerprint_in_comment(comment: str) -> str | None:
    match = FINGERPRINT_IN_COMMENT.search(comment or "")
    return match[1] if match else None


def read_live_objects(cursor: Any, objects: EventLogObjects) -> dict[str, LiveObject]:
    """The live state of each declared object and schema that exists, by fully qualified name."""
    live: dict[str, LiveObject] = {}
    for database, schema in objects.schemas():
        names = {row["name"] for row in _rows(cursor, "objects/show_schemas.sql", database=database)}
        if schema not in names:
            continue  # nothing in it exists
        live[f"{database}.{schema}"] = LiveObject(grants=_grants(cursor, "schema", f"{database}.{schema}"))
        shown = {
            kind: {r["name"]: r for r in _rows(cursor, f"objects/show_{kind}.sql", database=database, schema=schema)}
            for kind in ("file_formats", "stages", "external_tables", "tables")
        }
        in_schema = [o for o in objects.in_creation_order() if (o.database, o.schema) == (database, schema)]
        for obj in in_schema:
            kind = {"file_format": "file_formats", "stage": "stages", "external_table": "external_tables"}
            row = shown[kind.get(obj.type, "tables")].get(obj.name)
            if row is None or (obj.type == "table" and str(row.get("is_external", "N")).upper() == "Y"):
                continue
            live[obj.fqn] = _READERS[obj.type](cursor, obj, row)
    return live


def _file_format(cursor: Any, obj: SnowflakeObject, row: dict[str, Any]) -> LiveObject:
    options = json.loads(row.get("format_options") or "{}")
    properties = {key.upper(): _option_text(value) for key, value in options.items()}
    properties["TYPE"] = str(row.get("type") or properties.get("TYPE", "")).upper()
    return LiveObject(row.get("comment") or "", properties, grants=_grants(cursor, obj.type, obj.fqn))


def _stage(cursor: Any, obj: SnowflakeObject, row: dict[str, Any]) -> LiveObject:
    described = {r["property"]: r["property_value"] for r in _rows(cursor, "objects/describe_stage.sql", stage=obj)}
    url = str(row.get("url") or "")
    if url.startswith("["):  # some accounts list a stage's URLs as a JSON array
        url = json.loads(url)[0]
    properties = {
        "url": url,
        "storage_integration": (row.get("storage_integration") or "").upper() or None,
        "file_format": _qualified(described.get("FORMAT_NAME") or "", obj) or None,
        "directory": "enabled" if str(row.get("directory_enabled") or "N").upper() == "Y" else "disabled",
    }
    return LiveObject(row.get("comment") or "", properties, grants=_grants(cursor, obj.type, obj.fqn))


def _external_table(cursor: Any, obj: SnowflakeObject, row: dict[str, Any]) -> LiveObject:
    described = _rows(cursor, "objects/describe_external_table.sql", external_table=obj)
    columns = tuple(LiveColumn(r["name"], r["type"]) for r in described if str(r["kind"]).upper() == "VIRTUAL")
    return LiveObject(row.get("comment") or "", columns=columns, grants=_grants(cursor, obj.type, obj.fqn))


def _table(cursor: Any, obj: SnowflakeObject, row: dict[str, Any]) -> LiveObject:
    described = _rows(cursor, "objects/describe_table.sql", table=obj)
    columns = tuple(LiveColumn(r["name"], r["type"], r.get("comment") or "") for r in described)
    (count,) = _rows(cursor, "objects/count_table_rows.sql", table=obj)
    grants = _grants(cursor, obj.type, obj.fqn)
    return LiveObject(row.get("comment") or "", columns=columns, grants=grants, rows=int(count["row_count"]))


_READERS = {"file_format": _file_format, "stage": _stage, "external_table": _external_table, "table": _table}


def _grants(cursor: Any, kind: str, name: str) -> dict[str, frozenset[str]]:
    granted: dict[str, set[str]] = {}
    for row in _rows(cursor, "objects/show_grants.sql", object_kind=GRANT_KINDS[kind], object_name=name):
        if str(row["granted_to"]).upper() == "ROLE" and str(row["privilege"]).upper() != "OWNERSHIP":
            granted.setdefault(str(row["grantee_name"]).upper(), set()).add(str(row["privilege"]).upper())
    return {role: frozenset(privileges) for role, privileges in granted.items()}


def _rows(cursor: Any, template: str, **context: Any) -> list[dict[str, Any]]:
    cursor.execute(render_sql(template, **context))
    names = [str(column[0]).lower() for column in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def _option_text(value: Any) -> str:
    """A SHOW FILE FORMATS option value as the declaration spells it: TRUE / FALSE, upper-case keywords."""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    return str(value).upper()


def _qualified(name: str, obj: SnowflakeObject) -> str:
    parts = [part.strip('"') for part in name.split(".") if part]
    return ".".join([obj.database, obj.schema][: 3 - len(parts)] + parts).upper() if parts else ""
