"""What a Dagster run emits: planned assets, `PIPELINE_START`, per step worker/resource/step events with
retries, materializations with metadata, asset checks, user log lines, then success, failure or cancelation,
and alerts after failures; plus observations of external assets outside any run.

A raw event is `(created_us, event_type, step_key, asset, partition, level, message, event_specific_data)`;
stream.py lands it as `(created_us, landed_us, has_landed_at, context, event_type, step_key, asset,
partition, level, message, event_specific_data)`.
"""

from __future__ import annotations

import random
import time
from typing import Any

from devstack.simulator.catalogue import EXTERNAL_ASSETS, Deployment, Job, RunContext, Step
from devstack.simulator.records import SECOND_US, seeded_uuid

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
    seconds = start_us // SECOND_US
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


def run_events(rng: random.Random, deployment: Deployment, job: Job, start_us: int) -> tuple[RunContext, list]:
    """All events of one run, in the order the run emits them (times are not globally sorted)."""
    ctx = RunContext(
        deployment.organization_id,
        deployment.deployment_id,
        seeded_uuid(rng),
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
    t += randint(1 * SECOND_US, 40 * SECOND_US)  # queued, then launched
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
        begin = ready + randint(20_000, 2 * SECOND_US)
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
                t = cancel_at + randint(200_000, 3 * SECOND_US)
                add(t, "STEP_FAILURE", step.key, step.messages["STEP_INTERRUPTED"], data, level=40)
        t = cancel_at + randint(3 * SECOND_US, 25 * SECOND_US)
        data = {"__class__": "JobCanceledData", "error": None}
        add(t, "PIPELINE_CANCELED", None, job.messages["PIPELINE_CANCELED"], data, level=40)
        return ctx, events

    t = end + randint(100_000, 3 * SECOND_US)
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
        t += randint(2 * SECOND_US, 30 * SECOND_US)
        data = {"__class__": "AlertSuccessData", "alert_policy_name": "run-failures", "notification_service": "slack"}
        add(t, "ALERT_SUCCESS", None, 'Sent alert "run-failures" to slack.', data, level=20)
    return ctx, events


def _step_events(rng: random.Random, add, job: Job, step: Step, t: int, partition) -> tuple[bool, int]:
    """Add one step's events from `t` on (all attempts); return (succeeded, time of its last event)."""
    randint, rand = rng.randint, rng.random
    key, messages, asset = step.key, step.messages, step.asset
    for attempt in range(job.retries + 1):
        add(t, "STEP_WORKER_STARTING", key, messages["STEP_WORKER_STARTING"], _engine_data("step_process_start", None))
        t += randint(300_000, 6 * SECOND_US)
        add(t, "STEP_WORKER_STARTED", key, messages["STEP_WORKER_STARTED"], _engine_data(None, "step_process_start"))
        t += randint(5_000, 500_000)
        add(t, "RESOURCE_INIT_STARTED", key, messages["RESOURCE_INIT_STARTED"], _engine_data("resources", None))
        t += randint(50_000, 3 * SECOND_US)
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
                t += wait * SECOND_US + randint(0, 2 * SECOND_US)
                continue
            data = _step_failure_data(error, "ErrorSource.USER_CODE_ERROR")
            add(t, "STEP_FAILURE", key, messages["STEP_FAILURE"], data, level=40)
            return False, t
        if asset is not None:
            t += randint(1_000, 500_000)
            rows = int(rng.lognormvariate(9.0, 2.0))
            entries = [
                _metadata("Execution Time (seconds)", "FloatMetadataEntryData", round(duration / SECOND_US, 3)),
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
                t += randint(50_000, 5 * SECOND_US)
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
        add(t, "STEP_SUCCESS", key, f'Finished execution of step "{key}" in {(t - begin) / SECOND_US:.2f}s.', data)
        return True, t
    raise AssertionError("unreachable: the last attempt returns")


def runless_observation(rng: random.Random, deployment: Deployment, t: int) -> tuple:
    """An external sensor's observation of an external asset at `t`, outside any run (run_id null)."""
    asset = EXTERNAL_ASSETS[rng.randrange(len(EXTERNAL_ASSETS))]
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
