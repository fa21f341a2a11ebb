"""The event catalogue: organizations, their deployments, the jobs each runs, their steps, assets and checks.

Built from the seed alone (`build_catalogue`), so the same options give the same organizations, deployments,
jobs and assets; `RunContext` holds what every event of one run shares, JSON fragments included.
"""

from __future__ import annotations

import json
import random
from json.encoder import encode_basestring_ascii as _escape

from devstack.simulator.options import SimulationOptions
from devstack.simulator.records import SECOND_US, json_text

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
_RESOURCES = "[io_manager, snowflake, s3]"


class _Asset:
    __slots__ = ("display", "key_dict", "key_json", "key_json_text", "path")

    def __init__(self, path: tuple[str, ...]) -> None:
        self.path = list(path)
        self.key_json = json.dumps(self.path)
        self.key_json_text = _escape(self.key_json)
        self.key_dict = {"__class__": "AssetKey", "path": self.path}
        self.display = "/".join(path)


# Assets observed outside any run, by external sensors.
EXTERNAL_ASSETS = tuple(_Asset(p) for p in _EXTERNAL_ASSETS)


class Step:
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


class Job:
    __slots__ = ("max_us", "mean_us", "messages", "name", "partitioning", "retries", "steps", "weight")

    def __init__(self, name, steps, partitioning, mean_seconds, retries, weight):
        self.name, self.steps, self.partitioning = name, steps, partitioning
        self.mean_us, self.retries, self.weight = int(mean_seconds * SECOND_US), retries, weight
        # An upper bound of a run's length (see events.py): queueing, then every step one after
        # the other, every attempt at its longest (launch, resources, 2x mean, retry wait or checks), then the end.
        attempt_us = 2 * self.mean_us + 90 * SECOND_US
        self.max_us = 100 * SECOND_US + len(steps) * (2 * SECOND_US + (retries + 1) * attempt_us)
        self.messages = {
            "PIPELINE_START": f'Started execution of run for "{name}".',
            "PIPELINE_SUCCESS": f'Finished execution of run for "{name}".',
            "PIPELINE_CANCELED": f'Execution of run for "{name}" canceled.',
        }


class RunContext:
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
        self.job_json, self.pid_json = json_text(job_name), "null" if pid is None else str(pid)
        self.run_id_body = _escape(run_id or "")  # Dagster writes "" for run-less events
        self.record_head = (
            f'"organization_id":{organization_id},"deployment_id":{deployment_id},"run_id":{json_text(run_id)}'
        )


class Deployment:
    __slots__ = ("alerting", "deployment_id", "job_weights", "jobs", "name", "organization_id", "runless")

    def __init__(self, organization_id, deployment_id, name, jobs, alerting):
        self.organization_id, self.deployment_id, self.name = organization_id, deployment_id, name
        self.jobs, self.alerting = jobs, alerting
        self.job_weights = [j.weight for j in jobs]
        self.runless = RunContext(organization_id, deployment_id, None, None, deployment_id, None)


def build_catalogue(options: SimulationOptions) -> list[Deployment]:
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
                    steps.append(Step(key, asset, checks, deps, rng.uniform(0.005, 0.05)))
                retries = rng.choice((0, 0, 1, 1, 2))
                jobs.append(Job(job_name, tuple(steps), partitioning, mean_seconds, retries, weight))
            weight_factor = 1.0 if d == 0 else 0.3
            for job in jobs:
                job.weight *= weight_factor
            deployments.append(Deployment(organization_id, deployment_id, name, jobs, d == 0 or rng.random() < 0.5))
            deployment_id += rng.randint(1, 40)
    return deployments
