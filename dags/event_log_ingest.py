"""
### event_log_ingest: hourly load of the Flink-landed event log from S3 into Snowflake, and its models

**Source**: `s3://$EVENT_LOG_BUCKET/$EVENT_LOG_PREFIX/`, one folder per replication hour (UTC) as Flink
writes it: `dt=YYYY-MM-DD/hr=HH/` (the SQL lander in flink/, the default) or `YYYY/MM/DD/HH/`
(`EVENT_LOG_LAYOUT=plain`), part files `part-<uuid>-<subtask>-<n>[.gz]`; an hour is complete at its
`_SUCCESS`, or (`EVENT_LOG_COMPLETION=quiet_period`, sinks that write none) once a later hour has a
finished part file and `EVENT_LOG_QUIET_PERIOD_SECONDS` have passed. **Target**: `EVENT_LOG.RAW.RAW_FLINK_EVENT_LOG`
(one row per event line), the external table `EXT_FLINK_EVENT_LOG`, and the dbt models in
`EVENT_LOG.ANALYTICS`. **Grain**: one run per hour; the run history is the load cursor (catchup is on).

Per hour of the run's data interval (mapped task group `load_hour`):
1. `wait_for_commit` waits until the hour is complete, in the triggerer from its start to its end (no worker
   slot held, no worker started); an hour with no
   folder is complete and empty once a later hour is complete (Flink writes no folder for an hour without
   events): it loads nothing and is reported empty, never alerted;
2. `load_partition` lists the finished part files (never `.`-files, `.inprogress` or `_…_tmp_` objects; any
   other object is reported by the checks, which fail the hour naming it), then in one
   transaction deletes the hour's rows, COPYs exactly those files and records the change in
   `EVENT_LOG_HOUR_CHANGES`; lines the warehouse rejects (not JSON, not UTF-8, too long) are counted by the COPY
   and kept, within the caps of `EVENT_LOG_REJECT_*`, in `RAW_FLINK_EVENT_LOG_REJECTS`;
   then it registers the hour's files in the external table;
3. `check_hour` reconciles the hour (files listed = files loaded, rows parsed = loaded + rejected,
   raw rows = external-table rows) and counts rejects, unknown event types, new fields and duplicate
   ids; every result goes to `EVENT_LOG_CHECK_RESULTS` and, with the load report, into the `extra` of an
   asset event on the raw table. A failed reconciliation fails the hour.

Then `dbt_models` (astronomer-cosmos, rendered from dbt's manifest): `build` runs one `dbt build` of every
model and its tests over **every hour changed since the last successful build**, whichever run changed
it (this run, a cleared or retried run, a backfill, a re-load), and records it in `EVENT_LOG_MODEL_BUILDS`.
While a build runs, later runs' hours wait for the next build (pool `event_log_dbt`, one slot), so a
backfill is modeled in a few builds. A run whose changes another run's build already covered builds
nothing; its log names that build. Each model has its own task (`dbt_models.<model>`), which reports the
model and its tests and fails if either failed: staging (deduplicated events), runs, steps, asset
materializations and checks, daily usage (billable credits) and ingestion freshness.

**Alerts**: `wait_for_commit` timing out means the hour was never completed (Flink down or stalled):
the error names the hour and its S3 folder. `load_partition` failing on rejects means more than
`EVENT_LOG_MAX_REJECT_RATIO` of the hour's lines were rejected by the warehouse: the hour is left exactly as it
was, the lines are in the rejects table, the error names files and lines; failing on a file that cannot be read
back (corrupt gzip, a decompression bomb) names the file, and the hour is left as it was too. `check_hour`
failing names the check and the difference. `dbt_models.build` failing: a model or test failed (its task says
which); the hours stay pending and the next build, or a retry, models them. Every run carries a deadline alert: not done
by end of hour + commit delay + grace, its hour is recorded as `deadline_missed` and notified
(plugins/event_log_deadlines.py). See the README's runbook.

**Re-run one hour** (any age, e.g. after a late re-commit): clear its run
(`airflow tasks clear event_log_ingest -s 2025-08-01T03:00:00+00:00 -e 2025-08-01T03:00:00+00:00 -y`);
the hour is re-loaded with each of its events once, and the models follow. **Backfill or re-load a
range** (a running scheduler executes the runs; the DAG must be unpaused):
`airflow backfill create --dag-id event_log_ingest --from-date 2025-08-01T00:00:00Z
--to-date 2025-08-02T00:00:00Z --reprocess-behavior completed`. **A failed model**: clear its task; its
retry builds that model and its tests alone over the run's hours.
"""

from __future__ import annotations

from airflow.sdk import CronDataIntervalTimetable, dag, task, task_group
from cosmos import DbtTaskGroup

from include.event_log.alert.deadlines import build_ingest_deadline
from include.event_log.config import AWS_CONN_ID, SNOWFLAKE_CONN_ID, IngestConfig, Tag, default_args
from include.event_log.glass.assets import raw_events_asset
from include.event_log.load.sensors import HourCompleteSensor
from include.event_log.model.dbt_project import (
    DBT_OPERATOR_ARGS,
    EXECUTION_CONFIG,
    PROFILE_CONFIG,
    PROJECT_CONFIG,
    RENDER_CONFIG,
    add_build_task,
)

CONFIG = IngestConfig.from_env()
RAW_EVENTS = raw_events_asset(CONFIG)


@dag(
    dag_id="event_log_ingest",
    schedule=CronDataIntervalTimetable("0 * * * *", timezone="UTC"),
    start_date=CONFIG.start_date,
    catchup=True,
    max_active_runs=CONFIG.max_active_runs,
    deadline=build_ingest_deadline(CONFIG),
    default_args=default_args(),
    tags=[Tag.EVENT_LOG, Tag.INGEST],
    doc_md=__doc__,
)
def event_log_ingest():
    @task
    def hours_to_load(data_interval_start=None, data_interval_end=None) -> list[dict[str, str]]:
        from include.event_log.load.ingest import hours_in_interval

        return hours_in_interval(data_interval_start, data_interval_end)

    @task_group
    def load_hour(hour_start: str):
        wait_for_commit = HourCompleteSensor(
            task_id="wait_for_commit",
            hour=hour_start,
            # The trigger, which the scheduler starts without a worker, reads the hour from the group's mapping.
            hour_from=("hours_to_load", "hour_start"),
            bucket=CONFIG.bucket,
            layout=CONFIG.layout,
            aws_conn_id=AWS_CONN_ID,
            deferrable=True,
            poke_interval=CONFIG.poke_interval.total_seconds(),
            timeout=CONFIG.commit_timeout.total_seconds(),
        )

        @task(multiple_outputs=False)
        def load_partition(hour_start: str, completion: dict, dag_run=None) -> dict:
            from airflow.providers.amazon.aws.hooks.s3 import S3Hook

            from include.event_log.load.ingest import load_committed_hour
            from include.event_log.load.sensors import completion_value

            s3_hook = S3Hook(aws_conn_id=AWS_CONN_ID)
            return load_committed_hour(
                s3_hook, SNOWFLAKE_CONN_ID, hour_start, dag_run, CONFIG, completion_value(completion)
            )

        @task(outlets=[RAW_EVENTS], multiple_outputs=False)
        def check_hour(load: dict, dag_run=None, outlet_events=None) -> dict:
            from airflow.sdk.exceptions import AirflowFailException

            from include.event_log.check.hour_checks import check_loaded_hour
            from include.event_log.check.results import FAIL, record_check_results

            listing, report = load["listing"], load["report"]
            results = check_loaded_hour(SNOWFLAKE_CONN_ID, listing, report)
            record_check_results(SNOWFLAKE_CONN_ID, dag_run.dag_id, dag_run.run_id, results)
            summary = {**report, "checks": {r.check_name: r.as_dict() for r in results}}
            if failed := [r.describe() for r in results if r.status == FAIL]:
                raise AirflowFailException(f"hour {listing['hour_start']} failed its checks: " + "; ".join(failed))
            outlet_events[RAW_EVENTS].extra = summary
            return summary

        check_hour(load_partition(hour_start, wait_for_commit.output))

    dbt_models = DbtTaskGroup(
        group_id="dbt_models",
        project_config=PROJECT_CONFIG,
        profile_config=PROFILE_CONFIG,
        execution_config=EXECUTION_CONFIG,
        render_config=RENDER_CONFIG,
        operator_args=DBT_OPERATOR_ARGS,
        default_args=default_args(),
    )
    add_build_task(dbt_models, inlets=[RAW_EVENTS])

    load_hour.expand_kwargs(hours_to_load()) >> dbt_models


event_log_ingest()
