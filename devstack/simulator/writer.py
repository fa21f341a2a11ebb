"""A seeded stand-in for the Flink job that lands the Dagster+ event log in S3.

It writes exactly the shape of ../shared/event-log-spec.md, in either layout of its section 2 (the
folder comes from include/event_log/hour_layout.py):

- `hive` (the default, what the package's lander writes with Flink's SQL filesystem sink):
  `<prefix>/dt=YYYY-MM-DD/hr=HH/` holding part files `part-<uuid>-<subtask>-<n>` without an extension
  (`.gz` when compressed), hidden in-progress files `.part-...inprogress.<uuid>`, multipart temp objects,
  and `_SUCCESS`; an empty hour gets no folder;
- `plain`: hourly folders `<prefix>/YYYY/MM/DD/HH/` holding finished part files
  `part-<uuid>-<subtask>-<n>.jsonl[.gz]` (one JSON record per line), objects a loader must never read
  (`part-...inprogress.<uuid>` and multipart `_<object>_tmp_<uuid>`), and `_SUCCESS` once the hour is
  committed; an empty hour is committed with `_SUCCESS` alone.
 Everything is derived from `random.Random` seeded by the
options, so the same options give byte-identical objects.

The records are whole Dagster runs (planned assets, `PIPELINE_START`, per step worker/resource/step
events with retries, materializations with metadata, asset checks, user log lines, then success,
failure or cancelation, alerts after failures) over several organizations and deployments. Runs last
from seconds to hours; each event lands in the hour of its landed time, so one run's events spread over
several hour folders.

`event_log_id` is derived from the creation time: `(created_at in microseconds since 2020-01-01) * 10 +
pass`, where pass is 0 for the first commit of an hour and n for its n-th late re-commit. Ids are
therefore unique and increase with creation time, and late events can be made for any hour without
knowing the rest of the stream. Values stay below 2**53, so JSON readers that use doubles keep them.

Dirty data on request: hours committed empty, hours never committed, late re-commits, non-JSON and
truncated lines, duplicated records. The returned `Manifest` says what was written, object by object;
`read_landed_hour` / `read_landed_events` read an hour back from S3 on their own, as a loader would.

    python -m devstack.simulator --endpoint-url http://127.0.0.1:5000 --bucket flink-event-log \\
        --prefix event_log --end-hour 2025-08-01T06:00Z --hours 6 --events-per-hour 2000
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import random
import re
import sys
import time
import uuid
from bisect import bisect_right
from collections import Counter
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime, timedelta
from json.encoder import encode_basestring_ascii as _escape
from operator import itemgetter
from typing import Any

from include.event_log.contract import event_types, record_fields
from include.event_log.hour_layout import HourLayout, Layout, ObjectKind
from include.event_log.hour_layout import classify_object as classify_in_hour

# The contract's lists, written once in dbt/dbt_project.yml.
EVENT_TYPES = event_types()
RECORD_FIELDS = record_fields()

_UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
# Object names inside an hour folder (match with fullmatch on the last path segment).
MULTIPART_TMP_RE = re.compile(rf"_.+_tmp_{_UUID}")
SUCCESS_NAME = "_SUCCESS"

HOUR = timedelta(hours=1)
_HOUR_US = 3_600_000_000
_SECOND_US = 1_000_000
_ID_EPOCH_US = 1_577_836_800 * _SECOND_US  # 2020-01-01T00:00:00Z
_MAX_PASSES = 9
_MAX_LAG_US = 15 * 60 * _SECOND_US


# ---------------------------------------------------------------------------------------------------
# Hours and names
# ---------------------------------------------------------------------------------------------------


def parse_hour(value: str | datetime) -> datetime:
    """A UTC hour start from a datetime or ISO-8601 text (`2025-08-01T06:00Z`); naive means UTC."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value.strip())
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    value = value.astimezone(UTC)
    if value.minute or value.second or value.microsecond:
        raise ValueError(f"not aligned to the hour: {value.isoformat()}")
    return value


def hour_prefix(prefix: str, hour: datetime, layout: str = Layout.HIVE) -> str:
    """The hour's folder as an S3 key prefix: `<prefix>/YYYY/MM/DD/HH/` or `<prefix>/dt=YYYY-MM-DD/hr=HH/`."""
    return HourLayout(Layout(layout), prefix).hour_prefix(parse_hour(hour))


def classify_object(key: str) -> str:
    """What an object in an hour folder is: `part`, `in_progress`, `multipart_tmp`, `success` or `other`.

    Whether it is loaded at all is include/event_log/hour_layout.py's decision (by the name inside the
    hour folder); this only names the by-product kinds the simulator writes.
    """
    name = key.rsplit("/", 1)[-1]
    kind = classify_in_hour(name)
    if kind is ObjectKind.LOADABLE:
        return "part"
    if kind is ObjectKind.UNEXPECTED:
        return "other"
    if name == SUCCESS_NAME:
        return "success"
    if MULTIPART_TMP_RE.fullmatch(name):
        return "multipart_tmp"
    if ".inprogress" in name:
        return "in_progress"
    return "other"


def _iso_hour(hour: datetime) -> str:
    return hour.strftime("%Y-%m-%dT%H:%M:%SZ")


def _to_us(moment: datetime) -> int:
    return int(moment.timestamp()) * _SECOND_US


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


_JSON_TEXT: dict[str | None, str] = {None: "null"}


def _json_text(value: str | None) -> str:
    """A short string (or None) as JSON text, cached: step keys, event types, partitions repeat a lot."""
    text = _JSON_TEXT.get(value)
    if text is None:
        if len(_JSON_TEXT) > 100_000:
            _JSON_TEXT.clear()
            _JSON_TEXT[None] = "null"
        text = _JSON_TEXT[value] = _escape(value)  # type: ignore[arg-type]
    return text


_SECOND_TEXT: dict[int, str] = {}


def _iso_us(us: int) -> str:
    """ISO-8601 UTC with microseconds; the seconds part is cached (many events share a second)."""
    seconds, fraction = divmod(us, _SECOND_US)
    text = _SECOND_TEXT.get(seconds)
    if text is None:
        if len(_SECOND_TEXT) > 200_000:
            _SECOND_TEXT.clear()
        text = _SECOND_TEXT[seconds] = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
    return f"{text}.{fraction:06d}Z"


def event_log_id(created_us: int, pass_number: int = 0) -> int:
    """The id of an event created at `created_us` (epoch microseconds), written in commit pass n."""
    return (created_us - _ID_EPOCH_US) * 10 + pass_number


# ---------------------------------------------------------------------------------------------------
# Options
# ---------------------------------------------------------------------------------------------------

_HOUR_LIST_OPTIONS = ("empty_hours", "uncommitted_hours", "late_hours", "malformed_hours", "duplicate_hours")


@dataclass(frozen=True)
class SimulationOptions:
    """What to land. Hour lists take datetimes or ISO text; they are normalized to UTC hour starts."""

    bucket: str
    prefix: str = "event_log"
    # `hive` (dt=YYYY-MM-DD/hr=HH/, part files without extension, empty hours without a folder) or `plain`
    # (YYYY/MM/DD/HH/, .jsonl part files, empty hours committed with _SUCCESS alone).
    layout: str = Layout.HIVE
    seed: int = 42
    # The hours to land: the `hours` hours before `end_hour` (exclusive).
    end_hour: datetime | str = datetime(2025, 8, 1, 6, tzinfo=UTC)
    hours: int = 6
    # Approximate: whole runs are generated at a rate that gives this many events per hour.
    events_per_hour: int = 2000
    # Part files per hour across `parallelism` sink subtasks (files without events are not written).
    files_per_hour: int = 3
    parallelism: int = 4
    gzip: bool = False
    organizations: int = 3
    deployments_per_organization: int = 2
    missing_landed_at_fraction: float = 0.01
    # Pairs of (in-progress object, multipart temp object) per non-empty hour.
    ignored_objects_per_hour: int = 1
    # `_SUCCESS` and nothing else; events that would have landed there are not written at all.
    empty_hours: tuple[datetime, ...] = ()
    # Part files (and ignored objects) but no `_SUCCESS`.
    uncommitted_hours: tuple[datetime, ...] = ()
    # After the first commit, one more part file with new late events, then `_SUCCESS` again.
    late_hours: tuple[datetime, ...] = ()
    late_events_per_hour: int = 40
    # Non-JSON lines at random places, and (if `truncated_last_line`) one file ending in a cut line.
    malformed_hours: tuple[datetime, ...] = ()
    non_json_lines_per_hour: int = 2
    truncated_last_line: bool = True
    # Records of the hour written again (same bytes) in another file of the hour and in the next hour.
    duplicate_hours: tuple[datetime, ...] = ()
    duplicates_per_hour: int = 5

    def __post_init__(self) -> None:
        object.__setattr__(self, "end_hour", parse_hour(self.end_hour))
        object.__setattr__(self, "prefix", self.prefix.strip("/"))
        object.__setattr__(self, "layout", Layout(self.layout).value)
        for name in _HOUR_LIST_OPTIONS:
            object.__setattr__(self, name, tuple(sorted({parse_hour(h) for h in getattr(self, name)})))
        self._validate()

    @property
    def hour_layout(self) -> HourLayout:
        return HourLayout(Layout(self.layout), self.prefix)

    @property
    def hour_starts(self) -> list[datetime]:
        return [self.end_hour - HOUR * (self.hours - i) for i in range(self.hours)]

    def _validate(self) -> None:
        def require(condition: bool, message: str) -> None:
            if not condition:
                raise ValueError(message)

        require(self.hours >= 1, "hours must be >= 1")
        require(self.events_per_hour >= 0, "events_per_hour must be >= 0")
        require(self.files_per_hour >= 1, "files_per_hour must be >= 1")
        require(self.parallelism >= 1, "parallelism must be >= 1")
        require(self.organizations >= 1 and self.deployments_per_organization >= 1, "need a deployment")
        require(0.0 <= self.missing_landed_at_fraction <= 1.0, "missing_landed_at_fraction is a fraction")
        require(
            min(self.late_events_per_hour, self.non_json_lines_per_hour, self.duplicates_per_hour) >= 0, "counts >= 0"
        )
        window = set(self.hour_starts)
        for name in _HOUR_LIST_OPTIONS:
            outside = [_iso_hour(h) for h in getattr(self, name) if h not in window]
            require(not outside, f"{name} outside the landed hours: {outside}")
        empty, uncommitted = set(self.empty_hours), set(self.uncommitted_hours)
        require(not empty & uncommitted, "an hour cannot be both empty and uncommitted")
        require(not set(self.late_hours) & uncommitted, "a late re-commit needs a committed hour")
        require(not set(self.malformed_hours) & empty, "malformed_hours cannot be empty hours")
        for hour in self.duplicate_hours:
            following = hour + HOUR
            require(hour not in empty, "duplicate_hours cannot be empty hours")
            require(following in window, f"duplicate hour {_iso_hour(hour)} needs the next hour landed too")
            require(following not in empty, f"the hour after duplicate hour {_iso_hour(hour)} is empty")
        require(not self.duplicate_hours or self.files_per_hour >= 2, "duplicates need files_per_hour >= 2")

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, datetime):
                value = _iso_hour(value)
            elif isinstance(value, tuple):
                value = [_iso_hour(v) for v in value]
            out[f.name] = value
        return out


# ---------------------------------------------------------------------------------------------------
# Manifest
# ---------------------------------------------------------------------------------------------------


@dataclass
class MalformedLine:
    key: str
    line_number: int  # 1-based, in the decompressed file
    kind: str  # "not_json" or "truncated" (last line of a file, cut, no trailing newline)


@dataclass
class PartFileManifest:
    key: str
    pass_number: int  # 0: the hour's first commit; n: its n-th late re-commit
    lines: int
    records: int
    event_log_ids: list[int]  # in line order, copies included
    malformed_lines: list[MalformedLine]
    size_bytes: int  # as stored (compressed when gzip)


@dataclass
class HourManifest:
    hour: datetime
    hour_prefix: str
    committed: bool
    success_key: str | None
    success_writes: int
    part_files: list[PartFileManifest] = field(default_factory=list)
    ignored_keys: list[str] = field(default_factory=list)
    late_event_log_ids: list[int] = field(default_factory=list)
    # The events whose only line in this hour is a truncated one (lost unless re-delivered).
    truncated_event_log_ids: list[int] = field(default_factory=list)
    # Ids on more than one line of this hour / also in another hour of the manifest.
    duplicate_ids_within_hour: list[int] = field(default_factory=list)
    duplicate_ids_across_hours: list[int] = field(default_factory=list)

    @property
    def part_keys(self) -> list[str]:
        return [f.key for f in self.part_files]

    @property
    def lines(self) -> int:
        return sum(f.lines for f in self.part_files)

    @property
    def records(self) -> int:
        return sum(f.records for f in self.part_files)

    @property
    def malformed_lines(self) -> list[MalformedLine]:
        return [m for f in self.part_files for m in f.malformed_lines]

    @property
    def event_log_ids(self) -> list[int]:
        return [i for f in self.part_files for i in f.event_log_ids]

    @property
    def distinct_event_log_ids(self) -> set[int]:
        return set(self.event_log_ids)

    def to_dict(self, include_event_log_ids: bool = True) -> dict[str, Any]:
        def part(f: PartFileManifest) -> dict[str, Any]:
            out: dict[str, Any] = {
                "key": f.key,
                "pass_number": f.pass_number,
                "lines": f.lines,
                "records": f.records,
                "malformed_lines": [vars(m) for m in f.malformed_lines],
                "size_bytes": f.size_bytes,
            }
            if include_event_log_ids:
                out["event_log_ids"] = f.event_log_ids
            return out

        return {
            "hour": _iso_hour(self.hour),
            "hour_prefix": self.hour_prefix,
            "committed": self.committed,
            "success_key": self.success_key,
            "success_writes": self.success_writes,
            "lines": self.lines,
            "records": self.records,
            "malformed_line_count": len(self.malformed_lines),
            "distinct_event_log_ids": len(self.distinct_event_log_ids),
            "part_files": [part(f) for f in self.part_files],
            "ignored_keys": self.ignored_keys,
            "late_event_log_ids": self.late_event_log_ids,
            "truncated_event_log_ids": self.truncated_event_log_ids,
            "duplicate_ids_within_hour": self.duplicate_ids_within_hour,
            "duplicate_ids_across_hours": self.duplicate_ids_across_hours,
        }


@dataclass
class Manifest:
    options: SimulationOptions
    hours: list[HourManifest]

    def hour(self, hour: datetime | str) -> HourManifest:
        wanted = parse_hour(hour)
        return next(h for h in self.hours if h.hour == wanted)

    @property
    def records(self) -> int:
        return sum(h.records for h in self.hours)

    @property
    def distinct_event_log_ids(self) -> set[int]:
        return {i for h in self.hours for i in h.event_log_ids}

    @property
    def duplicate_event_log_ids(self) -> list[int]:
        counts = Counter(i for h in self.hours for i in h.event_log_ids)
        return sorted(i for i, n in counts.items() if n > 1)

    def to_dict(self, include_event_log_ids: bool = True) -> dict[str, Any]:
        return {
            "bucket": self.options.bucket,
            "prefix": self.options.prefix,
            "options": self.options.to_dict(),
            "records": self.records,
            "distinct_event_log_ids": len(self.distinct_event_log_ids),
            "duplicate_event_log_ids": self.duplicate_event_log_ids,
            "hours": [h.to_dict(include_event_log_ids) for h in self.hours],
        }

    def to_json(self, include_event_log_ids: bool = True, indent: int | None = None) -> str:
        return json.dumps(self.to_dict(include_event_log_ids), indent=indent)


@dataclass
class LateRecommit:
    hour: datetime
    part_files: list[PartFileManifest]
    success_key: str

    @property
    def event_log_ids(self) -> list[int]:
        return [i for f in self.part_files for i in f.event_log_ids]


# ---------------------------------------------------------------------------------------------------
# The catalogue: organizations, deployments, jobs, steps, assets
# ---------------------------------------------------------------------------------------------------

# (job name, asset namespace, steps in order (a trailing "!" marks an op without an asset), partitioning,
#  mean step seconds, relative weight)
_JOB_TEMPLATES: tuple[tuple[str, str, str, str | None, float, float], ...] = (
    ("daily_orders_etl", "sales", "raw_orders stg_orders orders order_items daily_revenue", "daily", 40, 3),
    ("hourly_events_sync", "product", "raw_events sessions page_views active_users", "hourly", 25, 5),
    ("customer_360_refresh", "crm", "raw_customers customers customer_ltv churn_scores notify_crm_team!", None, 80, 2),
    ("stripe_payments_ingest", "finance", "stripe_charges stripe_refunds payments invoices", "daily", 30, 3),
    ("ml_feature_build", "ml", "user_features item_features training_set model_scores", None, 540, 1),
    ("dbt_marts_build", "analytics", "dim_customers fct_orders fct_sessions mart_finance mart_product", None, 60, 3),
    ("inventory_snapshot", "ops", "warehouse_stock stock_levels reorder_alerts", "hourly", 12, 4),
    ("marketing_attribution", "marketing", "ad_spend touchpoints attribution_model", "daily", 180, 1),
    ("__ASSET_JOB", "core", "events_raw events_clean events_daily", None, 20, 2),
    ("nightly_backfill", "warehouse", "extract_snapshot! load_history rebuild_rollups vacuum!", "daily", 1500, 0.5),
)
_CHECK_NAMES = ("not_null_id", "unique_key", "row_count_positive", "freshness", "schema_matches")
_EXTERNAL_ASSETS = (("external", "salesforce_accounts"), ("external", "s3_vendor_drop"), ("external", "kafka_orders"))
_DEPLOYMENT_NAMES = ("prod", "staging", "dev", "branch-feature-x")
_ERRORS = (
    ("ValueError", "column 'amount' contains NaN"),
    ("snowflake.connector.errors.ProgrammingError", "002003 (42S02): Object 'RAW.ORDERS' does not exist"),
    ("requests.exceptions.HTTPError", "429 Client Error: Too Many Requests"),
    ("TimeoutError", "query did not finish within 600 seconds"),
    ("KeyError", "'customer_id'"),
)
_LOG_LINES = (
    "Fetched {n} rows from the source",
    "Wrote {n} rows to the warehouse",
    "Retrying request after HTTP 429 ({n} ms backoff)",
    "Skipping {n} rows with a null primary key",
)
_RESOURCES = "[io_manager, snowflake, s3]"


class _Asset:
    __slots__ = ("display", "key_dict", "key_json", "key_json_text", "path")

    def __init__(self, path: tuple[str, ...]) -> None:
        self.path = list(path)
        self.key_json = json.dumps(self.path)
        self.key_json_text = _escape(self.key_json)
        self.key_dict = {"__class__": "AssetKey", "path": self.path}
        self.display = "/".join(path)


class _Step:
    __slots__ = ("asset", "checks", "deps", "fail_p", "key", "messages")

    def __init__(self, key: str, asset: _Asset | None, checks: tuple, deps: tuple[int, ...], fail_p: float):
        self.key, self.asset, self.checks, self.deps, self.fail_p = key, asset, checks, deps, fail_p
        self.messages = {
            "STEP_WORKER_STARTING": f'Launching subprocess for "{key}".',
            "STEP_WORKER_STARTED": f'Executing step "{key}" in subprocess.',
            "RESOURCE_INIT_STARTED": f"Starting initialization of resources {_RESOURCES}.",
            "RESOURCE_INIT_SUCCESS": f"Finished initialization of resources {_RESOURCES}.",
            "RESOURCE_INIT_FAILURE": f"Initialization of resources {_RESOURCES} failed.",
            "STEP_START": f'Started execution of step "{key}".',
            "STEP_FAILURE": f'Execution of step "{key}" failed.',
            "STEP_INTERRUPTED": f'Execution of step "{key}" was interrupted.',
        }


class _Job:
    __slots__ = ("max_us", "mean_us", "messages", "name", "partitioning", "retries", "steps", "weight")

    def __init__(self, name, steps, partitioning, mean_seconds, retries, weight):
        self.name, self.steps, self.partitioning = name, steps, partitioning
        self.mean_us, self.retries, self.weight = int(mean_seconds * _SECOND_US), retries, weight
        # An upper bound of a run's length (see _run_events/_step_events): queueing, then every step one after
        # the other, every attempt at its longest (launch, resources, 2x mean, retry wait or checks), then the end.
        attempt_us = 2 * self.mean_us + 90 * _SECOND_US
        self.max_us = 100 * _SECOND_US + len(steps) * (2 * _SECOND_US + (retries + 1) * attempt_us)
        self.messages = {
            "PIPELINE_START": f'Started execution of run for "{name}".',
            "PIPELINE_SUCCESS": f'Finished execution of run for "{name}".',
            "PIPELINE_CANCELED": f'Execution of run for "{name}" canceled.',
        }


class _Context:
    """What every event of one run (or one deployment's run-less events) shares, JSON fragments included."""

    __slots__ = (
        "alerting",
        "deployment_id",
        "job_json",
        "job_name",
        "organization_id",
        "pid_json",
        "record_head",
        "run_id",
        "run_id_body",
        "subtask_key",
    )

    def __init__(self, organization_id, deployment_id, run_id, job_name, subtask_key, pid, alerting=False):
        self.organization_id, self.deployment_id, self.run_id = organization_id, deployment_id, run_id
        self.job_name, self.subtask_key, self.alerting = job_name, subtask_key, alerting
        self.job_json, self.pid_json = _json_text(job_name), "null" if pid is None else str(pid)
        self.run_id_body = _escape(run_id or "")  # Dagster writes "" for run-less events
        self.record_head = (
            f'"organization_id":{organization_id},"deployment_id":{deployment_id},"run_id":{_json_text(run_id)}'
        )


class _Deployment:
    __slots__ = ("alerting", "deployment_id", "job_weights", "jobs", "name", "organization_id", "runless")

    def __init__(self, organization_id, deployment_id, name, jobs, alerting):
        self.organization_id, self.deployment_id, self.name = organization_id, deployment_id, name
        self.jobs, self.alerting = jobs, alerting
        self.job_weights = [j.weight for j in jobs]
        self.runless = _Context(organization_id, deployment_id, None, None, deployment_id, None)


def _build_catalogue(options: SimulationOptions) -> list[_Deployment]:
    rng = random.Random(f"{options.seed}:catalogue")
    organization_ids = sorted(rng.sample(range(1000, 10000), options.organizations))
    deployment_id = rng.randint(10, 500)
    deployments = []
    for organization_id in organization_ids:
        for d in range(options.deployments_per_organization):
            name = _DEPLOYMENT_NAMES[d % len(_DEPLOYMENT_NAMES)] + ("" if d < len(_DEPLOYMENT_NAMES) else f"-{d}")
            templates = rng.sample(_JOB_TEMPLATES, rng.randint(4, 7))
            jobs = []
            for job_name, namespace, step_names, partitioning, mean_seconds, weight in templates:
                steps = []
                for i, step_name in enumerate(step_names.split()):
                    key = step_name.rstrip("!")
                    asset = None if step_name.endswith("!") else _Asset((namespace, key))
                    checks = ()
                    if asset is not None and rng.random() < 0.4:
                        names = rng.sample(_CHECK_NAMES, rng.randint(1, 2))
                        checks = tuple(
                            (n, "AssetCheckSeverity.ERROR" if rng.random() < 0.7 else "AssetCheckSeverity.WARN")
                            for n in names
                        )
                    # A chain with some fan-out: each step waits for one or two earlier steps.
                    deps = () if i == 0 else tuple(sorted({i - 1, rng.randrange(i)}))
                    steps.append(_Step(key, asset, checks, deps, rng.uniform(0.005, 0.05)))
                retries = rng.choice((0, 0, 1, 1, 2))
                jobs.append(_Job(job_name, tuple(steps), partitioning, mean_seconds, retries, weight))
            weight_factor = 1.0 if d == 0 else 0.3
            for job in jobs:
                job.weight *= weight_factor
            deployments.append(_Deployment(organization_id, deployment_id, name, jobs, d == 0 or rng.random() < 0.5))
            deployment_id += rng.randint(1, 40)
    return deployments


# ---------------------------------------------------------------------------------------------------
# Runs -> events
# ---------------------------------------------------------------------------------------------------
# A raw event: (created_us, event_type, step_key, asset, partition, level, message, event_specific_data)
# A landed event: (created_us, landed_us, has_landed_at, context, event_type, step_key, asset, partition,
#                  level, message, event_specific_data)


def _metadata(label: str, cls: str, value: Any) -> dict[str, Any]:
    return {
        "__class__": "EventMetadataEntry",
        "description": None,
        "entry_data": {"__class__": cls, "value": value},
        "label": label,
    }


def _error(rng: random.Random) -> dict[str, Any]:
    cls_name, message = rng.choice(_ERRORS)
    return {
        "__class__": "SerializableErrorInfo",
        "cause": None,
        "cls_name": cls_name,
        "message": f"{cls_name}: {message}\n",
        "stack": ['  File "/opt/dagster/app/pipeline/assets.py", line 118, in compute\n    raise\n'],
    }


def _engine_data(marker_start: str | None, marker_end: str | None, error: Any = None) -> dict[str, Any]:
    return {
        "__class__": "EngineEventData",
        "error": error,
        "marker_end": marker_end,
        "marker_start": marker_start,
        "metadata_entries": [],
    }


def _partition_key(partitioning: str | None, start_us: int) -> str | None:
    if partitioning is None:
        return None
    seconds = start_us // _SECOND_US
    if partitioning == "daily":
        return time.strftime("%Y-%m-%d", time.gmtime(seconds - 86400))
    return time.strftime("%Y-%m-%d-%H:00", time.gmtime(seconds - 3600))


def _step_failure_data(error: Any, source: str) -> dict[str, Any]:
    return {
        "__class__": "StepFailureData",
        "error": error,
        "error_source": {"__enum__": source},
        "user_failure_data": None,
    }


def _run_events(rng: random.Random, deployment: _Deployment, job: _Job, start_us: int) -> tuple[_Context, list]:
    """All events of one run, in the order the run emits them (times are not globally sorted)."""
    ctx = _Context(
        deployment.organization_id,
        deployment.deployment_id,
        _uuid(rng),
        job.name,
        rng.getrandbits(16),
        rng.randint(100, 60000),
        deployment.alerting,
    )
    partition = _partition_key(job.partitioning, start_us)
    events: list[tuple] = []
    append = events.append

    def add(t, event_type, step_key, message, data=None, level=10, asset=None, asset_partition=None) -> None:
        append((t, event_type, step_key, asset, asset_partition, level, message, data))

    randint, rand = rng.randint, rng.random
    t = start_us
    for step in job.steps:
        asset = step.asset
        if asset is None:
            continue
        data = {"__class__": "AssetMaterializationPlannedData", "asset_key": asset.key_dict, "partition": partition}
        message = f"{job.name} intends to materialize asset {asset.display}"
        add(t, "ASSET_MATERIALIZATION_PLANNED", step.key, message, data, asset=asset, asset_partition=partition)
        t += randint(100, 3000)
        for check_name, _severity in step.checks:
            data = {"__class__": "AssetCheckEvaluationPlanned", "asset_key": asset.key_dict, "check_name": check_name}
            message = f"{job.name} intends to execute asset check {check_name} on asset {asset.display}"
            add(t, "ASSET_CHECK_EVALUATION_PLANNED", step.key, message, data, asset=asset)
            t += randint(100, 3000)
    t += randint(1 * _SECOND_US, 40 * _SECOND_US)  # queued, then launched
    run_begin = t
    add(t, "PIPELINE_START", None, job.messages["PIPELINE_START"])

    n = len(job.steps)
    step_span: list[tuple[int, int] | None] = [None] * n  # (first event, last event) of each executed step
    step_ok = [False] * n
    failed_steps = []
    for i, step in enumerate(job.steps):
        if any(not step_ok[d] for d in step.deps):
            continue  # an upstream step failed or was skipped: this one never runs
        ready = max((step_span[d][1] for d in step.deps), default=run_begin)  # type: ignore[index]
        begin = ready + randint(20_000, 2 * _SECOND_US)
        ok, end = _step_events(rng, add, job, step, begin, partition)
        step_span[i], step_ok[i] = (begin, end), ok
        if not ok:
            failed_steps.append(step.key)
    end = max(span[1] for span in step_span if span is not None)  # the first step always runs

    if rand() < 0.03:  # canceled by a user or a run monitor somewhere in the middle
        cancel_at = run_begin + int((end - run_begin) * rng.uniform(0.05, 0.95))
        events[:] = [e for e in events if e[0] <= cancel_at]
        for i, span in enumerate(step_span):
            if span is not None and span[0] <= cancel_at < span[1]:
                step = job.steps[i]
                data = _step_failure_data(None, "ErrorSource.INTERRUPT")
                t = cancel_at + randint(200_000, 3 * _SECOND_US)
                add(t, "STEP_FAILURE", step.key, step.messages["STEP_INTERRUPTED"], data, level=40)
        t = cancel_at + randint(3 * _SECOND_US, 25 * _SECOND_US)
        data = {"__class__": "JobCanceledData", "error": None}
        add(t, "PIPELINE_CANCELED", None, job.messages["PIPELINE_CANCELED"], data, level=40)
        return ctx, events

    t = end + randint(100_000, 3 * _SECOND_US)
    if not failed_steps:
        add(t, "PIPELINE_SUCCESS", None, job.messages["PIPELINE_SUCCESS"])
        return ctx, events
    data = {
        "__class__": "JobFailureData",
        "error": None,
        "failure_reason": {"__enum__": "RunFailureReason.STEP_FAILURE"},
    }
    message = f'Execution of run for "{job.name}" failed. Steps failed: {failed_steps}.'
    add(t, "PIPELINE_FAILURE", None, message, data, level=40)
    if ctx.alerting and rand() < 0.8:
        t += randint(2 * _SECOND_US, 30 * _SECOND_US)
        data = {"__class__": "AlertSuccessData", "alert_policy_name": "run-failures", "notification_service": "slack"}
        add(t, "ALERT_SUCCESS", None, 'Sent alert "run-failures" to slack.', data, level=20)
    return ctx, events


def _step_events(rng: random.Random, add, job: _Job, step: _Step, t: int, partition) -> tuple[bool, int]:
    """Add one step's events from `t` on (all attempts); return (succeeded, time of its last event)."""
    randint, rand = rng.randint, rng.random
    key, messages, asset = step.key, step.messages, step.asset
    for attempt in range(job.retries + 1):
        add(t, "STEP_WORKER_STARTING", key, messages["STEP_WORKER_STARTING"], _engine_data("step_process_start", None))
        t += randint(300_000, 6 * _SECOND_US)
        add(t, "STEP_WORKER_STARTED", key, messages["STEP_WORKER_STARTED"], _engine_data(None, "step_process_start"))
        t += randint(5_000, 500_000)
        add(t, "RESOURCE_INIT_STARTED", key, messages["RESOURCE_INIT_STARTED"], _engine_data("resources", None))
        t += randint(50_000, 3 * _SECOND_US)
        if rand() < 0.004:
            error = _error(rng)
            data = _engine_data(None, "resources", error)
            add(t, "RESOURCE_INIT_FAILURE", key, messages["RESOURCE_INIT_FAILURE"], data, level=40)
            t += randint(5_000, 200_000)
            data = _step_failure_data(error, "ErrorSource.FRAMEWORK_ERROR")
            add(t, "STEP_FAILURE", key, messages["STEP_FAILURE"], data, level=40)
            return False, t
        add(t, "RESOURCE_INIT_SUCCESS", key, messages["RESOURCE_INIT_SUCCESS"], _engine_data(None, "resources"))
        t += randint(1_000, 100_000)
        if attempt == 0:
            add(t, "STEP_START", key, messages["STEP_START"])
        else:
            add(t, "STEP_RESTARTED", key, f'Started re-execution (attempt # {attempt + 1}) of step "{key}".')
        begin = t
        duration = max(50_000, min(int(job.mean_us * rng.lognormvariate(0.0, 0.6)), 2 * job.mean_us))
        fails = rand() < step.fail_p
        if fails:
            duration = max(20_000, int(duration * rng.uniform(0.05, 0.9)))
        for _ in range(rng.choice((0, 0, 1, 1, 2))):  # user log lines: no dagster event
            line = rng.choice(_LOG_LINES).format(n=randint(1, 250_000))
            add(begin + randint(1, duration), None, key, line, level=rng.choice((20, 20, 20, 30)))
        t = begin + duration
        if fails:
            error = _error(rng)
            if attempt < job.retries:
                wait = rng.choice((5, 10, 30, 60))
                data = {"__class__": "StepRetryData", "error": error, "seconds_to_wait": wait}
                message = f'Execution of step "{key}" failed and has requested a retry in {wait} seconds.'
                add(t, "STEP_UP_FOR_RETRY", key, message, data, level=20)
                t += wait * _SECOND_US + randint(0, 2 * _SECOND_US)
                continue
            data = _step_failure_data(error, "ErrorSource.USER_CODE_ERROR")
            add(t, "STEP_FAILURE", key, messages["STEP_FAILURE"], data, level=40)
            return False, t
        if asset is not None:
            t += randint(1_000, 500_000)
            rows = int(rng.lognormvariate(9.0, 2.0))
            entries = [
                _metadata("Execution Time (seconds)", "FloatMetadataEntryData", round(duration / _SECOND_US, 3)),
                _metadata("row_count", "IntMetadataEntryData", rows),
            ]
            materialization = {
                "__class__": "AssetMaterialization",
                "asset_key": asset.key_dict,
                "description": None,
                "metadata_entries": entries,
                "partition": partition,
                "tags": {},
            }
            data = {"__class__": "StepMaterializationData", "asset_lineage": [], "materialization": materialization}
            message = f"Materialized value {asset.display}."
            add(t, "ASSET_MATERIALIZATION", key, message, data, asset=asset, asset_partition=partition)
            if rand() < 0.1:
                t += randint(1_000, 200_000)
                observation = {
                    "__class__": "AssetObservation",
                    "asset_key": asset.key_dict,
                    "description": None,
                    "metadata_entries": [_metadata("row_count", "IntMetadataEntryData", rows)],
                    "partition": partition,
                    "tags": {},
                }
                data = {"__class__": "AssetObservationData", "asset_observation": observation}
                message = f"Observed asset {asset.display}."
                add(t, "ASSET_OBSERVATION", key, message, data, asset=asset, asset_partition=partition)
            for check_name, severity in step.checks:
                t += randint(50_000, 5 * _SECOND_US)
                success = rand() >= 0.08
                failing = 0 if success else randint(1, 5000)
                data = {
                    "__class__": "AssetCheckEvaluation",
                    "asset_key": asset.key_dict,
                    "check_name": check_name,
                    "metadata_entries": [_metadata("failing_rows", "IntMetadataEntryData", failing)],
                    "severity": {"__enum__": severity},
                    "success": success,
                    "target_materialization_data": None,
                }
                message = f"Asset check {check_name} on {asset.display} {'passed' if success else 'failed'}."
                add(t, "ASSET_CHECK_EVALUATION", key, message, data, level=10 if success else 30, asset=asset)
        t += randint(1_000, 300_000)
        data = {"__class__": "StepSuccessData", "duration_ms": round((t - begin) / 1000, 3)}
        add(t, "STEP_SUCCESS", key, f'Finished execution of step "{key}" in {(t - begin) / _SECOND_US:.2f}s.', data)
        return True, t
    raise AssertionError("unreachable: the last attempt returns")


def _runless_observation(rng: random.Random, deployment: _Deployment, t: int) -> tuple:
    asset = _EXTERNAL_ASSET_OBJECTS[rng.randrange(len(_EXTERNAL_ASSET_OBJECTS))]
    observation = {
        "__class__": "AssetObservation",
        "asset_key": asset.key_dict,
        "description": "reported by an external sensor",
        "metadata_entries": [_metadata("row_count", "IntMetadataEntryData", int(rng.lognormvariate(8.0, 1.5)))],
        "partition": None,
        "tags": {},
    }
    data = {"__class__": "AssetObservationData", "asset_observation": observation}
    return (t, "ASSET_OBSERVATION", None, asset, None, 10, f"Observed asset {asset.display}.", data)


_EXTERNAL_ASSET_OBJECTS = tuple(_Asset(p) for p in _EXTERNAL_ASSETS)


class _Stream:
    """The main event stream of the landed hours, generated hour by hour in creation order."""

    def __init__(self, options: SimulationOptions, catalogue: list[_Deployment]) -> None:
        self.options = options
        self.catalogue = catalogue
        self.deployment_weights = [sum(d.job_weights) for d in catalogue]
        self.window_start_us = _to_us(options.hour_starts[0])
        self.window_end_us = _to_us(options.end_hour)
        self.pending: list[list[tuple]] = [[] for _ in range(options.hours)]
        self.used_created: set[int] = set()
        self.runs_per_hour = self._calibrate()

    def _calibrate(self) -> int:
        """Runs per hour for the requested events per hour, from the mean size of sample runs."""
        if self.options.events_per_hour == 0:
            return 0
        rng = random.Random(f"{self.options.seed}:calibration")
        sizes = []
        for _ in range(300):
            deployment, job = self._pick_job(rng)
            sizes.append(len(_run_events(random.Random(rng.getrandbits(64)), deployment, job, self.window_start_us)[1]))
        mean = sum(sizes) / len(sizes)
        return max(1, round(self.options.events_per_hour * 0.99 / mean))

    def _pick_job(self, rng: random.Random) -> tuple[_Deployment, _Job]:
        deployment = rng.choices(self.catalogue, self.deployment_weights)[0]
        return deployment, rng.choices(deployment.jobs, deployment.job_weights)[0]

    def warm_up(self) -> None:
        """Runs started before the first hour whose later events land in it (long runs, late lags)."""
        longest = max(job.max_us for d in self.catalogue for job in d.jobs) + _MAX_LAG_US
        for back in range(math.ceil(longest / _HOUR_US), 0, -1):
            self._generate_hour(self.window_start_us - back * _HOUR_US, warmup=True)

    def hour(self, index: int) -> list[tuple]:
        """The events that land in hour `index` of the window (after generating the runs started in it)."""
        self._generate_hour(self.window_start_us + index * _HOUR_US, warmup=False)
        events, self.pending[index] = self.pending[index], []
        return events

    def _generate_hour(self, hour_us: int, warmup: bool) -> None:
        rng = random.Random(f"{self.options.seed}:runs:{hour_us}")
        # Every run generated from now on starts in this hour, so no event can be created earlier.
        self.used_created = {u for u in self.used_created if u >= hour_us}
        starts = sorted(hour_us + rng.randrange(_HOUR_US) for _ in range(self.runs_per_hour))
        for start in starts:
            deployment, job = self._pick_job(rng)
            run_seed = rng.getrandbits(64)
            if warmup and start + job.max_us + _MAX_LAG_US < self.window_start_us:
                continue
            run_rng = random.Random(run_seed)
            ctx, events = _run_events(run_rng, deployment, job, start)
            self._land(run_rng, ctx, events)
        if warmup:
            return
        # Observations of external assets reported outside any run (run_id null).
        for _ in range(round(self.options.events_per_hour * 0.01)):
            deployment = rng.choices(self.catalogue, self.deployment_weights)[0]
            event = _runless_observation(rng, deployment, hour_us + rng.randrange(_HOUR_US))
            self._land(rng, deployment.runless, [event])

    def _land(self, rng: random.Random, ctx: _Context, events: list[tuple]) -> None:
        used, pending = self.used_created, self.pending
        window_start, n_hours = self.window_start_us, self.options.hours
        missing = self.options.missing_landed_at_fraction
        rand, expovariate = rng.random, rng.expovariate
        for event in events:
            created = event[0]
            while created in used:
                created += 1
            used.add(created)
            if rand() < 0.003:  # back-pressure: minutes late
                landed = created + rng.randint(120 * _SECOND_US, _MAX_LAG_US)
            else:
                landed = created + 150_000 + min(int(expovariate(0.4) * _SECOND_US), 120 * _SECOND_US)
            index = (landed - window_start) // _HOUR_US
            if 0 <= index < n_hours:
                pending[index].append((created, landed, rand() >= missing, ctx, *event[1:]))


def _late_events(options: SimulationOptions, hour: datetime, count: int, pass_number: int) -> list[tuple]:
    """`count` events created inside `hour` that reach Flink after the hour's first commit."""
    catalogue = _build_catalogue(options)
    weights = [sum(d.job_weights) for d in catalogue]
    rng = random.Random(f"{options.seed}:late:{_iso_hour(hour)}:{pass_number}")
    hour_us = _to_us(hour)
    end_us = hour_us + _HOUR_US
    used: set[int] = set()
    out: list[tuple] = []
    while len(out) < count:
        deployment = rng.choices(catalogue, weights)[0]
        job = rng.choices(deployment.jobs, deployment.job_weights)[0]
        run_rng = random.Random(rng.getrandbits(64))
        ctx, events = _run_events(run_rng, deployment, job, hour_us + rng.randrange(-1800, 3300) * _SECOND_US)
        for event in events:
            created = event[0]
            # Created inside the hour: ids of different hours' late passes can never meet.
            if not hour_us <= created < end_us:
                continue
            while created in used:
                created += 1
            used.add(created)
            landed = min(end_us - 1, max(created + 150_000, hour_us + run_rng.randrange(_HOUR_US)))
            has_landed = run_rng.random() >= options.missing_landed_at_fraction
            out.append((created, landed, has_landed, ctx, *event[1:]))
            if len(out) == count:
                break
    return out


# ---------------------------------------------------------------------------------------------------
# Serialization and writing
# ---------------------------------------------------------------------------------------------------

_encode_body = json.JSONEncoder().encode  # Dagster's serdes uses json.dumps defaults


def _render(event: tuple, pass_number: int) -> str:
    """One record as one line. Formatted around pre-escaped fragments for speed; the output is exactly what
    json.dumps gives (compact separators for the record, default ones for `event_data`)."""
    created, landed, has_landed, ctx, etype, step_key, asset, partition, level, message, specific = event
    msg = _escape(message)
    step = _json_text(step_key)
    if etype is None:
        dagster_event = "null"
    else:
        data = "null" if specific is None else _encode_body(specific)
        kind = "null" if step_key is None else '"COMPUTE"'
        dagster_event = (
            f'{{"__class__": "DagsterEvent", "event_specific_data": {data}, "event_type_value": "{etype}", '
            f'"message": {msg}, "pid": {ctx.pid_json}, "pipeline_name": {ctx.job_json}, "step_key": {step}, '
            f'"step_kind_value": {kind}}}'
        )
    body = (
        f'{{"__class__": "EventLogEntry", "dagster_event": {dagster_event}, "error_info": null, "level": {level}, '
        f'"message": {msg}, "pipeline_name": {ctx.job_json}, "run_id": {ctx.run_id_body}, "step_key": {step}, '
        f'"timestamp": {created / _SECOND_US!r}, "user_message": {msg}}}'
    )
    asset_key = "null" if asset is None else asset.key_json_text
    landed_at = f',"landed_at":"{_iso_us(landed)}"' if has_landed else ""
    return (
        f'{{"event_log_id":{(created - _ID_EPOCH_US) * 10 + pass_number},{ctx.record_head},'
        f'"dagster_event_type":{_json_text(etype)},"asset_key":{asset_key},"step_key":{step},'
        f'"partition":{_json_text(partition)},"event_data":{_escape(body)},"created_at":"{_iso_us(created)}"'
        f"{landed_at}}}"
    )


class _RawLine:
    """A line that is not a record: garbage, or a record cut short (the last line of its file)."""

    __slots__ = ("kind", "text")

    def __init__(self, text: str, kind: str) -> None:
        self.text, self.kind = text, kind


def _not_json_line(rng: random.Random) -> str:
    offset = rng.randint(10_000, 90_000_000)
    return rng.choice(
        (
            f"<<corrupted record at kafka offset {offset}>>",
            f"ERROR deserialization failed for record at offset {offset}: unexpected byte 0x{rng.randrange(256):02x}",
            f'{{"event_log_id": {offset}, "organization_id": {rng.randint(1000, 9999)}, "run_id": "',
            f"event_log_id={offset} dagster_event_type=STEP_START landed_at=?",
        )
    )


def _encode_file(lines: list[str], newline_at_end: bool, compress: bool) -> bytes:
    data = ("\n".join(lines) + ("\n" if newline_at_end else "")).encode("utf-8")
    return gzip.compress(data, compresslevel=1, mtime=0) if compress else data


class _Writer:
    def __init__(self, client, options: SimulationOptions) -> None:
        self.client, self.options = client, options
        self.job_uuid = _uuid(random.Random(f"{options.seed}:flink-job"))
        self.counters = [0] * options.parallelism
        # The SQL filesystem sink names part files without an extension; the plain layout keeps `.jsonl`.
        extension = ".jsonl" if options.layout == Layout.PLAIN else ""
        self.suffix = extension + (".gz" if options.gzip else "")

    def put(self, key: str, body: bytes) -> None:
        self.client.put_object(Bucket=self.options.bucket, Key=key, Body=body)

    def write_hour(
        self, hour: datetime, events: list[tuple], incoming_copies: list[tuple]
    ) -> tuple[HourManifest, list[tuple]]:
        """Write one hour's first commit; return its manifest and the records to copy into the next hour."""
        options = self.options
        folder = hour_prefix(options.prefix, hour, options.layout)
        committed = hour not in options.uncommitted_hours
        if hour in options.empty_hours and options.layout == Layout.HIVE:
            # Flink's SQL sink creates a partition only when a record reaches it: no folder, no _SUCCESS.
            return HourManifest(hour, folder, False, None, 0), []
        success_key = folder + SUCCESS_NAME if committed else None
        manifest = HourManifest(hour, folder, committed, success_key, int(committed))
        if hour in options.empty_hours:
            self.put(folder + SUCCESS_NAME, b"")
            return manifest, []

        events.sort(key=itemgetter(0))
        events.sort(key=itemgetter(1))  # stable: by landed time, then creation time
        files = self._distribute(events)
        rng = random.Random(f"{options.seed}:dirt:{_iso_hour(hour)}")
        truncated_file = None
        if hour in options.malformed_hours and options.truncated_last_line:
            candidates = [k for k, items in enumerate(files) if items]
            if candidates:
                truncated_file = rng.choice(candidates)
                victim = files[truncated_file][-1]
                text = _render(victim, 0)
                files[truncated_file][-1] = _RawLine(text[: len(text) // 2], "truncated")
                manifest.truncated_event_log_ids.append(event_log_id(victim[0]))

        def insert(k: int, item: Any) -> None:
            items = files[k]
            # Never after a truncated last line: the writer died there.
            high = len(items) - 1 if k == truncated_file else len(items)
            items.insert(rng.randint(0, max(0, high)), item)

        copies: list[tuple] = []
        if hour in options.duplicate_hours:
            sizes = [len(items) for items in files]
            starts = [sum(sizes[:k]) for k in range(len(files))]
            picked = rng.sample(range(sum(sizes)), min(options.duplicates_per_hour + 1, sum(sizes)))
            sources = []
            for flat in picked:
                k = bisect_right(starts, flat) - 1
                while sizes[k] == 0:  # empty files share their start with the next file
                    k += 1
                event = files[k][flat - starts[k]]
                if type(event) is tuple and len(sources) < options.duplicates_per_hour:
                    sources.append((k, event))
            for k, event in sources:
                copies.append(event)
                insert(rng.choice([j for j in range(len(files)) if j != k]), event)
        for event in incoming_copies:
            insert(rng.randrange(len(files)), event)
        if hour in options.malformed_hours:
            candidates = [k for k, items in enumerate(files) if items] or [0]
            for _ in range(options.non_json_lines_per_hour):
                insert(rng.choice(candidates), _RawLine(_not_json_line(rng), "not_json"))

        names = random.Random(f"{options.seed}:names:{_iso_hour(hour)}")
        sample_lines: list[str] = []
        p = min(options.parallelism, options.files_per_hour)
        for k, items in enumerate(files):
            if not items:
                continue
            subtask = k % p
            key = f"{folder}part-{self.job_uuid}-{subtask}-{self.counters[subtask]}{self.suffix}"
            self.counters[subtask] += 1
            part, lines = self._write_part(key, items, 0)
            manifest.part_files.append(part)
            if not sample_lines:
                sample_lines = lines[:6]
        for _ in range(options.ignored_objects_per_hour if manifest.part_files else 0):
            manifest.ignored_keys.extend(self._write_ignored(folder, names, sample_lines, p))
        if committed:
            self.put(success_key, b"")
        return manifest, copies

    def _distribute(self, events: list[tuple]) -> list[list[Any]]:
        """Events to files: a subtask per run (the Kafka key), each subtask's files rolled by time."""
        options = self.options
        p = min(options.parallelism, options.files_per_hour)
        by_subtask: list[list[tuple]] = [[] for _ in range(p)]
        for event in events:
            by_subtask[event[3].subtask_key % p].append(event)
        files: list[list[Any]] = [[] for _ in range(options.files_per_hour)]
        for subtask, subtask_events in enumerate(by_subtask):
            own = list(range(subtask, options.files_per_hour, p))
            size = len(subtask_events)
            for j, k in enumerate(own):
                files[k] = subtask_events[size * j // len(own) : size * (j + 1) // len(own)]
        return files

    def _write_part(self, key: str, items: list[Any], pass_number: int) -> tuple[PartFileManifest, list[str]]:
        lines: list[str] = []
        ids: list[int] = []
        malformed: list[MalformedLine] = []
        for number, item in enumerate(items, 1):
            if type(item) is tuple:
                lines.append(_render(item, pass_number))
                ids.append((item[0] - _ID_EPOCH_US) * 10 + pass_number)
            else:
                lines.append(item.text)
                malformed.append(MalformedLine(key, number, item.kind))
        newline_at_end = not (malformed and malformed[-1].kind == "truncated")
        body = _encode_file(lines, newline_at_end, self.options.gzip)
        self.put(key, body)
        return PartFileManifest(key, pass_number, len(items), len(ids), ids, malformed, len(body)), lines

    def _write_ignored(self, folder: str, names: random.Random, sample_lines: list[str], p: int) -> list[str]:
        """An in-progress part file and a multipart temp object of it, both with partial content."""
        subtask = names.randrange(p)
        in_progress = f"part-{self.job_uuid}-{subtask}-{self.counters[subtask]}.inprogress.{_uuid(names)}"
        temp = f"_{in_progress}_tmp_{_uuid(names)}"
        if self.options.layout == Layout.HIVE:
            in_progress = "." + in_progress  # the SQL sink hides its in-progress files
        complete = sample_lines[:-1] if len(sample_lines) > 1 else []
        cut = sample_lines[-1][: len(sample_lines[-1]) // 2] if sample_lines else "{"
        raw = ("".join(line + "\n" for line in complete) + cut).encode("utf-8")
        if self.options.gzip:
            stream = gzip.compress(raw, compresslevel=1, mtime=0)
            in_progress_body = stream[: max(1, len(stream) * 2 // 3)]
        else:
            in_progress_body = raw
        self.put(folder + in_progress, in_progress_body)
        self.put(folder + temp, in_progress_body[: max(1, len(in_progress_body) // 3)])
        return [folder + in_progress, folder + temp]


def simulate(client, options: SimulationOptions) -> Manifest:
    """Land every hour of `options` in S3 (first commits, then late re-commits) and describe it."""
    catalogue = _build_catalogue(options)
    stream = _Stream(options, catalogue)
    stream.warm_up()
    writer = _Writer(client, options)
    hours: list[HourManifest] = []
    copies: list[tuple] = []
    for index, hour in enumerate(options.hour_starts):
        manifest, copies = writer.write_hour(hour, stream.hour(index), copies)
        hours.append(manifest)
    for hour_manifest in hours:
        if hour_manifest.hour in options.late_hours:
            late = recommit_late(client, options, hour_manifest.hour)
            hour_manifest.part_files.extend(late.part_files)
            hour_manifest.late_event_log_ids.extend(late.event_log_ids)
            hour_manifest.success_writes += 1
    _mark_duplicates(hours)
    return Manifest(options, hours)


@dataclass(frozen=True)
class StreamRecord:
    """One record as the producer sends it to Flink, and when Flink receives it (its replication time)."""

    replicated_at_us: int
    event_log_id: int
    line: str

    @property
    def replicated_at(self) -> datetime:
        return datetime.fromtimestamp(self.replicated_at_us / _SECOND_US, tz=UTC)

    @property
    def hour(self) -> datetime:
        return datetime.fromtimestamp(self.replicated_at_us // _HOUR_US * 3600, tz=UTC)


def event_stream(options: SimulationOptions) -> list[StreamRecord]:
    """The records of the hours of `options` as Flink receives them, in arrival order: what `simulate` lands
    in the hours' first commits, without the dirt a writer adds (no copies, no malformed lines, no
    truncation). Empty hours receive nothing. The same options give the same records as `simulate`."""
    stream = _Stream(options, _build_catalogue(options))
    stream.warm_up()
    records: list[StreamRecord] = []
    for index, hour in enumerate(options.hour_starts):
        events = stream.hour(index)
        if hour in options.empty_hours:
            continue
        events.sort(key=itemgetter(0))
        events.sort(key=itemgetter(1))
        records += [StreamRecord(e[1], event_log_id(e[0]), _render(e, 0)) for e in events]
    return records


def late_event_stream(
    options: SimulationOptions, hour: datetime | str, events: int | None = None, *, pass_number: int = 1
) -> list[StreamRecord]:
    """The late records `recommit_late` lands in `hour`, as Flink receives them after the hour's commit."""
    hour = parse_hour(hour)
    count = options.late_events_per_hour if events is None else events
    late = _late_events(options, hour, count, pass_number)
    late.sort(key=itemgetter(0))
    late.sort(key=itemgetter(1))
    return [StreamRecord(e[1], event_log_id(e[0], pass_number), _render(e, pass_number)) for e in late]


def _mark_duplicates(hours: list[HourManifest]) -> None:
    hours_of: dict[int, int] = Counter()
    for h in hours:
        for i in h.distinct_event_log_ids:
            hours_of[i] += 1
    for h in hours:
        counts = Counter(h.event_log_ids)
        h.duplicate_ids_within_hour = sorted(i for i, n in counts.items() if n > 1)
        h.duplicate_ids_across_hours = sorted(i for i in counts if hours_of[i] > 1)


def recommit_late(
    client, options: SimulationOptions, hour: datetime | str, events: int | None = None, *, pass_number: int = 1
) -> LateRecommit:
    """Re-open a committed hour: one more part file with `events` new late events, then `_SUCCESS` again.

    The late events are created inside the hour and get ids ending in `pass_number` (1..9), so they are
    new to the hour and to every other hour; the same arguments always write the same object.
    """
    hour = parse_hour(hour)
    if not 1 <= pass_number <= _MAX_PASSES:
        raise ValueError(f"pass_number must be in 1..{_MAX_PASSES}")
    count = options.late_events_per_hour if events is None else events
    late = _late_events(options, hour, count, pass_number)
    late.sort(key=itemgetter(0))
    late.sort(key=itemgetter(1))
    folder = hour_prefix(options.prefix, hour, options.layout)
    writer = _Writer(client, options)
    # A restarted Flink job: a new part-file uuid, counters from 0.
    writer.job_uuid = _uuid(random.Random(f"{options.seed}:late-job:{_iso_hour(hour)}:{pass_number}"))
    part_files = []
    if late:
        key = f"{folder}part-{writer.job_uuid}-0-0{writer.suffix}"
        part_files.append(writer._write_part(key, late, pass_number)[0])
    writer.put(folder + SUCCESS_NAME, b"")
    return LateRecommit(hour, part_files, folder + SUCCESS_NAME)


# ---------------------------------------------------------------------------------------------------
# Reading back (independent of the writer's state)
# ---------------------------------------------------------------------------------------------------


@dataclass
class LandedLine:
    key: str
    line_number: int
    record: dict[str, Any]


@dataclass
class LandedHour:
    hour: datetime
    committed: bool
    part_keys: list[str]
    ignored_keys: list[str]
    other_keys: list[str]
    lines: list[LandedLine]
    malformed_lines: list[MalformedLine]
    line_counts: dict[str, int]

    @property
    def events(self) -> list[dict[str, Any]]:
        return [line.record for line in self.lines]

    @property
    def event_log_ids(self) -> list[int]:
        return [line.record["event_log_id"] for line in self.lines]


def list_hour_keys(client, bucket: str, prefix: str, hour: datetime | str, layout: str = Layout.HIVE) -> list[str]:
    folder = hour_prefix(prefix, parse_hour(hour), layout)
    keys = []
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=folder):
        keys.extend(obj["Key"] for obj in page.get("Contents", []) if "/" not in obj["Key"][len(folder) :])
    return sorted(keys)


def read_landed_hour(client, bucket: str, prefix: str, hour: datetime | str, layout: str = Layout.HIVE) -> LandedHour:
    """Read an hour back as a loader should: finished part files only, gzip by suffix, lines counted."""
    hour = parse_hour(hour)
    keys = list_hour_keys(client, bucket, prefix, hour, layout)
    folder = hour_prefix(prefix, hour, layout)
    kinds = {key: classify_in_hour(key.removeprefix(folder)) for key in keys}
    part_keys = [k for k in keys if kinds[k] is ObjectKind.LOADABLE]
    lines: list[LandedLine] = []
    malformed: list[MalformedLine] = []
    line_counts: dict[str, int] = {}
    for key in part_keys:
        data = client.get_object(Bucket=bucket, Key=key)["Body"].read()
        if key.endswith(".gz"):
            data = gzip.decompress(data)
        chunks = data.split(b"\n")
        ends_with_newline = chunks[-1] == b""
        if ends_with_newline:
            chunks.pop()
        line_counts[key] = len(chunks)
        for number, chunk in enumerate(chunks, 1):
            try:
                record = json.loads(chunk)
            except ValueError:
                record = None
            if isinstance(record, dict):
                lines.append(LandedLine(key, number, record))
            else:
                last_cut = number == len(chunks) and not ends_with_newline
                malformed.append(MalformedLine(key, number, "truncated" if last_cut else "not_json"))
    return LandedHour(
        hour=hour,
        committed=folder + SUCCESS_NAME in kinds,
        part_keys=part_keys,
        ignored_keys=[k for k in keys if kinds[k] is ObjectKind.BYPRODUCT and k != folder + SUCCESS_NAME],
        other_keys=[k for k in keys if kinds[k] is ObjectKind.UNEXPECTED],
        lines=lines,
        malformed_lines=malformed,
        line_counts=line_counts,
    )


def read_landed_events(
    client, bucket: str, prefix: str, hour: datetime | str, layout: str = Layout.HIVE
) -> list[dict[str, Any]]:
    """The valid records of an hour's finished part files, in key then line order (copies included)."""
    return read_landed_hour(client, bucket, prefix, hour, layout).events


# ---------------------------------------------------------------------------------------------------
# CLI
# ---------------------------------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m devstack.simulator", description=__doc__.split("\n\n")[0])
    parser.add_argument("--endpoint-url", required=True, help="S3 endpoint, e.g. the local moto server")
    parser.add_argument("--region", default="us-east-1")
    parser.add_argument("--bucket", required=True, help="created when missing")
    parser.add_argument("--prefix", default="event_log")
    parser.add_argument(
        "--layout",
        choices=[layout.value for layout in Layout],
        default=Layout.HIVE.value,
        help="hive: dt=YYYY-MM-DD/hr=HH/ as Flink's SQL sink writes (default); plain: YYYY/MM/DD/HH/",
    )
    parser.add_argument("--end-hour", required=True, help="first hour NOT landed, e.g. 2025-08-01T06:00Z")
    parser.add_argument("--hours", type=int, default=6)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--events-per-hour", type=int, default=2000)
    parser.add_argument("--files-per-hour", type=int, default=3)
    parser.add_argument("--parallelism", type=int, default=4)
    parser.add_argument("--gzip", action="store_true")
    parser.add_argument("--organizations", type=int, default=3)
    parser.add_argument("--deployments-per-organization", type=int, default=2)
    parser.add_argument("--empty-hour", action="append", default=[], metavar="HOUR")
    parser.add_argument("--uncommitted-hour", action="append", default=[], metavar="HOUR")
    parser.add_argument("--late-hour", action="append", default=[], metavar="HOUR")
    parser.add_argument("--late-events", type=int, default=40, help="late events per re-committed hour")
    parser.add_argument("--malformed-hour", action="append", default=[], metavar="HOUR")
    parser.add_argument("--non-json-lines", type=int, default=2, help="per malformed hour")
    parser.add_argument("--no-truncated-line", action="store_true", help="malformed hours without a cut last line")
    parser.add_argument("--duplicate-hour", action="append", default=[], metavar="HOUR")
    parser.add_argument("--duplicates", type=int, default=5, help="duplicated records per duplicate hour")
    parser.add_argument("--summary", action="store_true", help="leave the per-file event_log_ids out of the manifest")
    return parser


def main(argv: list[str] | None = None) -> int:
    import boto3
    from botocore.exceptions import ClientError

    args = _parser().parse_args(argv)
    options = SimulationOptions(
        bucket=args.bucket,
        prefix=args.prefix,
        layout=args.layout,
        seed=args.seed,
        end_hour=args.end_hour,
        hours=args.hours,
        events_per_hour=args.events_per_hour,
        files_per_hour=args.files_per_hour,
        parallelism=args.parallelism,
        gzip=args.gzip,
        organizations=args.organizations,
        deployments_per_organization=args.deployments_per_organization,
        empty_hours=tuple(args.empty_hour),
        uncommitted_hours=tuple(args.uncommitted_hour),
        late_hours=tuple(args.late_hour),
        late_events_per_hour=args.late_events,
        malformed_hours=tuple(args.malformed_hour),
        non_json_lines_per_hour=args.non_json_lines,
        truncated_last_line=not args.no_truncated_line,
        duplicate_hours=tuple(args.duplicate_hour),
        duplicates_per_hour=args.duplicates,
    )
    client = boto3.client("s3", endpoint_url=args.endpoint_url, region_name=args.region)
    try:
        client.head_bucket(Bucket=options.bucket)
    except ClientError:
        location = (
            {} if args.region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": args.region}}
        )
        client.create_bucket(Bucket=options.bucket, **location)
    manifest = simulate(client, options)
    sys.stdout.write(manifest.to_json(include_event_log_ids=not args.summary, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
