"""What every dbt model must hold, computed in plain Python from the landed lines, independently of
the dbt SQL: the rules of the models' documentation (dbt/models/**/*.yml), written again. The tests
compare the models with it, and `make run` prints it next to the modeled figures.

A landed line is a dict with the parsed JSON `record`, `file_name`, `file_row_number`,
`replication_hour` and `loaded_at` (naive UTC datetimes), i.e. one row of RAW_FLINK_EVENT_LOG.
Timestamps come out as naive UTC datetimes, durations as Decimals with 3 places, values as floats.
"""

from __future__ import annotations

import json
import math
import re
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

RUN_END_STATUS = {
    "PIPELINE_SUCCESS": "SUCCESS",
    "PIPELINE_FAILURE": "FAILURE",
    "PIPELINE_CANCELED": "CANCELED",
}
STEP_LIFECYCLE_STATUS = {
    "STEP_START": "STARTED",
    "STEP_RESTARTED": "STARTED",
    "STEP_UP_FOR_RETRY": "UP_FOR_RETRY",
    "STEP_SUCCESS": "SUCCESS",
    "STEP_FAILURE": "FAILURE",
}
# A time followed by Z or a UTC offset: the instant is converted to UTC. Otherwise the wall time is UTC.
OFFSET_SUFFIX = re.compile(r".*:[0-9]{2}([.][0-9]*)? ?(Z|z|[+-][0-9]{2}(:?[0-9]{2})?)")
INTEGER_TEXT = re.compile(r"[+-]?[0-9]+")
EPOCH = datetime(1970, 1, 1)


def as_text(value: object) -> str | None:
    """A JSON value read as VARCHAR: strings as they are, other scalars in their JSON spelling."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return json.dumps(value, separators=(",", ":"))


def as_integer(value: object) -> int | None:
    text = as_text(value)
    if text is None or not INTEGER_TEXT.fullmatch(text):
        return None
    return int(text)


def parse_json_text(value: object) -> object | None:
    text = as_text(value)
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


def path(value: object, *keys: str) -> object | None:
    for key in keys:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def parse_timestamp(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    if parsed.tzinfo is not None and OFFSET_SUFFIX.fullmatch(text):
        return parsed.astimezone(UTC).replace(tzinfo=None)
    return parsed.replace(tzinfo=None)


def epoch_milliseconds(value: object) -> datetime | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    # ROUND(seconds * 1000): half away from zero, on doubles like the warehouse.
    milliseconds = math.copysign(math.floor(abs(value * 1000.0) + 0.5), value)
    return EPOCH + timedelta(milliseconds=int(milliseconds))


def truncated_milliseconds(at: datetime) -> int:
    return (at - EPOCH) // timedelta(milliseconds=1)


def duration_seconds(start: datetime | None, end: datetime | None) -> Decimal | None:
    if start is None or end is None:
        return None
    return (Decimal(truncated_milliseconds(end) - truncated_milliseconds(start)) / 1000).quantize(Decimal("0.001"))


def first_key(event: dict) -> tuple:
    """Earliest first: by created_at (unknown times last), then event_log_id."""
    return (event["created_at"] is None, event["created_at"] or EPOCH, event["event_log_id"])


def last_key(event: dict) -> tuple:
    """The maximum is the latest: by created_at (unknown times least), then event_log_id."""
    return (event["created_at"] is not None, event["created_at"] or EPOCH, event["event_log_id"])


def stg_event_log(lines: list[dict]) -> list[dict]:
    """One row per event_log_id: its earliest line by (replication_hour, file_name, file_row_number)."""
    earliest: dict[int, dict] = {}
    for line in lines:
        event_log_id = as_integer(line["record"].get("event_log_id"))
        if event_log_id is None:
            continue
        order = (line["replication_hour"], line["file_name"], line["file_row_number"])
        kept = earliest.get(event_log_id)
        if kept is None or order < (kept["replication_hour"], kept["file_name"], kept["file_row_number"]):
            earliest[event_log_id] = line
    return [staged_event(event_log_id, line) for event_log_id, line in sorted(earliest.items())]


def staged_event(event_log_id: int, line: dict) -> dict:
    record = line["record"]
    event_data = parse_json_text(record.get("event_data"))
    created_at = parse_timestamp(as_text(record.get("created_at")))
    if created_at is None:
        created_at = epoch_milliseconds(path(event_data, "timestamp"))
    return {
        "event_log_id": event_log_id,
        "organization_id": as_integer(record.get("organization_id")),
        "deployment_id": as_integer(record.get("deployment_id")),
        "run_id": as_text(record.get("run_id")),
        "dagster_event_type": as_text(record.get("dagster_event_type")),
        "step_key": as_text(record.get("step_key")) or as_text(path(event_data, "step_key")),
        "asset_key": as_text(record.get("asset_key")),
        "partition_key": as_text(record.get("partition")),
        "job_name": as_text(path(event_data, "pipeline_name")),
        "created_at": created_at,
        "landed_at": parse_timestamp(as_text(record.get("landed_at"))),
        "event_data": event_data,
        "record": record,
        "replication_hour": line["replication_hour"],
        "file_name": line["file_name"],
        "file_row_number": line["file_row_number"],
        "loaded_at": line["loaded_at"],
    }


def fct_runs(events: list[dict]) -> list[dict]:
    by_run: dict[str, list[dict]] = defaultdict(list)
    for event in events:
        if event["run_id"] is not None:
            by_run[event["run_id"]].append(event)
    runs = []
    for run_id, run_events in sorted(by_run.items()):
        owner = min(run_events, key=first_key)
        named = [event for event in run_events if event["job_name"] is not None]
        job_event = min(
            named, key=lambda event: (event["dagster_event_type"] != "PIPELINE_START", *first_key(event)), default=None
        )
        starts = [
            event["created_at"]
            for event in run_events
            if event["dagster_event_type"] == "PIPELINE_START" and event["created_at"] is not None
        ]
        ends = [event for event in run_events if event["dagster_event_type"] in RUN_END_STATUS]
        end = max(ends, key=last_key, default=None)
        started_at = min(starts, default=None)
        ended_at = end["created_at"] if end else None
        runs.append(
            {
                "run_id": run_id,
                "organization_id": owner["organization_id"],
                "deployment_id": owner["deployment_id"],
                "job_name": job_event["job_name"] if job_event else None,
                "started_at": started_at,
                "ended_at": ended_at,
                "status": RUN_END_STATUS[end["dagster_event_type"]] if end else "STARTED",
                "duration_seconds": duration_seconds(started_at, ended_at),
            }
        )
    return runs


def fct_steps(events: list[dict]) -> list[dict]:
    by_step: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for event in events:
        if (
            event["run_id"] is not None
            and event["step_key"] is not None
            and event["dagster_event_type"] in STEP_LIFECYCLE_STATUS
        ):
            by_step[(event["run_id"], event["step_key"])].append(event)
    steps = []
    for (run_id, step_key), step_events in sorted(by_step.items()):
        owner = min(step_events, key=first_key)
        last = max(step_events, key=last_key)
        starts = [
            event["created_at"]
            for event in step_events
            if event["dagster_event_type"] == "STEP_START" and event["created_at"] is not None
        ]
        started_at = min(starts, default=None)
        ended_at = last["created_at"] if last["dagster_event_type"] in ("STEP_SUCCESS", "STEP_FAILURE") else None
        steps.append(
            {
                "run_id": run_id,
                "step_key": step_key,
                "organization_id": owner["organization_id"],
                "deployment_id": owner["deployment_id"],
                "started_at": started_at,
                "ended_at": ended_at,
                "duration_seconds": duration_seconds(started_at, ended_at),
                "retries": sum(event["dagster_event_type"] == "STEP_UP_FOR_RETRY" for event in step_events),
                "failures": sum(event["dagster_event_type"] == "STEP_FAILURE" for event in step_events),
                "status": STEP_LIFECYCLE_STATUS[last["dagster_event_type"]],
            }
        )
    return steps


def of_type(events: list[dict], event_type: str) -> list[dict]:
    return [event for event in events if event["dagster_event_type"] == event_type]


def fct_asset_materializations(events: list[dict]) -> list[dict]:
    return [
        {
            "event_log_id": event["event_log_id"],
            "asset_key": event["asset_key"],
            "partition_key": event["partition_key"],
            "run_id": event["run_id"],
            "step_key": event["step_key"],
            "organization_id": event["organization_id"],
            "deployment_id": event["deployment_id"],
            "materialized_at": event["created_at"],
        }
        for event in of_type(events, "ASSET_MATERIALIZATION")
    ]


def fct_asset_materialization_metadata(events: list[dict]) -> list[dict]:
    rows = []
    for event in of_type(events, "ASSET_MATERIALIZATION"):
        entries = path(
            event["event_data"], "dagster_event", "event_specific_data", "materialization", "metadata_entries"
        )
        for entry_index, entry in enumerate(entries if isinstance(entries, list) else []):
            value = path(entry, "entry_data", "value")
            if isinstance(value, bool) or not isinstance(value, int | float):
                continue
            rows.append(
                {
                    "event_log_id": event["event_log_id"],
                    "asset_key": event["asset_key"],
                    "partition_key": event["partition_key"],
                    "run_id": event["run_id"],
                    "organization_id": event["organization_id"],
                    "deployment_id": event["deployment_id"],
                    "materialized_at": event["created_at"],
                    "entry_index": entry_index,
                    "label": as_text(path(entry, "label")),
                    "value_class": as_text(path(entry, "entry_data", "__class__")),
                    "numeric_value": float(value),
                }
            )
    return rows


def fct_asset_check_executions(events: list[dict]) -> list[dict]:
    rows = []
    for event in of_type(events, "ASSET_CHECK_EVALUATION"):
        evaluation = path(event["event_data"], "dagster_event", "event_specific_data")
        success = path(evaluation, "success")
        severity = as_text(path(evaluation, "severity", "__enum__"))
        rows.append(
            {
                "event_log_id": event["event_log_id"],
                "asset_key": event["asset_key"],
                "partition_key": event["partition_key"],
                "check_name": as_text(path(evaluation, "check_name")),
                "passed": success if isinstance(success, bool) else None,
                "severity": severity.replace("AssetCheckSeverity.", "") if severity is not None else None,
                "run_id": event["run_id"],
                "step_key": event["step_key"],
                "organization_id": event["organization_id"],
                "deployment_id": event["deployment_id"],
                "evaluated_at": event["created_at"],
            }
        )
    return rows


def mart_usage_daily(events: list[dict]) -> list[dict]:
    counts: dict[tuple[int, date], dict] = {}
    for event in events:
        if event["organization_id"] is None or event["created_at"] is None:
            continue
        key = (event["organization_id"], event["created_at"].date())
        day = counts.setdefault(
            key, {"organization_id": key[0], "usage_date": key[1], "materializations": 0, "steps": 0}
        )
        if event["dagster_event_type"] == "ASSET_MATERIALIZATION":
            day["materializations"] += 1
        elif event["dagster_event_type"] == "STEP_START":
            day["steps"] += 1
    return [{**day, "billable_credits": day["materializations"] + day["steps"]} for _, day in sorted(counts.items())]


def mart_ingestion_freshness(lines: list[dict], events: list[dict]) -> dict:
    """Everything but measured_at and lag_seconds, which depend on when the view is read."""
    newest_hour = max((line["replication_hour"] for line in lines), default=None)
    newest_lines = [line for line in lines if line["replication_hour"] == newest_hour]
    return {
        "newest_replication_hour": newest_hour,
        "loaded_through": newest_hour + timedelta(hours=1) if newest_hour else None,
        "newest_hour_loaded_at": max((line["loaded_at"] for line in newest_lines), default=None),
        "newest_hour_lines": len(newest_lines),
        "newest_event_created_at": max(
            (event["created_at"] for event in events if event["created_at"] is not None), default=None
        ),
    }


def compute_marts(lines: list[dict]) -> dict[str, list[dict] | dict]:
    """Every model's expected rows from the raw table's lines."""
    events = stg_event_log(lines)
    return {
        "stg_event_log": events,
        "fct_runs": fct_runs(events),
        "fct_steps": fct_steps(events),
        "fct_asset_materializations": fct_asset_materializations(events),
        "fct_asset_materialization_metadata": fct_asset_materialization_metadata(events),
        "fct_asset_check_executions": fct_asset_check_executions(events),
        "mart_usage_daily": mart_usage_daily(events),
        "mart_ingestion_freshness": mart_ingestion_freshness(lines, events),
    }


def lines_from_landed_files(
    s3_client, bucket: str, prefix: str, hours, loaded_at: dict, layout: str = "hive"
) -> list[dict]:
    """The raw table's lines as the landed files say they must be: the record, the file path relative
    to the stage, the line number and the hour come from S3; only `loaded_at` (hour -> time, naive UTC)
    comes from the warehouse, for the freshness mart."""
    from devstack.simulator.reader import read_landed_hour

    lines = []
    for hour in hours:
        naive_hour = hour.replace(tzinfo=None)
        for line in read_landed_hour(s3_client, bucket, prefix, hour, layout=layout).lines:
            lines.append(
                {
                    "record": line.record,
                    "file_name": line.key.removeprefix(f"{prefix}/"),
                    "file_row_number": line.line_number,
                    "replication_hour": naive_hour,
                    "loaded_at": loaded_at.get(naive_hour),
                }
            )
    return lines
