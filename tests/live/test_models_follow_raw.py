"""Every path that changes raw rows ends with the models equal to the raw table, on the live local stack
(scheduler, triggerer, executor): a backfill, a late file re-loaded by the README's re-run command, the
audit DAG's printed re-load command, a manual run over a wide interval, and a build that fails and retries.

The oracle is independent of the models and of the load: devstack/expected_marts.py computes every model
from the files in S3 of every hour the raw table holds (runs, steps, materializations, checks, credits per
organization and day). Each test lands its own hours (a day of its own), so the tests do not depend on
each other's order; they share one stack to save its start.
"""

from __future__ import annotations

import os
import shlex
import signal
import time
from datetime import UTC, datetime, timedelta

import pytest

from devstack.isolated import wait_until
from devstack.model_oracle import models_against_landed_files
from devstack.simulator import SimulationOptions, recommit_late, simulate
from devstack.stack import BUCKET, PREFIX

pytestmark = [pytest.mark.live, pytest.mark.timeout(1500)]

DAG_ID = "event_log_ingest"
NOW_HOUR = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
# The DAGs' start date, just past: the first scheduled run of event_log_ingest (the next hour's) comes an hour or more
# after it, after these tests; every run here comes from a command. A manual run's logical date is the time it is
# triggered: not before the start date (Airflow would create no task) and not in the future (its tasks would wait
# for that date: RunnableExecDateDep), and unique (one run per logical date).
START_DATE = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=1)
# Each test's hours are on a day of their own, days before now (audited by a run of the audit DAG).
FIRST_DAY = NOW_HOUR.replace(hour=0) - timedelta(days=6)
BUILDS = "EVENT_LOG.RAW.EVENT_LOG_MODEL_BUILDS"
CHANGES = "EVENT_LOG.RAW.EVENT_LOG_HOUR_CHANGES"


def day(n: int) -> datetime:
    return FIRST_DAY + timedelta(days=n)


class Stack:
    def __init__(self, live):
        self.live, self.api, self.s3 = live, live.api(), live.s3()

    def land(self, first_hour: datetime, hours: int, **options) -> SimulationOptions:
        settings = SimulationOptions(
            bucket=BUCKET, prefix=PREFIX, end_hour=first_hour + timedelta(hours=hours), hours=hours,
            events_per_hour=400, files_per_hour=2, seed=int(first_hour.timestamp()) % 10_000, **options,
        )  # fmt: skip
        simulate(self.s3, settings)
        return settings

    def prepare(self, *dag_ids: str) -> None:
        """The bucket made, the DAGs parsed, the Snowflake objects created (one run of snowflake_objects, which must
        succeed), event_log_ingest unpaused: where every live test of the ingest starts."""
        self.s3.create_bucket(Bucket=BUCKET)
        for dag_id in ("snowflake_objects", DAG_ID, *dag_ids):
            self.api.wait_for_dag(dag_id)
        objects = self.api.trigger("snowflake_objects")
        self.api.unpause("snowflake_objects")
        (run,) = self.api.wait_for_runs("snowflake_objects", {objects}, timeout=300)
        assert str(run.state.value) == "success"
        self.api.unpause(DAG_ID)

    def cli(self, args: list[str]) -> str:
        """An Airflow CLI command against the stack (retried while the embedded stack's SQLite is locked)."""
        result = self.live.airflow_cli(args, timeout=240)
        if result.returncode != 0:
            output = f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
            raise AssertionError(f"airflow {' '.join(args)} failed:\n{output}")
        return result.stdout

    def runs(self, first_hour: datetime, last_hour: datetime) -> dict[datetime, object]:
        runs = self.api.dag_runs(DAG_ID, logical_date_gte=first_hour, logical_date_lte=last_hour)
        return {run.logical_date.astimezone(UTC): run for run in runs}

    def wait_for_runs(self, first_hour: datetime, last_hour: datetime, after: datetime | None = None, timeout=900):
        """Every run of the hours finished (and, with `after`, ended after that time); all must succeed."""
        expected = int((last_hour - first_hour) / timedelta(hours=1)) + 1

        def done():
            runs = self.runs(first_hour, last_hour)
            finished = [
                run for run in runs.values()
                if str(run.state.value) in ("success", "failed")
                and (after is None or (run.end_date is not None and run.end_date > after))
            ]  # fmt: skip
            return runs if len(runs) == expected and len(finished) == expected else None

        runs = wait_until(done, timeout, interval=3, what=f"the runs of {first_hour:%Y-%m-%d %H:00}..{last_hour:%H:00}")
        failed = {f"{hour:%Y-%m-%dT%H}": self.unsuccessful_tasks(run.dag_run_id)
                  for hour, run in runs.items() if str(run.state.value) != "success"}  # fmt: skip
        assert not failed, f"runs that did not succeed, with their unsuccessful tasks: {failed}"
        # Airflow allows one running backfill per DAG; the scheduler marks one completed a loop after its runs.
        wait_until(self.no_running_backfill, 120, what="the backfill to be marked completed")
        return runs

    def unsuccessful_tasks(self, run_id: str) -> list[str]:
        """`task_id[map_index] state (try n)` of each task instance of the run that did not succeed."""
        instances = self.api.task_instances.get_task_instances(DAG_ID, run_id, limit=200).task_instances
        return [
            f"{ti.task_id}[{ti.map_index}] {ti.state.value if ti.state else None} (try {ti.try_number})"
            for ti in instances
            if ti.state is None or str(ti.state.value) not in ("success", "skipped")
        ]

    def no_running_backfill(self) -> bool:
        from airflow_client.client.api.backfill_api import BackfillApi

        return all(b.completed_at is not None for b in BackfillApi(self.api.client).list_backfills(DAG_ID).backfills)

    def models_equal_raw(self) -> None:
        """Every model equals the oracle computed from S3 for every hour the raw table holds."""
        with self.live.snowflake() as connection:
            outcome = models_against_landed_files(connection, self.s3, BUCKET, PREFIX)
        for model, (_, _, differing) in outcome.items():
            assert not differing, f"{model}:\n{differing[:4000]}"
        assert self.pending_changes() == [], "every change of the raw table was modeled"

    def pending_changes(self) -> list[tuple]:
        return self.live.query(f"SELECT LOAD_ID, REPLICATION_HOUR, RUN_ID FROM {CHANGES} WHERE BUILD_ID IS NULL")

    def builds_since(self, moment: datetime) -> list[tuple]:
        return self.live.query(
            f"SELECT BUILD_ID, RUN_ID, TRY_NUMBER, STATUS, HOURS FROM {BUILDS} WHERE STARTED_AT >= %(t)s "
            "ORDER BY STARTED_AT",
            {"t": moment.astimezone(UTC).replace(tzinfo=None)},
        )

    def task_try(self, run_id: str, task_id: str):
        return next(ti for ti in self.api.task_instances.get_task_instances(DAG_ID, run_id, limit=100).task_instances
                    if ti.task_id == task_id)  # fmt: skip


@pytest.fixture(scope="module")
def stack(live_stack_factory):
    live = live_stack_factory(
        START_DATE,
        {
            # The hours are days old: their deadlines (logical date + 1 h + grace) must not fire here.
            "EVENT_LOG_DEADLINE_GRACE_SECONDS": str(30 * 24 * 3600),
            "EVENT_LOG_AUDIT_DAYS": "0.125",  # 3 hours: each audit here looks at one test's hours
            "EVENT_LOG_AUDIT_GRACE_SECONDS": "0",
            # A build whose warehouse stops answering fails after this (the connector alone would wait for ever).
            "EVENT_LOG_DBT_BUILD_TIMEOUT_SECONDS": "180",
        },
    )
    stack = Stack(live)
    stack.prepare("event_log_audit")
    return stack


def backfill_command(first: datetime, last: datetime, max_active_runs: int = 8) -> list[str]:
    return ["backfill", "create", "--dag-id", DAG_ID, "--from-date", first.isoformat(), "--to-date", last.isoformat(),
            "--max-active-runs", str(max_active_runs)]  # fmt: skip


def test_a_backfill_models_its_range_in_fewer_builds_than_hours(stack):
    first, hours = day(0), 8
    last = first + timedelta(hours=hours - 1)
    stack.land(
        first, hours, gzip=True, empty_hours=(first + timedelta(hours=3),),
        malformed_hours=(first + timedelta(hours=5),), duplicate_hours=(first + timedelta(hours=1),),
    )  # fmt: skip
    started = datetime.now(UTC)
    stack.cli(backfill_command(first, last))
    stack.wait_for_runs(first, last)
    stack.models_equal_raw()
    builds = [b for b in stack.builds_since(started) if b[3] == "success"]
    assert 1 <= len(builds) < hours, f"{len(builds)} builds for a {hours}-hour backfill: {builds}"
    assert sum(b[4] for b in builds) >= hours, "the builds covered every hour"


def test_a_late_file_reaches_the_models_through_the_readme_rerun_command(stack):
    first = day(1)
    options = stack.land(first, 3)
    stack.cli(backfill_command(first, first + timedelta(hours=2)))
    stack.wait_for_runs(first, first + timedelta(hours=2))
    stack.models_equal_raw()

    late_hour = first + timedelta(hours=1)
    late = recommit_late(stack.s3, options, late_hour, 60)
    assert late.part_files, "the late commit added a part file"
    cleared_at = datetime.now(UTC)
    # The README's command, as written there.
    stamp = late_hour.isoformat()
    stack.cli(shlex.split(f"tasks clear {DAG_ID} -s {stamp} -e {stamp} -y"))
    (run,) = stack.wait_for_runs(late_hour, late_hour, after=cleared_at).values()
    stack.models_equal_raw()
    late_ids = {event_id for part in late.part_files for event_id in part.event_log_ids}
    ((staged,),) = stack.live.query(
        "SELECT COUNT(*) FROM EVENT_LOG.ANALYTICS.STG_EVENT_LOG WHERE EVENT_LOG_ID IN (%(ids)s)",
        {"ids": tuple(late_ids)},
    )
    assert staged == len(late_ids), "every late event is staged"
    assert stack.task_try(run.dag_run_id, "dbt_models.build").try_number >= 2, "the cleared run's build ran again"
    runs_built = {b[1] for b in stack.builds_since(cleared_at) if b[3] == "success"}
    assert run.dag_run_id in runs_built, "the cleared run built its changed hour itself"


def audit_report(stack, first_hour: datetime) -> dict:
    """Run the audit DAG over the three hours from `first_hour` (EVENT_LOG_AUDIT_DAYS is 3 hours here): the run
    must fail on its findings; its report (XCom) holds the findings and the exact commands."""
    from airflow_client.client.api.x_com_api import XComApi

    end = first_hour + timedelta(hours=3)
    # The data interval's end closes the window; the logical date is now (see START_DATE): a run without one has no
    # data interval.
    audit = stack.api.trigger("event_log_audit", logical_date=datetime.now(UTC),
                              data_interval_start=end - timedelta(days=1), data_interval_end=end)  # fmt: skip
    stack.api.unpause("event_log_audit")
    (run,) = stack.api.wait_for_runs("event_log_audit", {audit}, timeout=300)
    assert str(run.state.value) == "failed", "the audit found the hour"
    entry = XComApi(stack.api.client).get_xcom_entry("event_log_audit", "audit_hours", audit, "return_value",
                                                     deserialize=True)  # fmt: skip
    return entry.actual_instance.value


def test_the_audit_command_reloads_a_late_hour_and_the_models_follow(stack):
    first = day(2)
    options = stack.land(first, 3)
    stack.cli(backfill_command(first, first + timedelta(hours=2)))
    stack.wait_for_runs(first, first + timedelta(hours=2))
    late_hour = first + timedelta(hours=1)
    time.sleep(1.1)  # S3's LastModified has one-second resolution: the re-commit must come after the load
    recommit_late(stack.s3, options, late_hour, 45)

    report = audit_report(stack, first)
    assert {kind: hours for kind, hours in report["findings"].items() if hours} == {
        "changed_since_loaded": [late_hour.isoformat()]
    }
    (command,) = report["reload_commands"]
    assert command.startswith("airflow backfill create ") and command in report["message"]
    reloaded_at = datetime.now(UTC)
    stack.cli(shlex.split(command)[1:])
    stack.wait_for_runs(late_hour, late_hour, after=reloaded_at)
    stack.models_equal_raw()


def test_a_change_left_unmodeled_is_found_by_the_audit_and_its_command_models_it(stack):
    """A load re-run alone (its run's build already ran) leaves its change pending: the audit finds it, and the
    command it prints builds every pending hour."""
    first = day(5)
    options = stack.land(first, 3)
    stack.cli(backfill_command(first, first + timedelta(hours=2)))
    stack.wait_for_runs(first, first + timedelta(hours=2))
    hour = first + timedelta(hours=1)
    recommit_late(stack.s3, options, hour, 35)
    cleared_at = datetime.now(UTC)
    stamp = hour.isoformat()
    # `-t` matches a part of the task id (Airflow 3.3: not a regular expression).
    stack.cli(["tasks", "clear", DAG_ID, "-t", "load_hour.load_partition", "-s", stamp, "-e", stamp, "-y"])
    stack.wait_for_runs(hour, hour, after=cleared_at)
    assert [h for _, h, _ in stack.pending_changes()] == [hour.replace(tzinfo=None)], "the re-load is not modeled"

    report = audit_report(stack, first)
    assert {kind: hours for kind, hours in report["findings"].items() if hours} == {
        "changed_not_modeled": [hour.isoformat()]
    }
    (command,) = report["model_commands"]
    assert command in report["message"]
    modeled_at = datetime.now(UTC)
    stack.cli(shlex.split(command)[1:])
    stack.wait_for_runs(hour, hour, after=modeled_at)
    stack.models_equal_raw()


def test_a_manual_run_over_a_wide_interval_models_every_hour_it_loads(stack):
    first = day(3)
    options = stack.land(first, 3)
    recommit_late(stack.s3, options, first + timedelta(hours=2), 30)
    end = first + timedelta(hours=3)
    # The hours are days before the DAG's start date: the run's logical date is now (an earlier one than the start
    # date would get no task, backfills aside; see START_DATE), its data interval the three hours.
    run_id = stack.api.trigger(DAG_ID, logical_date=datetime.now(UTC), data_interval_start=first, data_interval_end=end)
    (run,) = stack.api.wait_for_runs(DAG_ID, {run_id}, timeout=900)
    assert str(run.state.value) == "success"
    ((hours_loaded,),) = stack.live.query(
        f"SELECT COUNT(DISTINCT REPLICATION_HOUR) FROM {CHANGES} WHERE RUN_ID = %(run)s", {"run": run_id}
    )
    assert hours_loaded == 3
    stack.models_equal_raw()


def test_a_build_that_loses_the_warehouse_retries_and_models_the_hours(stack):
    first = day(4)
    stack.land(first, 2, gzip=True)
    stack.cli(backfill_command(first, first + timedelta(hours=1), max_active_runs=1))
    run = wait_until(lambda: stack.runs(first, first).get(first), 120, what="the first run")

    def build_running():
        try:
            state = stack.task_try(run.dag_run_id, "dbt_models.build").state
        except StopIteration:
            return False
        return state is not None and str(state.value) == "running"

    wait_until(build_running, 600, interval=1, what="the build of the first hour to run")
    time.sleep(2)  # dbt has connected and is building
    # The warehouse stops answering mid-build (SIGSTOP: connections open, no reply), the case the connector alone
    # would wait out for ever: the build's execution timeout (EVENT_LOG_DBT_BUILD_TIMEOUT_SECONDS, 180 s here) ends
    # the try, and the retry builds once the warehouse answers again.
    stack.live.refresh_state()
    warehouse = stack.live.state["pids"]["snowflake"]
    os.killpg(warehouse, signal.SIGSTOP)

    def first_try_failed():
        build = stack.task_try(run.dag_run_id, "dbt_models.build")
        ended = build.state is not None and str(build.state.value) in ("up_for_retry", "failed")
        return build.try_number >= 2 or ended

    try:
        wait_until(first_try_failed, 600, interval=1, what="the build's first try to time out without the warehouse")
    finally:
        os.killpg(warehouse, signal.SIGCONT)
    stack.wait_for_runs(first, first + timedelta(hours=1))
    tries = stack.api.task_instances.get_task_instance_tries(DAG_ID, run.dag_run_id, "dbt_models.build")
    states = {t.try_number: str(t.state.value) for t in tries.task_instances}
    assert len(states) >= 2 and states[max(states)] == "success", states
    assert states[1] in ("failed", "up_for_retry"), f"the first build lost the warehouse: {states}"
    stack.models_equal_raw()
