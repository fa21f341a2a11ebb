"""Plan and apply the declared Snowflake objects (the external table's hourly refresh is load/refresh.py).

`plan_object_changes` reads the live objects (live_objects) and compares them with the declaration (object_plan);
`apply_object_changes` plans again, checks that the plan is the one reviewed, refuses destructive changes unless
allowed, and runs the plan's statements (object_statements). DDL commits statement by statement in Snowflake: an
apply that fails part-way leaves the statements before it applied, and the next plan shows what is left.

CLI, with the Airflow connection `snowflake_event_log` (or AIRFLOW_CONN_SNOWFLAKE_EVENT_LOG), like the DAGs:
    python -m include.event_log.objects.snowflake_objects plan             # print the plan, change nothing
    python -m include.event_log.objects.snowflake_objects apply [--allow-destructive-changes]
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from include.event_log.check.results import FAIL, PASS, WARN, CheckResult, record_check_results
from include.event_log.config import SNOWFLAKE_CONN_ID, destructive_changes_allowed
from include.event_log.load.refresh import refresh_external_table
from include.event_log.objects.declarations import EventLogObjects, event_log_objects, load_objects
from include.event_log.objects.live_objects import read_live_objects
from include.event_log.objects.object_plan import CREATE, UNCHANGED, DestructiveChangeRefused, Plan, plan_objects
from include.event_log.objects.object_statements import external_table_fingerprint, plan_statements
from include.event_log.warehouse import EventLogSnowflakeHook

log = logging.getLogger(__name__)

PLAN_CHECK = "snowflake_objects_plan"


class PlanChanged(RuntimeError):
    """The live objects or the declaration changed between the plan and its apply."""


def plan_object_changes(conn_id: str, objects: EventLogObjects | None = None) -> Plan:
    """What applying the declaration would change, object by object; changes nothing."""
    objects = objects or event_log_objects()
    with _cursor(conn_id) as cursor:
        return _plan(cursor, objects)


def apply_object_changes(
    conn_id: str,
    allow_destructive: bool,
    planned: list[dict[str, Any]] | None = None,
    objects: EventLogObjects | None = None,
) -> Plan:
    """Apply the plan; `planned` (a plan's as_dicts(), e.g. the plan task's XCom) must still be the plan.

    Raises DestructiveChangeRefused (nothing applied) when the plan is destructive and that is not allowed.
    """
    objects = objects or event_log_objects()
    with _cursor(conn_id) as cursor:
        plan = _plan(cursor, objects)
        if planned is not None and _what_changes(plan.as_dicts()) != _what_changes(planned):
            raise PlanChanged(
                "The objects or their declaration changed since the plan; nothing was applied. Run the plan again "
                f"(clear the plan_changes task). Plan now:\n{plan.describe()}"
            )
        plan.refuse_destructive(allow_destructive)
        for entry in plan.changed:
            for sql, params in plan_statements(entry, objects):
                log.info("%s: %s | params=%s", entry.name, sql, params)
                cursor.execute(sql, params)
    log.info("Applied:\n%s", plan.describe())
    return plan


def plan_check_results(plan: Plan, allow_destructive: bool) -> list[CheckResult]:
    """One check result per object of the plan: pass unchanged, warn changed, fail a refused destructive change."""
    results = []
    for entry in plan.objects:
        refused = not allow_destructive and any(change.destructive for change in entry.changes)
        status = FAIL if refused else PASS if entry.action == UNCHANGED else WARN
        observed = len(entry.changes) or int(entry.action != UNCHANGED)
        results.append(CheckResult(PLAN_CHECK, status, observed, 0, entry.as_dict()))
    return results


def record_plan(conn_id: str, dag_id: str, run_id: str, plan: Plan, allow_destructive: bool, applied: bool) -> None:
    """The plan's check results, as rows of the check-results table: unless the plan was not applied and that
    table is one it would have created (it does not exist yet; the task log has the plan)."""
    table = event_log_objects().check_results_table.fqn
    if not applied and any(entry.name == table and entry.action == CREATE for entry in plan.objects):
        log.warning("The plan is not recorded: %s does not exist yet", table)
        return
    record_check_results(conn_id, dag_id, run_id, plan_check_results(plan, allow_destructive))


def _what_changes(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A plan without its reasons: a reason may count rows, which loads change between plan and apply."""
    return [{key: value for key, value in entry.items() if key != "why"} for entry in entries]


def _plan(cursor: Any, objects: EventLogObjects) -> Plan:
    plan = plan_objects(objects, read_live_objects(cursor, objects), external_table_fingerprint(objects))
    log.info("Plan:\n%s", plan.describe())
    return plan


@contextmanager
def _cursor(conn_id: str) -> Iterator[Any]:
    conn = EventLogSnowflakeHook(snowflake_conn_id=conn_id).get_conn()
    try:
        with conn.cursor() as cursor:
            yield cursor
    finally:
        conn.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m include.event_log.objects.snowflake_objects", description=__doc__)
    parser.add_argument("command", choices=["plan", "apply"])
    parser.add_argument("--conn-id", default=SNOWFLAKE_CONN_ID, help="Airflow connection id (%(default)s)")
    parser.add_argument("--objects", type=Path, help="another declaration than the package's (a YAML path)")
    parser.add_argument("--allow-destructive-changes", action="store_true", help="apply: drop and retype columns")
    args = parser.parse_args(argv)
    _logs_to_stderr()
    objects = load_objects(args.objects) if args.objects else event_log_objects()
    if args.command == "plan":
        print(plan_object_changes(args.conn_id, objects).describe())
        return 0
    allowed = args.allow_destructive_changes or destructive_changes_allowed()
    try:
        plan = apply_object_changes(args.conn_id, allowed, objects=objects)
    except DestructiveChangeRefused as error:
        print(error, file=sys.stderr)
        return 1
    print(plan.describe())
    if plan.changed:
        refreshed = refresh_external_table(args.conn_id, objects=objects)
        print(f"Applied. Refreshed {objects.external_table.fqn}: {refreshed}")
    return 0


def _logs_to_stderr() -> None:
    """The plan is the CLI's output (stdout); Airflow's and the connector's logs go to stderr, warnings only."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    root.addHandler(logging.StreamHandler(sys.stderr))
    root.setLevel(logging.WARNING)


if __name__ == "__main__":
    sys.exit(main())
