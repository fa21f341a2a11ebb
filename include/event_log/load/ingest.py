"""What the event_log_ingest tasks do for one replication hour: list, COPY, refresh, report.

The data never passes through the worker: the worker lists object names and sends SQL; Snowflake
reads the files from the stage. Only the files the COPY rejected lines of are read back, bounded
(include/event_log/load/rejects.py).
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pendulum

from include.event_log.config import MAX_FILES_PER_COPY, IngestConfig
from include.event_log.land.hour_layout import HourObjects
from include.event_log.load.rejects import RejectScanError, keep_rejects
from include.event_log.model.modeling import change_params
from include.event_log.objects.declarations import event_log_objects
from include.event_log.sql_templates import render_sql
from include.event_log.warehouse import transaction

log = logging.getLogger(__name__)

HOUR = timedelta(hours=1)
INGEST_DAG_ID = "event_log_ingest"


class HourLoadError(RuntimeError):
    """An hour could not be loaded as listed; the transaction left the hour as it was."""


def hours_in_interval(start: datetime, end: datetime) -> list[dict[str, str]]:
    """One entry per replication hour in [start, end), in order (map index i is the i-th hour)."""
    hour = pendulum.instance(start).in_timezone("UTC").start_of("hour")
    end = pendulum.instance(end).in_timezone("UTC")
    hours = []
    while hour < end:
        hours.append({"hour_start": hour.isoformat()})
        hour = hour + HOUR
    if not hours:
        raise ValueError(f"the data interval [{start}, {end}) holds no whole hour")
    return hours


@dataclass
class HourListing:
    hour_start: str
    hour_path: str
    # Finished part files (names inside the hour folder), what the COPY loads, in batches of at most 1,000.
    files: list[str]
    batches: list[list[str]]
    # Known Flink by-products (in-progress, multipart temp objects, `_SUCCESS`): never loaded, not an error.
    ignored: list[str] = field(default_factory=list)
    # Anything else in the folder (a nested part file, a stray object): never loaded; the checks fail the hour.
    unexpected: list[str] = field(default_factory=list)
    # How the hour was completed, as the sensor found it: committed, or complete_empty (no folder).
    completion: dict[str, str] = field(default_factory=dict)


def list_committed_part_files(
    s3_hook: Any, hour_start: str, config: IngestConfig, completion: dict[str, str] | None = None
) -> dict[str, Any]:
    """The hour's finished part files (names relative to the hour folder), in COPY-sized batches, and
    every other object of the folder sorted into known by-products and unexpected objects."""
    hour = pendulum.parse(hour_start)
    prefix = config.hour_prefix(hour)
    keys = s3_hook.list_keys(bucket_name=config.bucket, prefix=prefix) or []
    objects = HourObjects.of(key.removeprefix(prefix) for key in keys)
    files = list(objects.loadable)
    batches = [files[i : i + MAX_FILES_PER_COPY] for i in range(0, len(files), MAX_FILES_PER_COPY)]
    log.info(
        "Hour %s: %d finished part files in %d COPY batches under s3://%s/%s; %d known by-products; "
        "%d unexpected objects %s",
        hour_start, len(files), len(batches), config.bucket, prefix, len(objects.byproducts),
        len(objects.unexpected), list(objects.unexpected[:10]),
    )  # fmt: skip
    listing = HourListing(
        hour_start, config.hour_path(hour), files, batches, list(objects.byproducts), list(objects.unexpected),
        dict(completion or {}),
    )  # fmt: skip
    return asdict(listing)


@dataclass
class HourLoadReport:
    hour_start: str
    files_listed: int
    files_loaded: int
    rows_parsed: int
    rows_loaded: int
    # Lines the warehouse rejected (the COPY's errors_seen, summed): the reject ratio is rows_rejected / rows_parsed.
    rows_rejected: int
    errors: int
    rows_replaced: int
    run_id: str
    reject_ratio: float = 0.0
    rejected_files: list[str] = field(default_factory=list)
    loaded_files: list[str] = field(default_factory=list)
    # Of rows_rejected, the lines kept in the rejects table; the others are counted per file (include/event_log/
    # rejects.py: why, and where a capped scan stopped).
    rejects_kept: int = 0
    rejects: dict[str, Any] = field(default_factory=dict)

    def as_table_row(self) -> str:
        return (
            f"{self.hour_start} files={self.files_loaded}/{self.files_listed} parsed={self.rows_parsed} "
            f"loaded={self.rows_loaded} rejected={self.rows_rejected} kept={self.rejects_kept} "
            f"replaced={self.rows_replaced}"
        )


def _copy_results(cursor: Any) -> list[dict[str, Any]]:
    names = [column[0].lower() for column in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def _first_errors(results: list[dict[str, Any]], hour_path: str) -> list[str]:
    """`<file> line <n>: <error>` of each file with rejected lines, as the warehouse reported its first one."""
    return [
        f"{hour_path}{str(r['file']).rsplit('/', 1)[-1]} line {r.get('first_error_line')}: {r.get('first_error')}"
        for r in results
        if int(r.get("errors_seen") or 0)
    ]


def copy_hour(
    conn_id: str, s3_hook: Any, listing: dict[str, Any], run_id: str, config: IngestConfig,
    dag_id: str = INGEST_DAG_ID,
) -> HourLoadReport:  # fmt: skip
    """Replace the hour's rows with exactly the listed files, in one transaction.

    The DELETE, every COPY batch and the row recording the change for the models (hour-changes table)
    commit together; any failure rolls all of them back, so the hour is either loaded from this
    listing, with the models due to follow it, or left as it was. Lines the warehouse rejects (not JSON, not
    UTF-8, too long) do not stop the COPY (ON_ERROR = CONTINUE): the COPY counts them, the reject path keeps them
    (include/event_log/load/rejects.py, bounded reads, in a transaction of its own), and the hour is committed when
    they are at most `max_reject_ratio` of its lines; above it, or when a file with rejected lines cannot be read
    back (corrupt gzip, a decompression bomb), the load rolls back and the task fails naming the files.
    """
    objects = event_log_objects()
    context = objects.template_context()
    hour_start = listing["hour_start"]
    hour = pendulum.parse(hour_start)
    replication_hour = hour.naive().isoformat(sep=" ")
    try:
        # XCom hands the path back: only the hour's own folder in the configured layout reaches the stage path.
        hour_path = config.layout.checked_hour_path(listing["hour_path"], hour)
    except ValueError as error:
        raise HourLoadError(f"hour {hour_start}: {error}") from None
    delete_sql = render_sql("ingest/delete_hour.sql", **context)
    copy_sql = render_sql("ingest/copy_hour_files.sql", hour_path=hour_path, **context)
    insert_change_sql = render_sql("ingest/insert_hour_change.sql", **context)
    # Times are written in UTC from here: CURRENT_TIMESTAMP() would follow the session's TIMEZONE.
    loaded_at = pendulum.now("UTC").naive().isoformat(sep=" ")

    results: list[dict[str, Any]] = []
    with transaction(conn_id) as cursor:
        cursor.execute(delete_sql, {"replication_hour": replication_hour})
        rows_replaced = cursor.rowcount or 0
        for batch in listing["batches"]:
            params = {
                "replication_hour": replication_hour,
                "run_id": run_id,
                "files": tuple(batch),
                "loaded_at": loaded_at,
            }
            cursor.execute(copy_sql, params)
            batch_results = _copy_results(cursor)
            reported = {str(r["file"]).rsplit("/", 1)[-1] for r in batch_results}
            if missing := sorted(set(batch) - reported):
                # Never commit a half-loaded hour: every listed file must be in the COPY's result.
                raise HourLoadError(
                    f"hour {hour_start}: COPY did not process {len(missing)} listed files {missing[:5]}"
                )
            results.extend(batch_results)
        rows_parsed = sum(int(r["rows_parsed"] or 0) for r in results)
        rows_rejected = sum(int(r["errors_seen"] or 0) for r in results)
        ratio = rows_rejected / rows_parsed if rows_parsed else 0.0
        try:
            rejects = keep_rejects(
                conn_id, s3_hook, config.bucket, config.hour_prefix(hour), hour_path, results,
                replication_hour=replication_hour, run_id=run_id, rejected_at=loaded_at, limits=config.rejects,
                context=context,
            )  # fmt: skip
        except RejectScanError as error:
            raise HourLoadError(
                f"hour {hour_start}: {error}; the load rolled back, the hour was left as it was"
            ) from None
        if ratio > config.max_reject_ratio:
            raise HourLoadError(
                f"hour {hour_start}: the warehouse rejected {rows_rejected} of {rows_parsed} lines "
                f"({ratio:.2%} > the {config.max_reject_ratio:.2%} allowed); the hour was left as it was, "
                f"{rejects.kept} of the lines are kept in the rejects table. Rejected: "
                + "; ".join([*_first_errors(results, hour_path)[:10], *(f.describe() for f in rejects.files[:10])])
            )
        cursor.execute(
            insert_change_sql,
            change_params(
                replication_hour=replication_hour, changed_at=loaded_at, dag_id=dag_id, run_id=run_id,
                rows_loaded=sum(int(r["rows_loaded"] or 0) for r in results), rows_replaced=rows_replaced,
                files_loaded=len(results),
            ),
        )  # fmt: skip

    report = HourLoadReport(
        hour_start=hour_start,
        files_listed=len(listing["files"]),
        files_loaded=len(results),
        rows_parsed=rows_parsed,
        rows_loaded=sum(int(r["rows_loaded"] or 0) for r in results),
        rows_rejected=rows_rejected,
        errors=rows_rejected,
        rows_replaced=rows_replaced,
        run_id=run_id,
        reject_ratio=round(ratio, 6),
        rejected_files=sorted(f.file_name for f in rejects.files),
        loaded_files=sorted(str(r["file"]).rsplit("/", 1)[-1] for r in results),
        rejects_kept=rejects.kept,
        rejects=rejects.as_dict(),
    )
    log.info("Loaded %s", report.as_table_row())
    return report


def load_committed_hour(
    s3_hook: Any, conn_id: str, hour_start: str, dag_run: Any, config: IngestConfig,
    completion: dict[str, str] | None = None,
) -> dict[str, Any]:  # fmt: skip
    """The `load_partition` task: list the hour's committed part files, load exactly those (one transaction),
    then register the hour's files in the external table. A retry does it all again: the load replaces the
    hour whole and the refresh is idempotent."""
    from include.event_log.load.refresh import refresh_external_table

    listing = list_committed_part_files(s3_hook, hour_start, config, completion)
    report = copy_hour(conn_id, s3_hook, listing, dag_run.run_id, config, dag_id=dag_run.dag_id)
    statuses = refresh_external_table(
        conn_id, sub_path=config.layout.checked_hour_path(listing["hour_path"], hour_start)
    )
    return {"listing": listing, "report": asdict(report), "external_table": statuses}
