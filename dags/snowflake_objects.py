"""
### snowflake_objects: the event log's Snowflake objects, planned and applied from their YAML declaration

**What**: `plan_changes` compares `include/event_log/objects/snowflake_objects.yaml` with the live objects (SHOW /
DESCRIBE): the schema, the JSON file format, the external stage on the Flink S3 prefix, the external table
`EXT_FLINK_EVENT_LOG` and the native tables (raw, rejects, check results, hour changes, model builds). The plan
(logged) says per object: create, alter (property, from, to), replace (why) or unchanged. `apply_changes` applies
it: comments, file format options, stage URL / integration / file format, new columns, column comments, grants of
the declared role; the external table is replaced (and so refreshed) when the fingerprint of its declared DDL
differs from the one in its COMMENT. The plan is recorded as `snowflake_objects_plan` rows of
`EVENT_LOG_CHECK_RESULTS` and in the `extra` of an asset event on `event_log.raw.objects`.
`refresh_whole_location` then registers every file under the external table's location.

**When**: daily at 03:00 UTC, and once as soon as it is unpaused (catchup is off), so the objects exist before
the first hourly load. A run with nothing to change changes nothing.

**Destructive changes** (dropping or retyping a column of a native table; retyping replaces the table and loses
its rows) are refused: `plan_changes` fails naming each object and field, records them as `fail` rows, and
nothing is applied. To apply them: trigger with `{"allow_destructive_changes": true}` (the DAG param), or set
`EVENT_LOG_ALLOW_DESTRUCTIVE_CHANGES=true`. See the plan first:
`python -m include.event_log.objects.snowflake_objects plan`.

**Deadline**: a run not done `EVENT_LOG_OBJECTS_DEADLINE_SECONDS` after it was queued is recorded
and notified (plugins/event_log_deadlines.py).

**If it fails**: `plan_changes` refusing destructive changes: see above. `apply_changes` saying the plan changed:
someone changed the objects or the declaration between the two tasks; clear `plan_changes`. Otherwise the
Snowflake connection (`snowflake_event_log`) or the role's privileges are the usual cause; the task log shows the
statement. DDL commits statement by statement: clear the run, the next plan holds only what is left.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import CronDataIntervalTimetable, Param, chain, dag, task

from include.event_log.alert.deadlines import build_objects_deadline
from include.event_log.config import SNOWFLAKE_CONN_ID, IngestConfig, Tag, default_args
from include.event_log.glass.assets import snowflake_objects_asset
from include.event_log.objects.declarations import event_log_objects

OBJECTS = snowflake_objects_asset(IngestConfig.from_env())


@dag(
    dag_id="snowflake_objects",
    schedule=CronDataIntervalTimetable(event_log_objects().schedule, timezone="UTC"),
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    deadline=build_objects_deadline(),
    default_args=default_args(),
    params={
        "allow_destructive_changes": Param(
            False, type="boolean", description="Apply drops and retypes of native-table columns (rows are lost)."
        )
    },
    tags=[Tag.EVENT_LOG, Tag.SNOWFLAKE],
    doc_md=__doc__,
)
def snowflake_objects():
    @task
    def plan_changes(dag_run=None, params=None) -> list[dict]:
        from airflow.sdk.exceptions import AirflowFailException

        from include.event_log.config import destructive_changes_allowed
        from include.event_log.objects.object_plan import DestructiveChangeRefused
        from include.event_log.objects.snowflake_objects import plan_object_changes, record_plan

        plan = plan_object_changes(SNOWFLAKE_CONN_ID)
        allowed = bool(params["allow_destructive_changes"]) or destructive_changes_allowed()
        try:
            plan.refuse_destructive(allowed)
        except DestructiveChangeRefused as error:
            record_plan(SNOWFLAKE_CONN_ID, dag_run.dag_id, dag_run.run_id, plan, allowed, applied=False)
            raise AirflowFailException(str(error)) from error
        return plan.as_dicts()

    @task(outlets=[OBJECTS], multiple_outputs=False)
    def apply_changes(planned: list[dict], dag_run=None, params=None, outlet_events=None) -> dict:
        from airflow.sdk.exceptions import AirflowFailException

        from include.event_log.config import destructive_changes_allowed
        from include.event_log.objects.snowflake_objects import PlanChanged, apply_object_changes, record_plan

        allowed = bool(params["allow_destructive_changes"]) or destructive_changes_allowed()
        try:
            plan = apply_object_changes(SNOWFLAKE_CONN_ID, allowed, planned)
        except PlanChanged as error:
            raise AirflowFailException(str(error)) from error
        record_plan(SNOWFLAKE_CONN_ID, dag_run.dag_id, dag_run.run_id, plan, allowed, applied=True)
        applied = {"changed": len(plan.changed), "allow_destructive_changes": allowed, "objects": plan.as_dicts()}
        outlet_events[OBJECTS].extra = applied
        return applied

    @task(multiple_outputs=False)
    def refresh_whole_location() -> dict[str, int]:
        from include.event_log.objects.snowflake_objects import refresh_external_table

        return refresh_external_table(SNOWFLAKE_CONN_ID)

    chain(apply_changes(plan_changes()), refresh_whole_location())


snowflake_objects()
