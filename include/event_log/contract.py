"""The data contract's event types and record fields (../shared/event-log-spec.md section 3), read from the one
place they are written: the `vars` of dbt/dbt_project.yml, where stg_event_log's accepted_values test reads them too.
The per-hour checks count what falls outside them; the simulator writes within them.
"""

from __future__ import annotations

from functools import cache

import yaml

from include.event_log.config import DBT_PROJECT_DIR

DBT_PROJECT_FILE = DBT_PROJECT_DIR / "dbt_project.yml"


@cache
def _contract_vars() -> dict:
    project = yaml.safe_load(DBT_PROJECT_FILE.read_text())
    variables = project.get("vars") or {}
    for name in ("event_log_event_types", "event_log_record_fields"):
        values = variables.get(name)
        names = values if isinstance(values, list) else []
        if not names or not all(isinstance(v, str) and v for v in names) or len(set(names)) != len(names):
            raise ValueError(f"{DBT_PROJECT_FILE}: vars.{name} must be a list of distinct names, got {values!r}")
    return variables


def event_types() -> tuple[str, ...]:
    """The event types a record may carry today, in the contract's order."""
    return tuple(_contract_vars()["event_log_event_types"])


def record_fields() -> tuple[str, ...]:
    """The top-level fields of a record, in the contract's order."""
    return tuple(_contract_vars()["event_log_record_fields"])
