"""
### event_log_commits: a run for each batch of hours Flink commits in S3

**Source**: the asset `s3_flink_event_log` (`s3://$EVENT_LOG_BUCKET/$EVENT_LOG_PREFIX`) and its watcher
`s3_committed_hours` (plugins/event_log_watchers.py): the triggerer lists the hour folders of the last
`EVENT_LOG_WATCH_LOOKBACK_HOURS` (default 72) every `EVENT_LOG_WATCH_POLL_SECONDS` (default 60) and
records one asset event per newly committed or re-committed hour, its extra
`{"from_trigger": true, "payload": {"hour", "committed_at", "files", "bytes", "folder", "recommitted"}}`.
The watcher runs only while this DAG, which schedules on the asset, is unpaused. Its cursor is in the
asset state store: a restarted triggerer does not report the same commit again.

**What a run does**: `report_committed_hours` lists the hours of the events that triggered it (several
events may share one run: the scheduler queues asset events until the next run is created) and warns
on every re-committed hour, which is late data for an hour that may be loaded already (the hour's
`event_log_ingest` run must be cleared; `event_log_audit` reports it as `changed_since_loaded`).

**Where scheduling on these events fits**: to react to S3 as soon as an hour lands, per batch of hours,
without a worker waiting. Where it does not: watcher events carry no `partition_key` (Airflow 3.3 records
`extra` only), so a `PartitionedAssetTimetable` DAG cannot get one run per hour from them; and hourly
loads keep their data-interval timetable (`event_log_ingest`), whose run history is the cursor of what
was loaded. An event sent through the REST API with `partition_key` reaches only partitioned DAGs.

**If it fails**: nothing is lost: the events stay recorded on the asset (Airflow UI, Assets).
"""

from __future__ import annotations

from airflow.sdk import dag, task

from include.event_log.config import IngestConfig, Tag, default_args
from include.event_log.glass.external_assets import asset_by_name

CONFIG = IngestConfig.from_env()
S3_HOURS = asset_by_name("s3_flink_event_log", CONFIG)


@dag(
    dag_id="event_log_commits",
    schedule=[S3_HOURS],
    start_date=CONFIG.start_date,
    catchup=False,
    max_active_runs=1,
    default_args=default_args(),
    tags=[Tag.EVENT_LOG, Tag.ASSETS],
    doc_md=__doc__,
)
def event_log_commits():
    @task(inlets=[S3_HOURS])
    def report_committed_hours(triggering_asset_events=None) -> list[dict]:
        from include.event_log.land.commit_events import committed_hours_of_events

        return committed_hours_of_events(triggering_asset_events[S3_HOURS])

    report_committed_hours()


event_log_commits()
