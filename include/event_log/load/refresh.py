"""Refresh: register an hour's files in the external table, the last step of an hour's load (also run after
the declared objects are applied).

The external table reads the same S3 folders as the COPY; its REFRESH with the hour's sub-path is idempotent.
"""

from __future__ import annotations

import logging

from include.event_log.objects.declarations import EventLogObjects, event_log_objects
from include.event_log.sql_templates import render_sql
from include.event_log.warehouse import run_statements

log = logging.getLogger(__name__)


def refresh_external_table(
    conn_id: str, sub_path: str = "", *, objects: EventLogObjects | None = None
) -> dict[str, int]:
    """Register the files under the external table's location, or one sub-path of it.

    Returns how many files each refresh status (REGISTERED_NEW, REGISTERED_UPDATE, UNREGISTERED) counts.
    """
    context = (objects or event_log_objects()).template_context()
    sql = render_sql("objects/refresh_external_table.sql", sub_path=sub_path, **context)
    (rows,) = run_statements(conn_id, [(sql, {"sub_path": sub_path} if sub_path else None)])
    statuses: dict[str, int] = {}
    for row in rows:
        statuses[str(row[1])] = statuses.get(str(row[1]), 0) + 1
    log.info("Refreshed %s/%s: %s", context["external_table"].fqn, sub_path, statuses)
    return statuses
