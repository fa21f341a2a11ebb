"""The whole event_log_ingest DAG (load, then the Cosmos dbt task group) hour by hour on the local
stack, every model compared with an independent computation from the simulator's landed files.

Hours here are on 2025-08-02, after the ones test_event_log_ingest loads (which never run dbt).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from devstack.expected_marts import compute_marts, lines_from_landed_files
from devstack.model_oracle import MODEL_KEYS, differences, read_model, typed_expected
from devstack.simulator import SimulationOptions, recommit_late, simulate
from devstack.stack import BUCKET, PREFIX
from tests.integration.conftest import load_dag, query

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]

DAY = datetime(2025, 8, 2, tzinfo=UTC)
HOURS = [DAY + timedelta(hours=n) for n in range(4)]


@pytest.fixture(scope="module")
def whole_dag(snowflake_objects):
    return load_dag("event_log_ingest")


def run_hour(dag, hour: datetime):
    run = dag.test(logical_date=hour + timedelta(hours=1))  # dag.test() loads the hour before the date
    assert run.state == "success", f"event_log_ingest for {hour} ended {run.state}"
    return run


def landed_lines(s3_client, warehouse) -> list[dict]:
    """Every hour the raw table holds (this module's and the other integration modules'), read from S3:
    each build models every pending change, whoever loaded it, so the models follow all of them."""
    sql = "SELECT REPLICATION_HOUR, MAX(LOADED_AT) FROM EVENT_LOG.RAW.RAW_FLINK_EVENT_LOG GROUP BY 1"
    loaded_at = dict(query(warehouse, sql))
    hours = sorted(hour.replace(tzinfo=UTC) for hour in loaded_at)
    return lines_from_landed_files(s3_client, BUCKET, PREFIX, hours, loaded_at)


def assert_models_match(warehouse, lines):
    expected = compute_marts(lines)
    for model in MODEL_KEYS:
        actual = read_model(warehouse, model)
        wanted = typed_expected(model, expected[model])
        assert actual == wanted, f"{model}:\n{differences(model, actual, wanted)[:4000]}"


@pytest.fixture(scope="module")
def played(whole_dag, s3_client, local_stack):
    options = SimulationOptions(
        bucket=BUCKET, prefix=PREFIX, end_hour=HOURS[-1] + timedelta(hours=1), hours=len(HOURS),
        events_per_hour=600, files_per_hour=2, duplicate_hours=(HOURS[1],), duplicates_per_hour=3, seed=23,
    )  # fmt: skip
    manifest = simulate(s3_client, options)
    for hour in HOURS:
        run_hour(whole_dag, hour)
    return manifest


def test_every_model_equals_the_independent_computation(played, s3_client, warehouse):
    lines = landed_lines(s3_client, warehouse)
    assert_models_match(warehouse, lines)
    runs = read_model(warehouse, "fct_runs")
    assert {r["status"] for r in runs} >= {"SUCCESS", "FAILURE"}
    spanning = [r for r in runs if r["started_at"] and r["ended_at"] and r["started_at"].hour != r["ended_at"].hour]
    assert spanning, "the scenario holds runs whose start and end landed in different hours"
    duplicated = set(played.hour(HOURS[1]).duplicate_ids_across_hours)
    assert duplicated, "the scenario holds an event duplicated in a later hour"
    staged_ids = [r["event_log_id"] for r in read_model(warehouse, "stg_event_log")]
    assert len(staged_ids) == len(set(staged_ids))


# When a row was loaded: a re-run loads the hour again, so this (and only this) moves.
LOAD_TIME_COLUMNS = {"loaded_at"}


def content(rows: list[dict]) -> list[dict]:
    return [{k: v for k, v in row.items() if k not in LOAD_TIME_COLUMNS} for row in rows]


def test_rerunning_an_hour_changes_no_model(played, whole_dag, warehouse):
    before = {model: content(read_model(warehouse, model)) for model in MODEL_KEYS}
    run_hour(whole_dag, HOURS[1])
    after = {model: content(read_model(warehouse, model)) for model in MODEL_KEYS}
    for model in MODEL_KEYS:
        assert after[model] == before[model], f"{model}:\n{differences(model, after[model], before[model])[:3000]}"


def test_a_late_recommit_updates_the_models(played, whole_dag, s3_client, warehouse):
    late = recommit_late(s3_client, played.options, HOURS[2], 30)
    run_hour(whole_dag, HOURS[2])
    lines = landed_lines(s3_client, warehouse)
    assert {i for f in late.part_files for i in f.event_log_ids} <= {line["record"]["event_log_id"] for line in lines}
    assert_models_match(warehouse, lines)
