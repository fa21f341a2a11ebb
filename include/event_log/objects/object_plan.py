"""The plan: for each declared object, what applying the declaration changes on the live one (pure, no I/O).

One entry per object (and per schema): create, alter (each property from what to what), replace (and why), or
unchanged. A change that loses data is destructive: dropping a column of a native table, retyping one (which
replaces the table and loses its rows). A plan with destructive changes is refused unless explicitly allowed.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any

from include.event_log.objects.declarations import FILE_FORMAT_OPTIONS, PRIVILEGES, EventLogObjects, SnowflakeObject
from include.event_log.objects.live_objects import LiveObject, fingerprint_in_comment

CREATE, ALTER, REPLACE, UNCHANGED = "create", "alter", "replace", "unchanged"
ALLOW_DESTRUCTIVE_HOW = (
    "To apply them, trigger snowflake_objects with the param allow_destructive_changes=true "
    '(conf {"allow_destructive_changes": true}), or set EVENT_LOG_ALLOW_DESTRUCTIVE_CHANGES=true for every run, '
    "or run `python -m include.event_log.objects.snowflake_objects apply --allow-destructive-changes`."
)
# SQL type names as DESCRIBE reports them: synonyms resolved, default length / precision / scale spelled out.
_SYNONYMS = {"STRING": "VARCHAR", "TEXT": "VARCHAR", "CHAR": "VARCHAR", "CHARACTER": "VARCHAR", "INT": "NUMBER",
             "INTEGER": "NUMBER", "BIGINT": "NUMBER", "SMALLINT": "NUMBER", "TINYINT": "NUMBER", "BYTEINT": "NUMBER",
             "DECIMAL": "NUMBER", "NUMERIC": "NUMBER", "DOUBLE": "FLOAT", "REAL": "FLOAT", "FLOAT4": "FLOAT",
             "FLOAT8": "FLOAT", "DATETIME": "TIMESTAMP_NTZ", "TIMESTAMP": "TIMESTAMP_NTZ"}  # fmt: skip
_DEFAULT_SIZE = {"VARCHAR": "(16777216)", "NUMBER": "(38,0)", "TIMESTAMP_NTZ": "(9)", "TIMESTAMP_LTZ": "(9)",
                 "TIMESTAMP_TZ": "(9)", "TIME": "(9)", "BINARY": "(8388608)"}  # fmt: skip


class DestructiveChangeRefused(RuntimeError):
    """The plan drops or retypes a column, or replaces a table that holds rows, and that was not allowed."""


@dataclass(frozen=True)
class Change:
    op: str  # what changes: comment, option, url, storage_integration, file_format, directory, add_column, ...
    target: str  # the option, column or role it concerns ("" for the object itself)
    before: str | None
    after: str | None
    destructive: bool = False

    @property
    def field(self) -> str:
        return {"option": f"option {self.target}", "add_column": f"column {self.target}",
                "drop_column": f"column {self.target}", "retype_column": f"column {self.target} type",
                "column_comment": f"column {self.target} comment",
                "privileges": f"privileges of role {self.target}"}.get(self.op, self.op)  # fmt: skip

    def describe(self) -> str:
        flag = " [destructive]" if self.destructive else ""
        return f"{self.field}: {_shown(self.before)} -> {_shown(self.after)}{flag}"


@dataclass(frozen=True)
class ObjectPlan:
    name: str  # DATABASE.SCHEMA[.OBJECT]
    kind: str  # schema, file_format, stage, external_table, table
    action: str
    changes: tuple[Change, ...] = ()
    why: str = ""

    def describe(self) -> str:
        head = f"{self.name} ({self.kind}): {self.action}" + (f" ({self.why})" if self.why else "")
        return "\n".join([head, *(f"    {change.describe()}" for change in self.changes)])

    def as_dict(self) -> dict[str, Any]:
        changes = [{"field": c.field, **asdict(c)} for c in self.changes]
        return {"object": self.name, "kind": self.kind, "action": self.action, "why": self.why, "changes": changes}


@dataclass(frozen=True)
class Plan:
    objects: tuple[ObjectPlan, ...]

    @property
    def changed(self) -> list[ObjectPlan]:
        return [entry for entry in self.objects if entry.action != UNCHANGED]

    @property
    def destructive(self) -> list[tuple[ObjectPlan, Change]]:
        return [(entry, change) for entry in self.objects for change in entry.changes if change.destructive]

    def describe(self) -> str:
        changed = len(self.changed)
        summary = f"{changed} of {len(self.objects)} objects change" if changed else "No changes: objects match."
        return "\n".join([summary, *(entry.describe() for entry in self.objects)])

    def as_dicts(self) -> list[dict[str, Any]]:
        return [entry.as_dict() for entry in self.objects]

    def refuse_destructive(self, allowed: bool) -> None:
        if self.destructive and not allowed:
            listed = "; ".join(f"{entry.name} {change.describe()}" for entry, change in self.destructive)
            raise DestructiveChangeRefused(
                f"Refused {len(self.destructive)} destructive change(s), nothing was changed: {listed}. "
                + ALLOW_DESTRUCTIVE_HOW
            )


def plan_objects(objects: EventLogObjects, live: dict[str, LiveObject], fingerprint: str) -> Plan:
    """Compare every declared object with its live state (missing from `live`: it does not exist)."""
    entries = []
    for (database, schema), roles in objects.schemas().items():
        name = f"{database}.{schema}"
        if (current := live.get(name)) is None:
            entries.append(ObjectPlan(name, "schema", CREATE))
        else:
            changes = [c for role in sorted(roles) if (c := _grants(role, {"USAGE"}, {"USAGE"}, current))]
            entries.append(ObjectPlan(name, "schema", ALTER if changes else UNCHANGED, tuple(changes)))
    file_format = _file_format(objects.file_format, live.get(objects.file_format.fqn))
    entries += [file_format, _stage(objects.stage, objects.file_format.fqn, live.get(objects.stage.fqn))]
    ext = objects.external_table
    entries.append(_external_table(ext, live.get(ext.fqn), fingerprint, file_format.action == REPLACE))
    entries += [_table(table, live.get(table.fqn)) for table in objects.tables.values()]
    return Plan(tuple(entries))


def canonical_type(type_name: str) -> str:
    match = re.fullmatch(r"\s*([A-Z_0-9]+)\s*(?:\(\s*(\d+)\s*(?:,\s*(\d+)\s*)?\))?\s*", type_name.upper())
    if not match:
        return type_name.upper()
    base = _SYNONYMS.get(match[1], match[1])
    if match[2] is None:
        return base + _DEFAULT_SIZE.get(base, "")
    return f"NUMBER({match[2]},{match[3] or 0})" if base == "NUMBER" else f"{base}({match[2]})"


def _file_format(obj: SnowflakeObject, live: LiveObject | None) -> ObjectPlan:
    if live is None:
        return ObjectPlan(obj.fqn, obj.type, CREATE)
    live_type = live.properties.get("TYPE", "CSV")
    if live_type != obj.file_format_options["TYPE"]:
        change = Change("option", "TYPE", live_type, obj.file_format_options["TYPE"])
        return ObjectPlan(obj.fqn, obj.type, REPLACE, (change,), "a file format's TYPE cannot be altered")
    changes = [
        Change("option", option, live.properties.get(option, default), obj.file_format_options.get(option, default))
        for option, (_, default) in FILE_FORMAT_OPTIONS.items()
        if live.properties.get(option, default) != obj.file_format_options.get(option, default)
    ]
    return _altered(obj, live, changes)


def _stage(obj: SnowflakeObject, file_format: str, live: LiveObject | None) -> ObjectPlan:
    if live is None:
        return ObjectPlan(obj.fqn, obj.type, CREATE)
    declared = {"url": obj.url, "file_format": file_format, "directory": "disabled"}
    if obj.storage_integration:  # none declared (the local stack): the live stage keeps its own
        declared["storage_integration"] = obj.storage_integration
    changes = [Change(op, "", live.properties.get(op), value) for op, value in declared.items()]
    return _altered(obj, live, [c for c in changes if c.before != c.after])


def _external_table(
    obj: SnowflakeObject, live: LiveObject | None, fingerprint: str, format_replaced: bool
) -> ObjectPlan:
    if live is None:
        return ObjectPlan(obj.fqn, obj.type, CREATE)
    live_fingerprint = fingerprint_in_comment(live.comment)
    if live_fingerprint == fingerprint and not format_replaced:
        return _altered(obj, live, [])
    changes = [Change("ddl_fingerprint", "", live_fingerprint, fingerprint)] if live_fingerprint != fingerprint else []
    changes += _column_changes(obj, live, external=True)
    why = "its file format is replaced" if format_replaced else "its declared DDL differs from the live one's"
    return ObjectPlan(obj.fqn, obj.type, REPLACE, tuple(changes), why + "; it is refreshed once replaced")


def _table(obj: SnowflakeObject, live: LiveObject | None) -> ObjectPlan:
    if live is None:
        return ObjectPlan(obj.fqn, obj.type, CREATE)
    changes = _column_changes(obj, live, external=False)
    if any(change.op == "retype_column" for change in changes):
        rows = f"its {live.rows} rows are lost" if live.rows else "it holds no rows"
        why = f"a column's type changes only by replacing the table: {rows}"
        return ObjectPlan(obj.fqn, obj.type, REPLACE, tuple(changes), why)
    return _altered(obj, live, changes)


def _column_changes(obj: SnowflakeObject, live: LiveObject, external: bool) -> list[Change]:
    """Added, dropped, retyped columns and column comments. Replacing an external table is how its columns
    change and nothing is lost (it is refreshed): none of its changes is destructive."""
    destructive = not external
    live_columns = {column.name: column for column in live.columns}
    declared = {column.name for column in obj.columns}
    changes = [
        Change("add_column", c.name, None, canonical_type(c.type)) for c in obj.columns if c.name not in live_columns
    ]
    changes += [
        Change("drop_column", c.name, canonical_type(c.type), None, destructive)
        for c in live.columns
        if c.name not in declared
    ]
    for column in obj.columns:
        if (current := live_columns.get(column.name)) is None:
            continue
        before, after = canonical_type(current.type), canonical_type(column.type)
        if before != after:
            changes.append(Change("retype_column", column.name, before, after, destructive))
        elif not external and (current.comment or "") != column.description:
            changes.append(Change("column_comment", column.name, current.comment or None, column.description or None))
    return changes


def _altered(obj: SnowflakeObject, live: LiveObject, changes: list[Change]) -> ObjectPlan:
    """Add the comment and grant changes every kind of object has; ALTER if anything changes."""
    if (live.comment or "") != obj.description and obj.type != "external_table":  # its comment is the fingerprint's
        changes.append(Change("comment", "", live.comment or None, obj.description or None))
    if obj.role and (change := _grants(obj.role, set(obj.privileges), PRIVILEGES[obj.type], live)):
        changes.append(change)
    return ObjectPlan(obj.fqn, obj.type, ALTER if changes else UNCHANGED, tuple(changes))


def _grants(role: str, declared: set[str], managed: set[str], live: LiveObject) -> Change | None:
    """The role's privileges on the object: only the declared role, only the privileges declarations may name."""
    current = set(live.grants.get(role, ())) & managed
    if current == declared:
        return None
    return Change("privileges", role, ", ".join(sorted(current)) or None, ", ".join(sorted(declared)) or None)


def _shown(value: str | None) -> str:
    return "(none)" if value is None else repr(value)
