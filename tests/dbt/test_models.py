"""The dbt project against a real local Snowflake (fakesnow's server): load the raw table hour by
hour, run the hourly `dbt build` with each DAG run's interval, and compare every model with
expected_marts, computed in plain Python from the same landed lines.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from devstack.expected_marts import compute_marts
from devstack.model_oracle import MODEL_KEYS, RAW_TABLE, differences, normalized, read_model, typed_expected
from tests.dbt.conftest import DBT_PROJECT_DIR
from tests.dbt.landed_events import Build, Load, build_scenario, landed_lines

DBT = str(Path(sys.executable).with_name("dbt"))


def create_raw_table(connection) -> None:
    cursor = connection.cursor()
    cursor.execute("CREATE SCHEMA IF NOT EXISTS EVENT_LOG.RAW")
    cursor.execute(
        f"CREATE OR REPLACE TABLE {RAW_TABLE} (RECORD VARIANT, FILE_NAME VARCHAR, FILE_ROW_NUMBER NUMBER, "
        "REPLICATION_HOUR TIMESTAMP_NTZ, LOADED_AT TIMESTAMP_NTZ, AIRFLOW_RUN_ID VARCHAR)"
    )


def load_hour(connection, load: Load) -> None:
    """What the loader does for one hour: drop its earlier rows, then insert every line of its files."""
    cursor = connection.cursor()
    cursor.execute(f"DELETE FROM {RAW_TABLE} WHERE REPLICATION_HOUR = %s::TIMESTAMP_NTZ", (load.hour.isoformat(" "),))
    lines = load.lines()
    if not lines:
        return
    parameters: list[object] = []
    for line in lines:
        parameters += [
            json.dumps(line["record"]),
            line["file_name"],
            line["file_row_number"],
            line["replication_hour"].isoformat(" "),
            line["loaded_at"].isoformat(" "),
            line["airflow_run_id"],
        ]
    rows = ", ".join(["(%s, %s, %s, %s, %s, %s)"] * len(lines))
    cursor.execute(
        f"INSERT INTO {RAW_TABLE} (RECORD, FILE_NAME, FILE_ROW_NUMBER, REPLICATION_HOUR, LOADED_AT, AIRFLOW_RUN_ID) "
        "SELECT PARSE_JSON(column1), column2, column3, column4::TIMESTAMP_NTZ, column5::TIMESTAMP_NTZ, column6 "
        f"FROM VALUES {rows}",
        parameters,
    )


def run_dbt(env: dict, target_path: Path, *args: str) -> tuple[subprocess.CompletedProcess, float]:
    command = [
        DBT,
        *args,
        "--project-dir",
        str(DBT_PROJECT_DIR),
        "--profiles-dir",
        str(DBT_PROJECT_DIR),
        "--target-path",
        str(target_path),
        "--log-path",
        str(target_path / "logs"),
    ]
    started = time.monotonic()
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300, check=False)
    return result, time.monotonic() - started


def build_vars(build: Build) -> str:
    return json.dumps({"data_interval_start": build.interval_start, "data_interval_end": build.interval_end})


def data_test_outcomes(target_path: Path) -> dict[str, tuple[str, int]]:
    """status and failure count of each data test of the last dbt command, by test name."""
    run_results = json.loads((target_path / "run_results.json").read_text())
    return {
        result["unique_id"].split(".")[2]: (result["status"], result["failures"])
        for result in run_results["results"]
        if result["unique_id"].startswith("test.")
    }


def read_freshness(connection) -> tuple[dict, datetime, datetime]:
    cursor = connection.cursor()
    before = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
    cursor.execute("SELECT * FROM EVENT_LOG.ANALYTICS.mart_ingestion_freshness")
    columns = [column[0].lower() for column in cursor.description]
    rows = [
        dict(zip(columns, (normalized(c, v) for c, v in zip(columns, row, strict=True)), strict=True)) for row in cursor
    ]
    after = datetime.now(UTC).replace(tzinfo=None) + timedelta(seconds=1)
    assert len(rows) == 1
    return rows[0], before, after


def snapshot(connection) -> dict[str, list[dict]]:
    return {model: read_model(connection, model) for model in MODEL_KEYS}


@pytest.fixture(scope="module")
def played_scenario(snowflake_connection, dbt_env, tmp_path_factory):
    """Plays the scenario: each Load into the raw table, each Build as one hourly `dbt build`.

    Records, after every build, what each model holds, what expected_marts says it should hold, the
    data tests' outcomes and the build's duration.
    """
    create_raw_table(snowflake_connection)
    target_path = tmp_path_factory.mktemp("dbt_target")
    loads: list[Load] = []
    builds = []
    for step in build_scenario().steps:
        if isinstance(step, Load):
            load_hour(snowflake_connection, step)
            loads.append(step)
            continue
        result, seconds = run_dbt(dbt_env, target_path, "build", "--vars", build_vars(step))
        assert result.returncode == 0, f"dbt build for {step.note} failed:\n{result.stdout[-8000:]}"
        lines = landed_lines(loads)
        freshness = read_freshness(snowflake_connection)
        builds.append(
            {
                "build": step,
                "seconds": seconds,
                "actual": snapshot(snowflake_connection),
                "expected": compute_marts(lines),
                "freshness": freshness,
                "tests": data_test_outcomes(target_path),
            }
        )
    return {"builds": builds, "loads": loads, "target_path": target_path}


@pytest.mark.timeout(600)
@pytest.mark.parametrize("model", sorted(MODEL_KEYS))
def test_each_hourly_build_matches_expected_marts(played_scenario, model):
    for build in played_scenario["builds"]:
        expected = typed_expected(model, build["expected"][model])
        actual = build["actual"][model]
        assert actual == expected, (
            f"{model} after the build of {build['build'].note}:\n{differences(model, actual, expected)}"
        )


@pytest.mark.timeout(600)
def test_ingestion_freshness_after_each_build(played_scenario):
    for build in played_scenario["builds"]:
        row, before, after = build["freshness"]
        expected = build["expected"]["mart_ingestion_freshness"]
        assert {column: row[column] for column in expected} == expected, build["build"].note
        assert before <= row["measured_at"] <= after
        whole_seconds = int((row["measured_at"].replace(microsecond=0) - expected["loaded_through"]).total_seconds())
        assert row["lag_seconds"] == whole_seconds


@pytest.mark.timeout(600)
def test_scenario_exercises_the_dirty_cases(played_scenario):
    """The fixture is only as good as what it contains: check the story's key facts in the result."""
    final = played_scenario["builds"][-1]["actual"]
    runs = {run["job_name"]: run for run in final["fct_runs"]}
    assert {job: run["status"] for job, run in runs.items()} == {
        "daily_orders": "SUCCESS",
        "billing_sync": "FAILURE",
        "adhoc_backfill": "CANCELED",
        "nightly_models": "STARTED",
        "ping": "SUCCESS",
        "late_job": "SUCCESS",
    }
    # The run spanning hours 22 and 23: running after hour 22, failed once hour 23 is built.
    after_hour_22 = {run["job_name"]: run for run in played_scenario["builds"][0]["actual"]["fct_runs"]}
    assert after_hour_22["billing_sync"]["status"] == "STARTED"
    assert after_hour_22["billing_sync"]["ended_at"] is None
    assert runs["billing_sync"]["duration_seconds"] == Decimal("720.000")

    steps = {(step["run_id"], step["step_key"]): step for step in final["fct_steps"]}
    revenue = steps[(runs["daily_orders"]["run_id"], "build_revenue")]
    assert (revenue["retries"], revenue["failures"], revenue["status"]) == (1, 0, "SUCCESS")
    publish = steps[(runs["nightly_models"]["run_id"], "publish")]
    assert (publish["status"], publish["ended_at"]) == ("UP_FOR_RETRY", None)

    staged = final["stg_event_log"]
    assert len({event["event_log_id"] for event in staged}) == len(staged)
    assert "ASSET_HEALTH_CHANGED" in {event["dagster_event_type"] for event in staged}
    assert any(event["record"].get("trace_id") == "abc123" for event in staged)
    # "midnight"'s start first landed in hour 00; the re-opened hour 23 holds an earlier copy.
    midnight_start = next(
        event
        for event in staged
        if event["run_id"] == runs["nightly_models"]["run_id"] and event["dagster_event_type"] == "PIPELINE_START"
    )
    assert midnight_start["replication_hour"] == datetime(2025, 8, 1, 23)

    usage = {(day["organization_id"], day["usage_date"]): day for day in final["mart_usage_daily"]}
    assert usage[(101, date(2025, 8, 1))]["billable_credits"] > 0
    assert usage[(101, date(2025, 8, 2))]["steps"] == 3


@pytest.mark.timeout(600)
def test_dirty_data_is_counted_by_warnings(played_scenario):
    by_note = {build["build"].note: build["tests"] for build in played_scenario["builds"]}
    assert by_note["hour 22"]["stg_event_log_known_event_types"] == ("warn", 1)
    assert by_note["hour 00, Airflow's str()"]["raw_lines_without_event_log_id"] == ("warn", 1)
    # Outside the window the old dirt is not reported again.
    assert by_note["hour 02, empty, no offset"]["raw_lines_without_event_log_id"] == ("pass", 0)
    for tests in by_note.values():
        failing = {name: outcome for name, outcome in tests.items() if outcome[0] in ("fail", "error")}
        assert failing == {}


@pytest.mark.timeout(600)
def test_rerunning_an_hour_changes_nothing(played_scenario, snowflake_connection, dbt_env):
    before = snapshot(snowflake_connection)
    for build in played_scenario["builds"][:3]:
        result, _ = run_dbt(dbt_env, played_scenario["target_path"], "build", "--vars", build_vars(build["build"]))
        assert result.returncode == 0, result.stdout[-8000:]
        assert snapshot(snowflake_connection) == before, f"re-running {build['build'].note} changed the models"


@pytest.mark.timeout(600)
def test_full_refresh_without_vars_rebuilds_the_same(played_scenario, snowflake_connection, dbt_env):
    """Hour by hour, in any order, with late data: the same as processing everything at once."""
    before = snapshot(snowflake_connection)
    result, _ = run_dbt(dbt_env, played_scenario["target_path"], "build", "--full-refresh")
    assert result.returncode == 0, result.stdout[-8000:]
    assert snapshot(snowflake_connection) == before


@pytest.mark.timeout(600)
def test_source_freshness_errors_on_stale_hours(played_scenario, dbt_env):
    """The newest loaded hour is from 2025: older than error_after, so freshness errors."""
    result, _ = run_dbt(dbt_env, played_scenario["target_path"], "source", "freshness")
    sources = json.loads((played_scenario["target_path"] / "sources.json").read_text())
    statuses = {source["unique_id"]: source["status"] for source in sources["results"]}
    assert statuses == {"source.event_log.event_log_raw.raw_flink_event_log": "error"}, result.stdout[-4000:]


@pytest.mark.timeout(600)
def test_dbt_parse_needs_no_warehouse(tmp_path):
    """`dbt parse` (how the manifest for cosmos is produced) runs with no Snowflake settings at all."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("SNOWFLAKE_", "DBT_"))}
    result, _ = run_dbt(env, tmp_path, "parse")
    assert result.returncode == 0, result.stdout[-4000:]
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    models = {node["name"] for node in manifest["nodes"].values() if node["resource_type"] == "model"}
    assert models == {*MODEL_KEYS, "mart_ingestion_freshness"}


@pytest.mark.timeout(600)
def test_a_build_over_the_changed_hours_only_matches_expected_marts(played_scenario, snowflake_connection, dbt_env):
    """What the DAG's build task does: two hours far apart re-loaded (late events in each), then one build
    with EVENT_LOG_BUILD_HOURS naming just those two, in no particular order and with a duplicate: every
    model equals the computation from all loaded lines, and the hours between them were left alone. A next
    build over other hours reuses dbt's saved parse (the hours are not a var), and the by-hand var
    `event_log_hours` models the same."""
    from tests.dbt.landed_events import H01, H22, EventLog, Run, at, part_file_name

    log = EventLog(first_event_log_id=9_000_001)
    late_run = Run(log, name="changed-hours", organization_id=101, deployment_id=1001, job_name="changed_hours")
    late_22 = [
        late_run.start(at("2025-08-01T22:50:00.000")),
        late_run.step("STEP_START", "a", at("2025-08-01T22:51:00.000")),
    ]
    late_01 = [late_run.step("STEP_SUCCESS", "a", at("2025-08-02T01:10:00.000")),
               late_run.end("PIPELINE_SUCCESS", at("2025-08-02T01:10:01.000"))]  # fmt: skip
    latest = {load.hour: load for load in played_scenario["loads"]}
    reloads = [
        Load(H22, {**latest[H22].files, part_file_name(H22, "c0ffee01", 1, 7): late_22}, at("2025-08-03T10:00:00")),
        Load(H01, {**latest[H01].files, part_file_name(H01, "c0ffee02", 1, 7): late_01}, at("2025-08-03T10:00:00")),
    ]
    for load in reloads:
        load_hour(snowflake_connection, load)
    expected = compute_marts(landed_lines([*played_scenario["loads"], *reloads]))
    target = played_scenario["target_path"]

    def models_equal_expected(result: subprocess.CompletedProcess) -> None:
        assert result.returncode == 0, result.stdout[-8000:]
        for model in MODEL_KEYS:
            actual, wanted = read_model(snowflake_connection, model), typed_expected(model, expected[model])
            assert actual == wanted, f"{model}:\n{differences(model, actual, wanted)}"

    hours = ["2025-08-02T01:00:00+00:00", "2025-08-01T22:00:00Z", "2025-08-02T01:00:00+00:00"]
    result, _ = run_dbt({**dbt_env, "EVENT_LOG_BUILD_HOURS": json.dumps(hours)}, target, "build")
    models_equal_expected(result)
    again, _ = run_dbt({**dbt_env, "EVENT_LOG_BUILD_HOURS": json.dumps(["2025-08-01T22:00:00+00:00"])}, target, "build")
    models_equal_expected(again)
    assert "Unable to do partial parsing" not in again.stdout, "other hours, same parse: " + again.stdout[:3000]
    by_hand, _ = run_dbt(dbt_env, target, "build", "--vars", json.dumps({"event_log_hours": hours}))
    models_equal_expected(by_hand)
    runs = {run["job_name"]: run for run in read_model(snowflake_connection, "fct_runs")}
    assert runs["changed_hours"]["status"] == "SUCCESS", "the run started in hour 22 and ended in hour 01"
