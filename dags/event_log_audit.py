"""
### event_log_audit: daily reconciliation of what Flink landed in S3 with what was loaded

**Compares**, for each replication hour of the last `EVENT_LOG_AUDIT_DAYS` days (default 3) before the
run's data interval end: the hour folder in S3 (`s3://$EVENT_LOG_BUCKET/$EVENT_LOG_PREFIX/` in the
configured layout: its finished part files and `_SUCCESS`, with their LastModified, and whether the hour
is complete; an hour without a folder is complete and empty once a later hour is) and what was loaded of
the hour (`EVENT_LOG.RAW.EVENT_LOG_HOUR_CHANGES`: one row per load, an empty hour's included, and whether
a dbt build has modeled it; the files of `RAW_FLINK_EVENT_LOG`). Hours that ended less than
`EVENT_LOG_AUDIT_GRACE_SECONDS` ago (default 2 h) are not due yet and are left to the next runs.

**Findings**, each a `fail` row of `EVENT_LOG.RAW.EVENT_LOG_CHECK_RESULTS` (one per hour and kind,
`DAG_ID = 'event_log_audit'`; a clean run records one `pass` row `audit_window_clean`):
- `committed_not_loaded`: `_SUCCESS` exists but the hour has no rows (or, committed empty, no successful
  ingest run). Usually the hour's ingest run failed or never ran. Re-load it.
- `changed_since_loaded`: late data. A committed part file the load did not read, a loaded file gone
  from S3, or `_SUCCESS` / a loaded part file written after the load. Re-load it: a load replaces its
  hour whole, so each event ends up once.
- `never_committed`: not complete (`folder_present` false: no object at all, Flink down). Look at the
  Flink job (running? checkpoints failing?); the ingest run of that hour is waiting on, or timed out
  on, the same completion. Load the hour once it is complete.
- `changed_not_modeled`: loaded, but no dbt build has modeled the change for longer than the grace (a
  load task re-run alone, or every build since failed). Build the models: the command clears the dbt
  tasks of the latest such hour's run, whose build models every pending change.

**Alert**: `audit_hours` records the findings and returns the report (XCom: hours per kind, details,
commands); `fail_on_findings` then fails, without retrying, with a message listing the hours of each
kind and the exact commands, one per run of consecutive hours, e.g.
`airflow backfill create --dag-id event_log_ingest --from-date 2025-08-01T03:00:00Z
--to-date 2025-08-01T05:00:00Z --reprocess-behavior completed` (creates missing runs, re-runs ended
ones; a running scheduler executes them). For one hour whose run exists,
`airflow tasks clear event_log_ingest -s 2025-08-01T03:00:00+00:00 -e 2025-08-01T03:00:00+00:00 -y`
does the same. Both re-loads end with the models rebuilt over the hours. To audit again once loaded,
clear this DAG's run (both tasks) or wait for the next one.
"""

from __future__ import annotations

from airflow.sdk import CronDataIntervalTimetable, dag, task

from include.event_log.config import AWS_CONN_ID, SNOWFLAKE_CONN_ID, IngestConfig, Tag, default_args
from include.event_log.glass.assets import raw_events_asset

CONFIG = IngestConfig.from_env()
# The raw table the audit reads (lineage in the asset graph), the asset event_log_ingest emits per loaded hour.
RAW_EVENTS = raw_events_asset(CONFIG)


@dag(
    dag_id="event_log_audit",
    schedule=CronDataIntervalTimetable("0 6 * * *", timezone="UTC"),
    start_date=CONFIG.start_date,
    catchup=False,
    max_active_runs=1,
    default_args=default_args(),
    tags=[Tag.EVENT_LOG, Tag.AUDIT],
    doc_md=__doc__,
)
def event_log_audit():
    @task(inlets=[RAW_EVENTS], multiple_outputs=False)
    def audit_hours(data_interval_end=None, dag_run=None) -> dict:
        from airflow.providers.amazon.aws.hooks.s3 import S3Hook

        from include.event_log.audit.findings import AuditConfig
        from include.event_log.audit.readers import audit_window
        from include.event_log.check.results import record_check_results

        report = audit_window(
            S3Hook(aws_conn_id=AWS_CONN_ID),
            SNOWFLAKE_CONN_ID,
            window_end=data_interval_end or dag_run.run_after,
            config=CONFIG,
            audit_config=AuditConfig.from_env(),
        )
        record_check_results(SNOWFLAKE_CONN_ID, dag_run.dag_id, dag_run.run_id, report.check_results())
        return report.as_dict()

    @task
    def fail_on_findings(report: dict) -> None:
        from airflow.sdk.exceptions import AirflowFailException

        if report["details"]:
            raise AirflowFailException(report["message"])

    fail_on_findings(audit_hours())


event_log_audit()
