"""What the event_log_ingest tasks do for one replication hour: list, COPY, refresh, report.

The data never passes through the worker: the worker lists object names and sends SQL; Snowflake
reads the files from the stage.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pendulum

from include.event_log.config import MAX_FILES_PER_COPY, IngestConfig
from include.event_log.declarations import event_log_objects
from include.event_log.hour_layout import HourObjects
from include.event_log.modeling import change_params
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
class RejectedLine:
    file_name: str
    line_number: int
    error: str
    rejected_record: str


@dataclass
class HourLoadReport:
    hour_start: str
    files_listed: int
    files_loaded: int
    rows_parsed: int
    rows_loaded: int
    rows_rejected: int
    errors: int
    rows_replaced: int
    run_id: str
    reject_ratio: float = 0.0
    rejected_files: list[str] = field(default_factory=list)
    loaded_files: list[str] = field(default_factory=list)

    def as_table_row(self) -> str:
        return (
            f"{self.hour_start} files={self.files_loaded}/{self.files_listed} parsed={self.rows_parsed} "
            f"loaded={self.rows_loaded} rejected={self.rows_rejected} replaced={self.rows_replaced}"
        )


def _copy_results(cursor: Any) -> list[dict[str, Any]]:
    names = [column[0].lower() for column in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def rejected_lines(s3_hook: Any, bucket: str, key: str, file_name: str) -> list[RejectedLine]:
    """The lines of one part file that are not JSON (a truncated last line included).

    Only files the COPY reported errors for are read here, so the data passes through the worker
    only on this exception path; the lines are kept whole in the rejects table.
    """
    import gzip
    import json

    body = s3_hook.get_key(key, bucket_name=bucket).get()["Body"].read()
    if key.endswith(".gz"):
        body = gzip.decompress(body)
    rejected = []
    for number, raw_line in enumerate(body.split(b"\n"), 1):
        text = raw_line.decode("utf-8", errors="replace")
        if not text.strip():
            continue
        try:
            json.loads(text)
        except ValueError as error:
            rejected.append(RejectedLine(file_name, number, f"Error parsing JSON: {error}", text))
    return rejected


def copy_hour(
    conn_id: str, s3_hook: Any, listing: dict[str, Any], run_id: str, config: IngestConfig,
    dag_id: str = INGEST_DAG_ID,
) -> HourLoadReport:  # fmt: skip
    """Replace the hour's rows with exactly the listed files, in one transaction.

    The DELETE, every COPY batch and the row recording the change for the models (hour-changes table)
    commit together; any failure rolls all of them back, so the hour is either loaded from this
    listing, with the models due to follow it, or left as it was. Lines that are not JSON do not stop
    the COPY (ON_ERROR = CONTINUE): they are counted and kept in the rejects table, and the hour is
    committed when they are at most `max_reject_ratio` of its lines; above it the load rolls back,
    the rejects are still kept, and the task fails naming the files and lines.
    """
    objects = event_log_objects()
    context = objects.template_context()
    hour_start = listing["hour_start"]
    replication_hour = pendulum.parse(hour_start).naive().isoformat(sep=" ")
    delete_sql = render_sql("ingest/delete_hour.sql", **context)
    copy_sql = render_sql("ingest/copy_hour_files.sql", hour_path=listing["hour_path"], **context)
    delete_rejects_sql = render_sql("ingest/delete_hour_rejects.sql", **context)
    insert_reject_sql = render_sql("ingest/insert_reject.sql", **context)
    insert_change_sql = render_sql("ingest/insert_hour_change.sql", **context)
    hour_prefix = config.hour_prefix(pendulum.parse(hour_start))
    # Times are written in UTC from here: CURRENT_TIMESTAMP() would follow the session's TIMEZONE.
    loaded_at = pendulum.now("UTC").naive().isoformat(sep=" ")

    def store_rejects(cursor: Any, rejects: list[RejectedLine]) -> None:
        cursor.execute(delete_rejects_sql, {"replication_hour": replication_hour})
        for reject in rejects:
            params = {"replication_hour": replication_hour, "run_id": run_id, "rejected_at": loaded_at}
            params.update(asdict(reject))
            cursor.execute(insert_reject_sql, params)

    results: list[dict[str, Any]] = []
    rejects: list[RejectedLine] = []
    try:
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
            for result in results:
                if int(result["errors_seen"] or 0):
                    name = str(result["file"]).rsplit("/", 1)[-1]
                    found = rejected_lines(s3_hook, config.bucket, hour_prefix + name, listing["hour_path"] + name)
                    rejects.extend(found)
            rows_parsed = sum(int(r["rows_parsed"] or 0) for r in results)
            ratio = len(rejects) / rows_parsed if rows_parsed else 0.0
            if ratio > config.max_reject_ratio:
                raise HourLoadError(
                    f"hour {hour_start}: {len(rejects)} of {rows_parsed} lines are not JSON "
                    f"({ratio:.2%} > the {config.max_reject_ratio:.2%} allowed); the hour was left as it was. "
                    "Rejected: " + "; ".join(f"{r.file_name} line {r.line_number}: {r.error}" for r in rejects[:10])
                )
            store_rejects(cursor, rejects)
            cursor.execute(
                insert_change_sql,
                change_params(
                    replication_hour=replication_hour, changed_at=loaded_at, dag_id=dag_id, run_id=run_id,
                    rows_loaded=sum(int(r["rows_loaded"] or 0) for r in results), rows_replaced=rows_replaced,
                    files_loaded=len(results),
                ),
            )  # fmt: skip
    except HourLoadError:
        if rejects:
            # The load rolled back; the rejected lines are still kept, for whoever fixes the data.
            with transaction(conn_id) as cursor:
                store_rejects(cursor, rejects)
        raise

    report = HourLoadReport(
        hour_start=hour_start,
        files_listed=len(listing["files"]),
        files_loaded=len(results),
        rows_parsed=rows_parsed,
        rows_loaded=sum(int(r["rows_loaded"] or 0) for r in results),
        rows_rejected=len(rejects),
        errors=sum(int(r["errors_seen"] or 0) for r in results),
        rows_replaced=rows_replaced,
        run_id=run_id,
        reject_ratio=round(ratio, 6),
        rejected_files=sorted({r.file_name for r in rejects}),
        loaded_files=sorted(str(r["file"]).rsplit("/", 1)[-1] for r in results),
    )
    log.info("Loaded %s", report.as_table_row())
    for reject in rejects[:20]:
        log.warning("Rejected %s line %d: %s", reject.file_name, reject.line_number, reject.error)
    return report


def load_partition(
    s3_hook: Any, conn_id: str, hour_start: str, dag_run: Any, config: IngestConfig,
    completion: dict[str, str] | None = None,
) -> dict[str, Any]:  # fmt: skip
    """The `load_partition` task: list the hour's committed part files, load exactly those (one transaction),
    then register the hour's files in the external table. A retry does it all again: the load replaces the
    hour whole and the refresh is idempotent."""
    from include.event_log.snowflake_objects import refresh_external_table

    listing = list_committed_part_files(s3_hook, hour_start, config, completion)
    report = copy_hour(conn_id, s3_hook, listing, dag_run.run_id, config, dag_id=dag_run.dag_id)
    statuses = refresh_external_table(conn_id, sub_path=listing["hour_path"])
    return {"listing": listing, "report": asdict(report), "external_table": statuses}
