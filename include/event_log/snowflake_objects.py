"""Create the declared Snowflake objects idempotently, and refresh the external table."""

from __future__ import annotations

import logging
from typing import Any

from include.event_log.declarations import EventLogObjects, event_log_objects
from include.event_log.sql_templates import render_sql
from include.event_log.warehouse import run_statements

log = logging.getLogger(__name__)


def creation_statements(objects: EventLogObjects) -> list[tuple[str, dict[str, Any]]]:
    """The DDL of every declared object, in dependency order, with its bound values."""
    context = objects.template_context()
    schemas = {(o.database, o.schema) for o in objects.in_creation_order()}
    statements: list[tuple[str, dict[str, Any]]] = [
        (render_sql("objects/create_schema.sql", database=db, schema=schema), {}) for db, schema in sorted(schemas)
    ]
    pattern = objects.external_table.pattern
    statements += [
        (render_sql("objects/create_file_format.sql", **context), {"description": objects.file_format.description}),
        (
            render_sql("objects/create_stage.sql", **context),
            {"url": objects.stage.url, "description": objects.stage.description},
        ),
        (
            render_sql("objects/create_external_table.sql", **context),
            {"pattern": pattern, "description": objects.external_table.description},
        ),
    ]
    statements += [
        (render_sql("objects/create_table.sql", table=table), {"description": table.description})
        for table in objects.tables.values()
    ]
    return statements


def create_objects(conn_id: str) -> list[str]:
    """Run the DDL; every statement is IF NOT EXISTS, so a second run changes nothing."""
    objects = event_log_objects()
    results = run_statements(conn_id, creation_statements(objects))
    outcome = [str(rows[0][0]) if rows else "" for rows in results]
    for line in outcome:
        log.info("%s", line)
    return outcome


def refresh_external_table(conn_id: str, sub_path: str = "") -> dict[str, int]:
    """Register the files under the external table's location, or one sub-path of it.

    Returns how many files each refresh status (REGISTERED_NEW, REGISTERED_UPDATE, UNREGISTERED) counts.
    """
    context = event_log_objects().template_context()
    sql = render_sql("objects/refresh_external_table.sql", sub_path=sub_path, **context)
    (rows,) = run_statements(conn_id, [(sql, {"sub_path": sub_path} if sub_path else None)])
    statuses: dict[str, int] = {}
    for row in rows:
        statuses[str(row[1])] = statuses.get(str(row[1]), 0) + 1
    log.info("Refreshed %s/%s: %s", context["external_table"].fqn, sub_path, statuses)
    return statuses
