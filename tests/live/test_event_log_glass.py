"""One pane of glass on the live local stack: the assets' lineage in Airflow, events on external assets
three ways (REST CLI, Python API, the S3 watcher across a killed triggerer), and the Event log page in
headless Chromium.

The known landing (hours relative to the current hour N, all landed by the simulator in the stack's S3):
N-6 committed only after the triggerer restart; N-5 loaded, checks pass, modeled; N-4 failed (its load
rolled back: rejects, no load); N-3 late (its deadline missed, then loaded and modeled); N-2 never
committed (deadline missed); N-1 loaded, checks warn, build pending; N open. The state tables the DAG
does not write yet (EVENT_LOG_HOUR_CHANGES, EVENT_LOG_MODEL_BUILDS: issue 9) and the rows of the
loads are inserted here, into the tables snowflake_objects creates.

The tests run in file order and share one stack; each is one step of the same story.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from devstack.isolated import wait_until
from devstack.simulator import SimulationOptions, simulate
from devstack.stack import ADMIN_USER, BUCKET, PREFIX, REPO, group_alive

pytestmark = [pytest.mark.live, pytest.mark.timeout(1500)]

H = timedelta(hours=1)
SCREENSHOT = REPO / "docs" / "event_log_page.png"
MODELS = ("STG_EVENT_LOG", "FCT_RUNS", "FCT_STEPS", "FCT_ASSET_MATERIALIZATIONS", "FCT_ASSET_MATERIALIZATION_METADATA",
          "FCT_ASSET_CHECK_EXECUTIONS", "MART_USAGE_DAILY", "MART_INGESTION_FRESHNESS")  # fmt: skip
EXPECTED_STATES = {
    5: {"committed": "committed", "loaded": "loaded", "checks": "pass", "modeled": "modeled", "deadline": "ok"},
    4: {"committed": "committed", "loaded": "failed", "checks": "none", "modeled": "none", "deadline": "ok"},
    3: {"committed": "committed", "loaded": "loaded", "checks": "pass", "modeled": "modeled", "deadline": "missed"},
    2: {"committed": "uncommitted", "loaded": "not_loaded", "checks": "none", "modeled": "none", "deadline": "missed"},
    1: {"committed": "committed", "loaded": "loaded", "checks": "warn", "modeled": "pending", "deadline": "ok"},
    0: {"committed": "open", "loaded": "not_loaded", "checks": "none", "modeled": "none", "deadline": "ok"},
}


class Glass:
    def __init__(self, live, now_hour: datetime):
        self.live, self.now_hour = live, now_hour
        self.api = live.api()
        self.token = self.api.client.configuration.access_token
        self.landed = None  # the simulator's manifest of the landing (its part files per hour)

    def part_files(self, back: int, manifest=None) -> int:
        """The part files the simulator wrote for an hour: an hour's runs spread over the sink subtasks,
        so an hour of few runs leaves a subtask without a file (the count depends on the hour)."""
        return len((manifest or self.landed).hour(self.hour(back)).part_files)

    def hour(self, back: int) -> datetime:
        return self.now_hour - back * H

    def run_id(self, back: int) -> str:
        return f"scheduled__{self.hour(back).isoformat()}"

    def get(self, path: str, token: str | None = None) -> tuple[int, bytes]:
        request = urllib.request.Request(self.live.api_url + path)
        if token:
            request.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.read()

    def asset(self, name: str):
        (asset,) = [a for a in self.api_assets() if a.name == name]
        return asset

    def api_assets(self) -> list:
        from airflow_client.client.api.asset_api import AssetApi

        return AssetApi(self.api.client).get_assets(limit=100).assets

    def events(self, asset_id: int) -> list:
        from airflow_client.client.api.asset_api import AssetApi

        return AssetApi(self.api.client).get_asset_events(asset_id=asset_id, limit=100).asset_events


def naive(moment: datetime) -> str:
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ")


def insert_known_landing(glass: Glass) -> None:
    """The rows the ingest DAG (and issue 9's state tables) would have written for the known landing."""
    now = datetime.now(UTC)
    changes = (
        "INSERT INTO EVENT_LOG.RAW.EVENT_LOG_HOUR_CHANGES (LOAD_ID, REPLICATION_HOUR, CHANGED_AT, DAG_ID, RUN_ID, "
        "ROWS_LOADED, ROWS_REPLACED, FILES_LOADED, BUILD_ID, MODELED_AT) VALUES (%(load)s, %(hour)s, %(at)s, "
        "'event_log_ingest', %(run)s, %(rows)s, 0, 2, %(build)s, %(modeled)s)"
    )
    for back, build in ((5, "build-5"), (3, "build-3"), (1, None)):
        glass.live.query(changes, {"load": f"load-{back}", "hour": naive(glass.hour(back)), "at": naive(now),
                                   "run": glass.run_id(back), "rows": 100 * back, "build": build,
                                   "modeled": naive(now + timedelta(seconds=30)) if build else None})  # fmt: skip
    builds = (
        "INSERT INTO EVENT_LOG.RAW.EVENT_LOG_MODEL_BUILDS (BUILD_ID, DAG_ID, RUN_ID, TRY_NUMBER, STARTED_AT, "
        "FINISHED_AT, STATUS, HOURS, FIRST_HOUR, LAST_HOUR, CHANGES, DETAILS) VALUES (%(build)s, 'event_log_ingest', "
        "%(run)s, 1, %(start)s, %(end)s, 'success', 1, %(hour)s, %(hour)s, 1, '{}')"
    )
    for back in (5, 3):
        end = naive(now + timedelta(seconds=30))
        glass.live.query(builds, {"build": f"build-{back}", "run": glass.run_id(back), "start": naive(now),
                                  "end": end, "hour": naive(glass.hour(back))})  # fmt: skip
    rejects = (
        "INSERT INTO EVENT_LOG.RAW.RAW_FLINK_EVENT_LOG_REJECTS (REPLICATION_HOUR, FILE_NAME, LINE_NUMBER, ERROR, "
        "REJECTED_RECORD, AIRFLOW_RUN_ID, REJECTED_AT) VALUES (%(hour)s, %(file)s, %(line)s, 'Error parsing JSON', "
        "'{not json', %(run)s, %(at)s)"
    )
    for line in (3, 9):
        glass.live.query(rejects, {"hour": naive(glass.hour(4)), "file": f"{glass.hour(4):%Y/%m/%d/%H}/part-a.jsonl",
                                   "line": line, "run": glass.run_id(4), "at": naive(now)})  # fmt: skip
    checks = (
        "INSERT INTO EVENT_LOG.RAW.EVENT_LOG_CHECK_RESULTS (CHECKED_AT, DAG_ID, RUN_ID, REPLICATION_HOUR, "
        "CHECK_NAME, STATUS, OBSERVED, EXPECTED, DETAILS) VALUES (%(at)s, 'event_log_ingest', %(run)s, %(hour)s, "
        "%(name)s, %(status)s, NULL, NULL, %(details)s)"
    )
    rows = [(5, "raw_rows_equal_rows_loaded", "pass"), (3, "raw_rows_equal_rows_loaded", "pass"),
            (3, "deadline_missed", "fail"), (2, "deadline_missed", "fail"),
            (1, "raw_rows_equal_rows_loaded", "pass"), (1, "rejected_lines", "warn")]  # fmt: skip
    for back, name, status in rows:
        details = (
            json.dumps({"deadline_time": (glass.hour(back) + 2 * H).isoformat()}) if name == "deadline_missed" else "{}"
        )
        glass.live.query(checks, {"at": naive(now), "run": glass.run_id(back), "hour": naive(glass.hour(back)),
                                  "name": name, "status": status, "details": details})  # fmt: skip


@pytest.fixture(scope="module")
def glass(live_stack_factory):
    started = datetime.now(UTC)
    now_hour = started.replace(minute=0, second=0, microsecond=0)
    live = live_stack_factory(
        now_hour - 6 * H,
        {"EVENT_LOG_WATCH_POLL_SECONDS": "3", "EVENT_LOG_WATCH_LOOKBACK_HOURS": "12",
         "EVENT_LOG_FLINK_UI_URL": "http://flink.local:8081/#/job/running"},
    )  # fmt: skip
    print(f"stack up in {(datetime.now(UTC) - started).total_seconds():.0f}s")
    glass = Glass(live, now_hour)
    s3 = live.s3()
    s3.create_bucket(Bucket=BUCKET)
    options = SimulationOptions(
        bucket=BUCKET, prefix=PREFIX, end_hour=now_hour, hours=5, events_per_hour=300, files_per_hour=2,
        uncommitted_hours=(glass.hour(2),), seed=13,
    )  # fmt: skip
    glass.landed = simulate(s3, options)
    glass.api.wait_for_dag("snowflake_objects")
    objects_run = glass.api.trigger("snowflake_objects")
    glass.api.unpause("snowflake_objects")
    (run,) = glass.api.wait_for_runs("snowflake_objects", {objects_run}, timeout=300)
    assert str(run.state.value) == "success"
    insert_known_landing(glass)
    return glass


def test_the_asset_graph_holds_the_lineage_from_the_topic_to_the_models(glass):
    glass.api.wait_for_dag("event_log_assets")

    def declared():
        assets = [a for a in glass.api_assets() if a.group == "event_log"]
        return assets if len(assets) >= 14 else None

    assets = wait_until(declared, 180, what="the declared assets to be registered")
    by_uri = {a.uri: a for a in assets}
    producers = {(t.dag_id, t.task_id): a.uri for a in assets for t in a.producing_tasks}
    downstream: dict[str, set[str]] = {}
    for asset in assets:
        for task in asset.consuming_tasks:
            if (task.dag_id, task.task_id) in producers:
                downstream.setdefault(asset.uri, set()).add(producers[(task.dag_id, task.task_id)])
    kafka = "kafka://kafka:9092/dagster_event_log"
    reached, frontier = set(), [kafka]
    while frontier:
        for uri in downstream.get(frontier.pop(), ()):
            if uri not in reached:
                reached.add(uri)
                frontier.append(uri)
    account = "snowflake://local/EVENT_LOG"
    assert f"s3://{BUCKET}/{PREFIX}" in reached
    assert {f"{account}/RAW/STAGE_FLINK_EVENT_LOG", f"{account}/RAW/EXT_FLINK_EVENT_LOG",
            f"{account}/RAW/RAW_FLINK_EVENT_LOG", f"{account}/RAW/RAW_FLINK_EVENT_LOG_REJECTS"} <= reached  # fmt: skip
    assert {f"{account}/ANALYTICS/{model}" for model in MODELS} <= reached
    s3 = by_uri[f"s3://{BUCKET}/{PREFIX}"]
    assert [(t.dag_id, t.task_id) for t in s3.producing_tasks] == [("event_log_assets", "flink_event_log_lander")]
    assert s3.extra["owner"] == "data-platform"
    raw = by_uri[f"{account}/RAW/RAW_FLINK_EVENT_LOG"]
    assert raw.name == "raw_flink_event_log"
    assert {(t.dag_id, t.task_id) for t in raw.producing_tasks} >= {("event_log_ingest", "load_hour.check_hour")}


def test_rest_cli_records_an_event_on_the_kafka_topic(glass):
    env = {**{k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "EVENT_LOG_"))},
           "PYTHONPATH": str(REPO), "AIRFLOW_API_URL": glass.live.api_url, "AIRFLOW_API_USERNAME": ADMIN_USER,
           "AIRFLOW_API_PASSWORD": glass.live.state["admin_password"]}  # fmt: skip
    extra = json.dumps({"consumer_lag": 42, "source": "cli"})
    command = [sys.executable, "-m", "include.event_log.glass.asset_events", "record", "kafka_dagster_event_log",
               "--extra", extra, "--partition-key", "2025-08-01T03"]  # fmt: skip
    result = subprocess.run(command, env=env, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    printed = json.loads(result.stdout)
    kafka = glass.asset("kafka_dagster_event_log")
    assert printed["asset_id"] == kafka.id and printed["partition_key"] == "2025-08-01T03"
    (event,) = [e for e in glass.events(kafka.id) if e.id == printed["id"]]
    assert event.extra["consumer_lag"] == 42 and event.extra["source"] == "cli"
    assert event.partition_key == "2025-08-01T03"

    unknown = subprocess.run(
        [*command[:4], "no_such_asset"], env=env, cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert unknown.returncode == 2 and "0 assets have the name 'no_such_asset'" in unknown.stderr


def test_python_api_records_an_event_on_the_external_table(glass):
    from include.event_log.glass.asset_events import ApiConnection, record_asset_event

    connection = ApiConnection.from_env({"AIRFLOW_API_URL": glass.live.api_url, "AIRFLOW_API_TOKEN": glass.token})
    uri = "snowflake://local/EVENT_LOG/RAW/EXT_FLINK_EVENT_LOG"
    created = record_asset_event(uri, {"refreshed_files": 7}, connection=connection)  # by URI
    ext = glass.asset("ext_flink_event_log")
    assert created["asset_id"] == ext.id and created.get("partition_key") is None
    (event,) = [e for e in glass.events(ext.id) if e.id == created["id"]]
    assert event.extra["refreshed_files"] == 7


def watcher_events(glass: Glass, asset_id: int) -> list[dict]:
    return [e.extra["payload"] for e in glass.events(asset_id) if (e.extra or {}).get("from_trigger")]


def test_the_watcher_reports_each_committed_hour_once_across_a_triggerer_restart(glass):
    live, api = glass.live, glass.api
    api.wait_for_dag("event_log_commits")
    api.unpause("event_log_commits")
    s3_asset = glass.asset("s3_flink_event_log")
    committed = {glass.hour(back).isoformat() for back in (5, 4, 3, 1)}
    first = wait_until(lambda: (events := watcher_events(glass, s3_asset.id)) and len(events) >= 4 and events,
                       300, what="the watcher's events of the committed hours")  # fmt: skip
    time.sleep(10)  # three more polls: nothing is reported twice
    first = watcher_events(glass, s3_asset.id)
    assert sorted(e["hour"] for e in first) == sorted(committed)
    assert all(e["bytes"] > 0 and e["committed_at"] for e in first)
    files = {e["hour"]: e["files"] for e in first}
    assert files == {glass.hour(back).isoformat(): glass.part_files(back) for back in (5, 4, 3, 1)}

    state_file = live.var_dir / "stack" / "state.json"
    old_pid = json.loads(state_file.read_text())["pids"]["triggerer"]
    os.killpg(old_pid, signal.SIGKILL)
    new_pid = wait_until(lambda: (pid := json.loads(state_file.read_text())["pids"]["triggerer"]) != old_pid and pid,
                         120, what="the supervisor to restart the triggerer")  # fmt: skip
    assert not group_alive(old_pid) and new_pid

    late = SimulationOptions(bucket=BUCKET, prefix=PREFIX, end_hour=glass.hour(5), hours=1, events_per_hour=200,
                             files_per_hour=3, seed=14)  # fmt: skip
    late_landed = simulate(live.s3(), late)  # N-6: committed while the new triggerer runs
    wait_until(lambda: len(watcher_events(glass, s3_asset.id)) >= 5, 300, what="the new triggerer's event of N-6")
    time.sleep(15)  # five more polls of the restarted watcher
    events = watcher_events(glass, s3_asset.id)
    hours = sorted(e["hour"] for e in events)
    assert hours == sorted(committed | {glass.hour(6).isoformat()}), "each committed hour exactly once"
    (n6,) = [e for e in events if e["hour"] == glass.hour(6).isoformat()]
    assert n6["files"] == glass.part_files(6, late_landed) and n6["files"] >= 1 and n6["recommitted"] is False
    runs = wait_until(lambda: api.dag_runs("event_log_commits"), 120, what="event_log_commits to run")
    assert all(str(r.run_type.value) == "asset_triggered" for r in runs)


def test_the_page_and_its_json_need_a_token(glass):
    for path in ("/event-log/", "/event-log/api/hours"):
        status, body = glass.get(path)
        assert status == 401, (path, status, body[:200])
    status, body = glass.get("/event-log/api/hours?days=1", token=glass.token)
    assert status == 200
    data = json.loads(body)
    by_hour = {hour["hour"]: hour for hour in data["hours"]}
    for back, expected in EXPECTED_STATES.items():
        hour = by_hour[glass.hour(back).isoformat()]
        assert {column: hour[column]["state"] for column in expected} == expected, back
    five = by_hour[glass.hour(5).isoformat()]
    assert five["loaded"]["details"]["rows"] == 500 and five["loaded"]["details"]["files"] == 2
    assert five["loaded"]["href"] == f"dags/event_log_ingest/runs/{urllib.parse.quote(glass.run_id(5), safe='')}"
    assert by_hour[glass.hour(4).isoformat()]["loaded"]["details"]["rejects"] == 2
    status, body = glass.get(
        f"/event-log/api/hours?days=1&run_id={urllib.parse.quote(glass.run_id(3))}", token=glass.token
    )
    assert [hour["hour"] for hour in json.loads(body)["hours"]] == [glass.hour(3).isoformat()]


def browser(tmp_path: Path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for argument in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                     "--disable-background-networking", "--disable-component-update", "--disable-sync",
                     f"--user-data-dir={tmp_path / 'chromium-profile'}", "--window-size=1500,1000"):  # fmt: skip
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    service = Service(executable_path="/usr/bin/chromedriver", log_output=str(tmp_path / "chromedriver.log"))
    return webdriver.Chrome(options=options, service=service)


def test_the_page_in_headless_chromium(glass, tmp_path):
    from selenium.webdriver.common.by import By

    driver = browser(tmp_path)
    try:
        driver.get(glass.live.api_url + "/api/v2/monitor/health")
        driver.add_cookie({"name": "_token", "value": glass.token, "path": "/"})
        driver.get(glass.live.api_url + "/event-log/?days=1")
        rows = {row.get_attribute("data-hour"): row for row in driver.find_elements(By.CSS_SELECTOR, "tr[data-hour]")}
        assert len(rows) == 24
        colours: dict[str, set[str]] = {}
        for back, expected in EXPECTED_STATES.items():
            cells = rows[glass.hour(back).isoformat()].find_elements(By.CSS_SELECTOR, "td.cell")
            states = {cell.get_attribute("data-column"): cell.get_attribute("data-state") for cell in cells}
            assert states == expected, back
            for cell in cells:
                colours.setdefault(cell.get_attribute("data-state"), set()).add(
                    cell.value_of_css_property("background-color")
                )
        assert all(len(found) == 1 for found in colours.values()), colours  # one colour per state
        good, late, failed, missing = (
            colours[s].pop()
            for s in ("committed", "stale" if "stale" in colours else "pending", "failed", "uncommitted")
        )
        assert len({good, late, failed, missing}) == 4
        link = rows[glass.hour(5).isoformat()].find_element(By.CSS_SELECTOR, "td[data-column=loaded] a")
        assert link.get_attribute("href") == (
            f"{glass.live.api_url}/dags/event_log_ingest/runs/{urllib.parse.quote(glass.run_id(5), safe='')}"
        )
        errors = [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]
        assert errors == [], errors
        SCREENSHOT.parent.mkdir(exist_ok=True)
        assert driver.save_screenshot(str(SCREENSHOT))
    finally:
        driver.quit()
