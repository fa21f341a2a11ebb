"""The audit's readers: an S3 listing of the window and the warehouse's loads, turned into the plain data that
`include.event_log.audit.findings.compare_hours` compares, and `audit_window`, which chains them for the audit task.

Apart from the comparison so that importing the comparison loads neither a hook nor a warehouse client.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from include.event_log.audit.findings import (
    AuditConfig,
    AuditReport,
    HourInS3,
    HourLoad,
    compare_hours,
    hours_in_s3,
    loads_from_warehouse,
)
from include.event_log.config import IngestConfig
from include.event_log.land.hour_layout import utc

log = logging.getLogger(__name__)


def list_window_objects(
    s3_hook: Any, config: IngestConfig, start: datetime, end: datetime, now: datetime | None = None
) -> dict[datetime, HourInS3]:
    """Every object of the hour folders in [start, end) and of the day after (later hours decide whether an
    hour with no folder is complete): one paginated listing per day."""
    start, end = utc(start), utc(end)
    objects: list[tuple[str, datetime]] = []
    day = start.replace(hour=0, minute=0, second=0, microsecond=0)
    while day <= end:
        prefix = config.layout.day_prefix(day)
        objects += [(o["Key"], o["LastModified"]) for o in s3_hook.iter_file_metadata(prefix, config.bucket)]
        day += timedelta(days=1)
    folders = hours_in_s3(config.layout, objects, start, end, now or datetime.now(UTC))
    log.info(
        "s3://%s/%s: %d hour folders in [%s, %s), %d complete, %d part files",
        config.bucket, config.layout.root, len(folders), start, end, sum(f.committed for f in folders.values()),
        sum(len(f.part_files) for f in folders.values()),
    )  # fmt: skip
    return folders


def loaded_hours(
    conn_id: str, start: datetime, end: datetime
) -> tuple[dict[datetime, HourLoad], dict[datetime, datetime]]:
    """What was loaded of each hour of [start, end), and the oldest pending (not modeled) change of each."""
    from include.event_log.objects.declarations import event_log_objects
    from include.event_log.sql_templates import render_sql
    from include.event_log.warehouse import run_statements

    context = event_log_objects().template_context()
    params = {"window_start": f"{utc(start):%Y-%m-%d %H:%M:%S}", "window_end": f"{utc(end):%Y-%m-%d %H:%M:%S}"}
    file_rows, change_rows = run_statements(
        conn_id,
        [
            (render_sql("audit/select_loaded_files.sql", **context), params),
            (render_sql("audit/select_hour_changes.sql", **context), params),
        ],
    )
    loads = loads_from_warehouse(file_rows, [(hour, latest) for hour, latest, _ in change_rows])
    pending = {utc(hour): utc(oldest) for hour, _, oldest in change_rows if oldest is not None}
    return loads, pending


def audit_window(
    s3_hook: Any,
    conn_id: str,
    window_end: datetime,
    config: IngestConfig,
    audit_config: AuditConfig,
    now: datetime | None = None,
) -> AuditReport:
    """Read S3 and the warehouse for the window ending at `window_end`; compare."""
    now = now or datetime.now(UTC)
    end = utc(window_end).replace(minute=0, second=0, microsecond=0)
    start = end - audit_config.window
    s3_hours = list_window_objects(s3_hook, config, start, end, now)
    loads, pending = loaded_hours(conn_id, start, end)
    report = compare_hours(start, end, s3_hours, loads, now, audit_config.grace, pending)
    log.log(logging.WARNING if report.findings else logging.INFO, "%s", report.message())
    return report
