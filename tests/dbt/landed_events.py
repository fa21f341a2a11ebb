"""Event log records shaped like the Flink-landed stream (spec section 3), and the hour-by-hour story
the dbt tests play: runs with steps, retries, materializations with metadata, asset checks, a run
spanning two hours, duplicates across files and hours, an unknown event type, new fields, odd
timestamps, and a committed hour re-opened by late data.

A landed line is a plain dict: the parsed JSON `record`, its `file_name` (stage-relative path),
1-based `file_row_number`, the `replication_hour` of its folder and the `loaded_at` of its load.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

RUN_ID_NAMESPACE = uuid.UUID("6f1c1f4e-2b1c-4f57-9a35-0d6c0c3f7a10")


def utc(text: str) -> datetime:
    """A naive UTC datetime, the way TIMESTAMP_NTZ columns hold them."""
    return datetime.fromisoformat(text).replace(tzinfo=None)


def iso_utc(at: datetime) -> str:
    """The producer's created_at / landed_at format: ISO-8601 UTC with milliseconds and Z."""
    return at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z"


def part_file_name(hour: datetime, file_uuid: str, subtask: int, counter: int) -> str:
    """A committed part file of the hour, as METADATA$FILENAME shows it (relative to the stage)."""
    return f"{hour:%Y/%m/%d/%H}/part-{file_uuid}-{subtask}-{counter}.jsonl"


class EventLog:
    """Hands out events with increasing event_log_ids, the way the producer numbers them."""

    def __init__(self, first_event_log_id: int = 7_000_001) -> None:
        self._next_event_log_id = first_event_log_id

    def event(
        self,
        *,
        organization_id: int,
        deployment_id: int,
        event_type: str | None,
        at: datetime,
        run_id: str | None = None,
        job_name: str | None = None,
        step_key: str | None = None,
        asset_path: list[str] | None = None,
        partition: str | None = None,
        specific_data: dict | None = None,
        message: str = "",
        created_at_text: str | None = None,
        extra_fields: dict | None = None,
    ) -> dict:
        event_log_id = self._next_event_log_id
        self._next_event_log_id += 1
        dagster_event = None
        if event_type is not None:
            dagster_event = {
                "__class__": "DagsterEvent",
                "event_type_value": event_type,
                "job_name": job_name,
                "step_key": step_key,
                "event_specific_data": specific_data,
                "message": message,
                "pid": 4242,
            }
        event_data = {
            "__class__": "EventLogEntry",
            "dagster_event": dagster_event,
            "error_info": None,
            "level": 10 if event_type is not None else 20,
            "message": message,
            "pipeline_name": job_name,
            "run_id": run_id or "",
            "step_key": step_key,
            "timestamp": at.replace(tzinfo=UTC).timestamp(),
            "user_message": message,
        }
        record = {
            "event_log_id": event_log_id,
            "organization_id": organization_id,
            "deployment_id": deployment_id,
            "run_id": run_id,
            "dagster_event_type": event_type,
            "asset_key": json.dumps(asset_path) if asset_path is not None else None,
            "step_key": step_key,
            "partition": partition,
            "event_data": json.dumps(event_data),
            "created_at": created_at_text if created_at_text is not None else iso_utc(at),
            "landed_at": iso_utc(at + timedelta(seconds=3)),
        }
        record.update(extra_fields or {})
        return record


class Run:
    """The events of one Dagster run, in the order Dagster emits them."""

    def __init__(self, log: EventLog, *, name: str, organization_id: int, deployment_id: int, job_name: str) -> None:
        self.log = log
        self.run_id = str(uuid.uuid5(RUN_ID_NAMESPACE, name))
        self.organization_id = organization_id
        self.deployment_id = deployment_id
        self.job_name = job_name

    def _event(self, event_type: str | None, at: datetime, **kwargs) -> dict:
        return self.log.event(
            organization_id=self.organization_id,
            deployment_id=self.deployment_id,
            run_id=self.run_id,
            job_name=self.job_name,
            event_type=event_type,
            at=at,
            **kwargs,
        )

    def start(self, at: datetime, **kwargs) -> dict:
        return self._event("PIPELINE_START", at, message=f'Started execution of run for "{self.job_name}".', **kwargs)

    def end(self, event_type: str, at: datetime, **kwargs) -> dict:
        return self._event(event_type, at, **kwargs)

    def step(self, event_type: str, step_key: str, at: datetime, **kwargs) -> dict:
        return self._event(event_type, at, step_key=step_key, **kwargs)

    def log_message(self, step_key: str, at: datetime, message: str) -> dict:
        return self._event(None, at, step_key=step_key, message=message)

    def materialization(
        self,
        step_key: str,
        at: datetime,
        asset_path: list[str],
        metadata: list[tuple[str, str, object]],
        partition: str | None = None,
    ) -> dict:
        entries = [
            {
                "__class__": "EventMetadataEntry",
                "label": label,
                "description": None,
                "entry_data": {"__class__": value_class, "value": value},
            }
            for label, value_class, value in metadata
        ]
        specific_data = {
            "__class__": "StepMaterializationData",
            "materialization": {
                "__class__": "AssetMaterialization",
                "asset_key": {"__class__": "AssetKey", "path": asset_path},
                "description": None,
                "metadata_entries": entries,
                "partition": partition,
                "tags": {},
            },
            "asset_lineage": [],
        }
        return self._event(
            "ASSET_MATERIALIZATION",
            at,
            step_key=step_key,
            asset_path=asset_path,
            partition=partition,
            specific_data=specific_data,
            message=f"Materialized value {'/'.join(asset_path)}.",
        )

    def check(
        self,
        step_key: str,
        at: datetime,
        asset_path: list[str],
        check_name: str,
        success: bool | None,
        severity: str | None,
        partition: str | None = None,
    ) -> dict:
        specific_data = {
            "__class__": "AssetCheckEvaluation",
            "asset_key": {"__class__": "AssetKey", "path": asset_path},
            "check_name": check_name,
            "metadata": {},
            "target_materialization_data": None,
            "severity": {"__enum__": severity} if severity is not None else None,
            "description": None,
        }
        if success is not None:
            specific_data["success"] = success
        return self._event(
            "ASSET_CHECK_EVALUATION",
            at,
            step_key=step_key,
            asset_path=asset_path,
            partition=partition,
            specific_data=specific_data,
        )


@dataclass
class Load:
    """The loader (re)loads one replication hour: its rows become exactly these files' lines."""

    hour: datetime
    files: dict[str, list[dict]]
    loaded_at: datetime

    def lines(self) -> list[dict]:
        return [
            {
                "record": record,
                "file_name": file_name,
                "file_row_number": row_number,
                "replication_hour": self.hour,
                "loaded_at": self.loaded_at,
                "airflow_run_id": f"scheduled__{self.hour:%Y-%m-%dT%H:%M:%S}+00:00",
            }
            for file_name, records in self.files.items()
            for row_number, record in enumerate(records, start=1)
        ]


@dataclass
class Build:
    """One hourly `dbt build` with the DAG run's data interval as vars (in the form given)."""

    interval_start: str
    interval_end: str
    note: str = ""


@dataclass
class Scenario:
    steps: list[Load | Build] = field(default_factory=list)


ORG_ACME, DEP_ACME_PROD = 101, 1001
ORG_GLOBEX, DEP_GLOBEX_PROD = 202, 2002

H22 = utc("2025-08-01T22:00:00")
H23 = utc("2025-08-01T23:00:00")
H00 = utc("2025-08-02T00:00:00")
H01 = utc("2025-08-02T01:00:00")
H02 = utc("2025-08-02T02:00:00")


def at(text: str) -> datetime:
    return utc(text)


def build_scenario() -> Scenario:
    log = EventLog()
    orders = Run(log, name="orders", organization_id=ORG_ACME, deployment_id=DEP_ACME_PROD, job_name="daily_orders")
    billing = Run(
        log, name="billing", organization_id=ORG_GLOBEX, deployment_id=DEP_GLOBEX_PROD, job_name="billing_sync"
    )
    canceled = Run(
        log, name="canceled", organization_id=ORG_ACME, deployment_id=DEP_ACME_PROD, job_name="adhoc_backfill"
    )
    midnight = Run(
        log, name="midnight", organization_id=ORG_ACME, deployment_id=DEP_ACME_PROD, job_name="nightly_models"
    )
    quick = Run(log, name="quick", organization_id=ORG_GLOBEX, deployment_id=DEP_GLOBEX_PROD, job_name="ping")
    late = Run(log, name="late", organization_id=ORG_GLOBEX, deployment_id=DEP_GLOBEX_PROD, job_name="late_job")

    orders_asset = ["analytics", "orders"]
    revenue_asset = ["analytics", "revenue"]
    invoices_asset = ["billing", "invoices"]

    # Hour 22: run "orders" entirely (two steps, one retried), "billing" starts. Two part files.
    orders_events = [
        orders.start(at("2025-08-01T22:05:00.000")),
        orders.step("RESOURCE_INIT_STARTED", "extract_orders", at("2025-08-01T22:05:01.000")),
        orders.step("RESOURCE_INIT_SUCCESS", "extract_orders", at("2025-08-01T22:05:01.500")),
        orders.step("STEP_WORKER_STARTING", "extract_orders", at("2025-08-01T22:05:02.000")),
        orders.step("STEP_START", "extract_orders", at("2025-08-01T22:05:02.250")),
        orders.log_message("extract_orders", at("2025-08-01T22:05:03.000"), "fetched 1500 orders"),
        orders.materialization(
            "extract_orders",
            at("2025-08-01T22:06:10.125"),
            orders_asset,
            [
                ("Execution Time (seconds)", "FloatMetadataEntryData", 67.875),
                ("row_count", "IntMetadataEntryData", 1500),
                ("source", "TextMetadataEntryData", "postgres://orders"),
                ("batch", "TextMetadataEntryData", "12"),
            ],
            partition="2025-08-01",
        ),
        orders.check(
            "extract_orders",
            at("2025-08-01T22:06:11.000"),
            orders_asset,
            "orders_not_empty",
            True,
            "AssetCheckSeverity.ERROR",
            partition="2025-08-01",
        ),
        orders.step("STEP_SUCCESS", "extract_orders", at("2025-08-01T22:06:12.500")),
        orders.step("STEP_START", "build_revenue", at("2025-08-01T22:06:13.000")),
        orders.step("STEP_UP_FOR_RETRY", "build_revenue", at("2025-08-01T22:06:20.000")),
        orders.step("STEP_RESTARTED", "build_revenue", at("2025-08-01T22:07:20.000")),
        orders.materialization(
            "build_revenue",
            at("2025-08-01T22:08:00.000"),
            revenue_asset,
            [("Execution Time (seconds)", "FloatMetadataValue", 40.0), ("row_count", "IntMetadataValue", 42)],
        ),
        orders.step("STEP_SUCCESS", "build_revenue", at("2025-08-01T22:08:01.750")),
        orders.end("PIPELINE_SUCCESS", at("2025-08-01T22:08:02.000")),
    ]
    billing_start = [
        billing.start(at("2025-08-01T22:50:00.000")),
        billing.step("STEP_START", "sync_invoices", at("2025-08-01T22:50:05.000")),
        billing.materialization(
            "sync_invoices",
            at("2025-08-01T22:55:00.000"),
            invoices_asset,
            [("row_count", "IntMetadataValue", 10), ("Execution Time (seconds)", "FloatMetadataValue", 295.5)],
            partition="2025-08-01-22:00",
        ),
    ]
    unknown_type = log.event(
        organization_id=ORG_ACME,
        deployment_id=DEP_ACME_PROD,
        event_type="ASSET_HEALTH_CHANGED",
        at=at("2025-08-01T22:40:00.000"),
        asset_path=orders_asset,
        extra_fields={"trace_id": "abc123", "schema_version": 4},
    )
    hour_22 = Load(
        H22,
        {
            part_file_name(H22, "2f6a0c2e", 0, 0): orders_events[:8],
            part_file_name(H22, "2f6a0c2e", 1, 0): [*orders_events[8:], unknown_type, *billing_start],
        },
        loaded_at=at("2025-08-01T23:04:10"),
    )

    # Hour 23: "billing" fails (its start was in hour 22); "canceled" is canceled. A duplicate of an
    # hour-22 event arrives, and a duplicate of an event within the hour sits in two files.
    billing_end = [
        billing.step("STEP_FAILURE", "sync_invoices", at("2025-08-01T23:01:00.000")),
        billing.check(
            "sync_invoices",
            at("2025-08-01T23:01:30.000"),
            invoices_asset,
            "invoices_balanced",
            False,
            "AssetCheckSeverity.WARN",
        ),
        billing.end("PIPELINE_FAILURE", at("2025-08-01T23:02:00.000")),
    ]
    canceled_events = [
        canceled.start(at("2025-08-01T23:10:00.000"), created_at_text="2025-08-01 23:10:00+00:00"),
        canceled.step("STEP_START", "backfill", at("2025-08-01T23:10:30.000"), created_at_text="2025-08-01 23:10:30"),
        canceled.step(
            "STEP_START",
            "backfill_b",
            at("2025-08-01T23:11:00.000"),
            created_at_text="2025-08-02T01:11:00.000+02:00",
        ),
        canceled.end("PIPELINE_CANCELED", at("2025-08-01T23:12:00.000")),
    ]
    duplicate_of_hour_22 = dict(orders_events[6], landed_at=iso_utc(at("2025-08-01T23:30:00")))
    hour_23_files = {
        part_file_name(H23, "91b7d4aa", 0, 0): [*billing_end, canceled_events[0]],
        part_file_name(H23, "91b7d4aa", 0, 1): [canceled_events[0], *canceled_events[1:], duplicate_of_hour_22],
    }
    hour_23 = Load(H23, dict(hour_23_files), loaded_at=at("2025-08-02T00:05:00"))

    # Hour 00 (next UTC day): "midnight" starts at 23:59:59 on Aug 1 but lands after midnight; one of
    # its steps is waiting for a retry, another still runs. An event without a usable created_at
    # falls back to event_data.timestamp; a line without event_log_id cannot be staged.
    midnight_start = midnight.start(at("2025-08-01T23:59:59.000"))
    midnight_events = [
        midnight_start,
        midnight.step("STEP_START", "stage_models", at("2025-08-02T00:00:01.000")),
        midnight.materialization(
            "stage_models",
            at("2025-08-02T00:10:00.000"),
            ["analytics", "stg_orders"],
            [("row_count", "IntMetadataValue", 0), ("Execution Time (seconds)", "FloatMetadataValue", 0.004)],
        ),
        midnight.step("STEP_SUCCESS", "stage_models", at("2025-08-02T00:10:00.500"), created_at_text="yesterday-ish"),
        midnight.step("STEP_START", "publish", at("2025-08-02T00:11:00.000")),
        midnight.step("STEP_UP_FOR_RETRY", "publish", at("2025-08-02T00:11:30.000")),
        midnight.step("STEP_START", "export", at("2025-08-02T00:12:00.000")),
    ]
    without_id = dict(midnight.log_message("export", at("2025-08-02T00:12:01.000"), "no id"), event_log_id=None)
    runless_observation = log.event(
        organization_id=ORG_GLOBEX,
        deployment_id=DEP_GLOBEX_PROD,
        event_type="ASSET_OBSERVATION",
        at=at("2025-08-02T00:30:00.000"),
        asset_path=invoices_asset,
    )
    hour_00 = Load(
        H00,
        {part_file_name(H00, "c0ffee00", 0, 0): [*midnight_events, without_id, runless_observation]},
        loaded_at=at("2025-08-02T01:04:00"),
    )

    # Hour 01: "quick" runs start to end; a check without severity nor success.
    quick_events = [
        quick.start(at("2025-08-02T01:00:00.000")),
        quick.step("STEP_START", "ping", at("2025-08-02T01:00:00.100")),
        quick.check("ping", at("2025-08-02T01:00:00.200"), ["ops", "ping"], "pong", None, None),
        quick.step("STEP_FAILURE", "ping", at("2025-08-02T01:00:00.300")),
        quick.step("STEP_RESTARTED", "ping", at("2025-08-02T01:00:01.000")),
        quick.step("STEP_SUCCESS", "ping", at("2025-08-02T01:00:02.000")),
        quick.end("PIPELINE_SUCCESS", at("2025-08-02T01:00:02.123")),
    ]
    hour_01 = Load(H01, {part_file_name(H01, "0dd5eed1", 2, 0): quick_events}, loaded_at=at("2025-08-02T02:06:00"))

    # Late data re-opens hour 23 after hour 01 was built: a late materialization of "billing", a
    # whole late run, and a copy of "midnight"'s start, which so becomes its earliest line.
    late_file = [
        billing.materialization(
            "sync_invoices",
            at("2025-08-01T23:00:30.000"),
            invoices_asset,
            [("row_count", "IntMetadataValue", 3)],
            partition="2025-08-01-23:00",
        ),
        late.start(at("2025-08-01T23:40:00.000")),
        late.step("STEP_START", "late_step", at("2025-08-01T23:40:01.000")),
        late.step("STEP_SUCCESS", "late_step", at("2025-08-01T23:40:02.000")),
        late.end("PIPELINE_SUCCESS", at("2025-08-01T23:40:03.000")),
        dict(midnight_start, landed_at=iso_utc(at("2025-08-02T02:20:00"))),
    ]
    hour_23_reopened = Load(
        H23,
        {**hour_23_files, part_file_name(H23, "91b7d4aa", 3, 0): late_file},
        loaded_at=at("2025-08-02T02:25:00"),
    )

    return Scenario(
        steps=[
            hour_22,
            Build("2025-08-01T22:00:00+00:00", "2025-08-01T23:00:00+00:00", "hour 22"),
            hour_23,
            Build("2025-08-01T23:00:00Z", "2025-08-02T00:00:00Z", "hour 23, Z suffix"),
            hour_00,
            Build("2025-08-02 00:00:00+00:00", "2025-08-02 01:00:00+00:00", "hour 00, Airflow's str()"),
            hour_01,
            Build("2025-08-02T03:00:00+02:00", "2025-08-02T04:00:00+02:00", "hour 01, offset +02:00"),
            Build("2025-08-02T02:00:00", "2025-08-02T03:00:00", "hour 02, empty, no offset"),
            hour_23_reopened,
            Build("2025-08-01T23:00:00+00:00", "2025-08-02T00:00:00+00:00", "hour 23 re-opened"),
        ]
    )


def landed_lines(loads: list[Load]) -> list[dict]:
    """What the raw table holds after these loads, in order: a later load of an hour replaces it."""
    by_hour: dict[datetime, Load] = {}
    for load in loads:
        by_hour[load.hour] = load
    return [line for hour in sorted(by_hour) for line in by_hour[hour].lines()]
