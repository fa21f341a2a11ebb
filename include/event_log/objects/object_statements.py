"""The statements that carry out a plan: include/sql/objects/ files rendered with the declaration's names,
every value (description, URL, pattern, comments) a bound parameter.

A created or replaced object gets all its declared grants (Snowflake drops the grants of a replaced object); an
altered one gets the statements of its changes only. The external table's COMMENT is its description followed by
a fingerprint of its rendered DDL: the plan replaces the table when the declared fingerprint differs.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from include.event_log.objects.declarations import FILE_FORMAT_OPTIONS, IDENTIFIER, EventLogObjects, SnowflakeObject
from include.event_log.objects.live_objects import GRANT_KINDS
from include.event_log.objects.object_plan import CREATE, REPLACE, UNCHANGED, ObjectPlan
from include.event_log.sql_templates import render_sql

Statement = tuple[str, dict[str, Any]]


def external_table_fingerprint(objects: EventLogObjects) -> str:
    """16 hex digits of the SHA-256 of the external table's CREATE as rendered, with its bound values."""
    sql, params = _create_external_table(objects, replace=False, comment=objects.external_table.description)
    return hashlib.sha256(json.dumps([sql, params], sort_keys=True).encode()).hexdigest()[:16]


def external_table_comment(description: str, fingerprint: str) -> str:
    """What live_objects.FINGERPRINT_IN_COMMENT reads back."""
    return f"{description} [ddl sha256:{fingerprint}]".lstrip()


def plan_statements(entry: ObjectPlan, objects: EventLogObjects) -> list[Statement]:
    """The statements of one object's entry in the plan, in the order they run."""
    if entry.action == UNCHANGED:
        return []
    if entry.kind == "schema":
        database, schema = entry.name.split(".")
        roles = objects.schemas()[(database, schema)]
        statements = [(render_sql("objects/create_schema.sql", database=database, schema=schema), {})]
        return (statements if entry.action == CREATE else []) + [
            _grant("schema", entry.name, role, ["USAGE"]) for role in sorted(roles) if _changes_role(entry, role)
        ]
    obj = next(o for o in objects.in_creation_order() if o.fqn == entry.name)
    if entry.action in (CREATE, REPLACE):
        replace = entry.action == REPLACE
        statements = [_CREATORS[obj.type](objects, obj, replace)]
        return statements + ([_grant(obj.type, obj.fqn, obj.role, list(obj.privileges))] if obj.role else [])
    return _ALTERERS[obj.type](objects, obj, entry) + _grant_changes(obj, entry)


def _create_external_table(objects: EventLogObjects, replace: bool, comment: str) -> Statement:
    ext = objects.external_table
    sql = render_sql("objects/create_external_table.sql", replace=replace, **objects.template_context())
    return sql, {"pattern": ext.pattern, "description": comment}


def _create_file_format(objects: EventLogObjects, obj: SnowflakeObject, replace: bool) -> Statement:
    sql = render_sql("objects/create_file_format.sql", replace=replace, **objects.template_context())
    return sql, {"description": obj.description}


def _create_stage(objects: EventLogObjects, obj: SnowflakeObject, replace: bool) -> Statement:
    sql = render_sql("objects/create_stage.sql", **objects.template_context())
    return sql, {"url": obj.url, "description": obj.description}


def _create_external(objects: EventLogObjects, obj: SnowflakeObject, replace: bool) -> Statement:
    comment = external_table_comment(obj.description, external_table_fingerprint(objects))
    return _create_external_table(objects, replace, comment)


def _create_table(objects: EventLogObjects, obj: SnowflakeObject, replace: bool) -> Statement:
    params: dict[str, Any] = {"description": obj.description}
    params |= {f"column_{i}": c.description for i, c in enumerate(obj.columns, start=1) if c.description}
    return render_sql("objects/create_table.sql", table=obj, replace=replace), params


def _alter_file_format(objects: EventLogObjects, obj: SnowflakeObject, entry: ObjectPlan) -> list[Statement]:
    options = {c.target: c.after for c in entry.changes if c.op == "option"}
    if not (options or _has(entry, "comment")):
        return []
    if invalid := {o: v for o, v in options.items() if v not in FILE_FORMAT_OPTIONS[o][0]}:
        raise ValueError(f"{obj.fqn}: file format options out of their allowed values: {invalid}")
    context = objects.template_context()
    sql = render_sql("objects/alter_file_format.sql", options=options, comment=_has(entry, "comment"), **context)
    return [(sql, {"description": obj.description})]


def _alter_stage(objects: EventLogObjects, obj: SnowflakeObject, entry: ObjectPlan) -> list[Statement]:
    changed = {c.op for c in entry.changes} & {"url", "storage_integration", "file_format", "comment"}
    context = objects.template_context()
    statements = []
    if changed:
        sql = render_sql("objects/alter_stage.sql", changed=changed, **context)
        statements.append((sql, {"url": obj.url, "description": obj.description}))
    if _has(entry, "directory"):
        statements.append((render_sql("objects/disable_stage_directory.sql", **context), {}))
    return statements


def _alter_table(objects: EventLogObjects, obj: SnowflakeObject, entry: ObjectPlan) -> list[Statement]:
    columns = {column.name: column for column in obj.columns}
    statements: list[Statement] = []
    for change in entry.changes:
        if change.op == "add_column":
            column = columns[change.target]
            sql = render_sql("objects/add_table_column.sql", table=obj, column=column)
            statements.append((sql, {"comment": column.description}))
        elif change.op == "drop_column":
            if not (IDENTIFIER.fullmatch(change.target) and change.target == change.target.upper()):
                raise ValueError(f"{obj.fqn}: cannot drop column {change.target!r}, not a plain identifier")
            statements.append((render_sql("objects/drop_table_column.sql", table=obj, column_name=change.target), {}))
        elif change.op == "column_comment":
            column = columns[change.target]
            sql = render_sql("objects/comment_table_column.sql", table=obj, column=column)
            statements.append((sql, {"comment": column.description}))
        elif change.op == "comment":
            sql = render_sql("objects/alter_table_comment.sql", table=obj)
            statements.append((sql, {"description": obj.description}))
    return statements


def _alter_nothing(objects: EventLogObjects, obj: SnowflakeObject, entry: ObjectPlan) -> list[Statement]:
    return []  # an external table changes only by being replaced: its alter entries are grants


def _grant_changes(obj: SnowflakeObject, entry: ObjectPlan) -> list[Statement]:
    statements = []
    for change in (c for c in entry.changes if c.op == "privileges"):
        before, after = _privileges(change.before), _privileges(change.after)
        if granted := sorted(after - before):
            statements.append(_grant(obj.type, obj.fqn, change.target, granted))
        if revoked := sorted(before - after):
            statements.append(_grant(obj.type, obj.fqn, change.target, revoked, verb="revoke"))
    return statements


def _grant(kind: str, name: str, role: str, privileges: list[str], verb: str = "grant") -> Statement:
    context = {"object_kind": GRANT_KINDS[kind], "object_name": name, "role": role, "privileges": privileges}
    return render_sql(f"objects/{verb}_privileges.sql", **context), {}


def _changes_role(entry: ObjectPlan, role: str) -> bool:
    return entry.action == CREATE or any(c.op == "privileges" and c.target == role for c in entry.changes)


def _has(entry: ObjectPlan, op: str) -> bool:
    return any(change.op == op for change in entry.changes)


def _privileges(listed: str | None) -> set[str]:
    return set(listed.split(", ")) if listed else set()


_CREATORS = {
    "file_format": _create_file_format,
    "stage": _create_stage,
    "external_table": _create_external,
    "table": _create_table,
}
_ALTERERS = {
    "file_format": _alter_file_format,
    "stage": _alter_stage,
    "external_table": _alter_nothing,
    "table": _alter_table,
}
