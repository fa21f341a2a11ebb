"""
### snowflake_objects: the event log's Snowflake objects, from their YAML declaration

**What**: creates, if missing, the schema, the JSON file format, the external stage on the Flink S3
prefix, the external table `EXT_FLINK_EVENT_LOG` (partitioned by replication hour) and the native
table `RAW_FLINK_EVENT_LOG` that `event_log_ingest` fills, all declared in
`include/event_log/snowflake_objects.yaml`; then refreshes the external table over the whole location.

**When**: daily at 03:00 UTC, and once as soon as it is unpaused (catchup is off), so the objects exist
before the first hourly load. Every statement is `IF NOT EXISTS`: running it again changes nothing.

**Deadline**: a run not done `EVENT_LOG_OBJECTS_DEADLINE_SECONDS` after it was queued is recorded
and notified (plugins/event_log_deadlines.py).

**If it fails**: the Snowflake connection (`snowflake_event_log`) or the role's grants are the usual
cause; the task log shows the statement. Fix and clear the task; nothing is half-created.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import chain, dag, task
from airflow.timetables.interval import CronDataIntervalTimetable

from include.event_log.config import DEFAULT_ARGS, SNOWFLAKE_CONN_ID, Tag
from include.event_log.deadlines import build_objects_deadline
from include.event_log.declarations import event_log_objects


@dag(
    dag_id="snowflake_objects",
    schedule=CronDataIntervalTimetable(event_log_objects().schedule, timezone="UTC"),
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    deadline=build_objects_deadline(),
    default_args=DEFAULT_ARGS,
    tags=[Tag.EVENT_LOG, Tag.SNOWFLAKE],
    doc_md=__doc__,
)
def snowflake_objects():
    @task
    def create_objects() -> list[str]:
        from include.event_log.snowflake_objects import create_objects

        return create_objects(SNOWFLAKE_CONN_ID)

    @task
    def refresh_external_table() -> dict[str, int]:
        from include.event_log.snowflake_objects import refresh_external_table

        return refresh_external_table(SNOWFLAKE_CONN_ID)

    chain(create_objects(), refresh_external_table())


snowflake_objects()
