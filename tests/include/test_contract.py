"""The contract's event types and fields are written once (dbt/dbt_project.yml vars) and read by the checks, the
simulator and dbt's accepted_values test."""

from __future__ import annotations

import re

import pytest
import yaml

from include.event_log import contract
from include.event_log.check.hour_checks import KNOWN_EVENT_TYPES, KNOWN_FIELDS
from include.event_log.config import DBT_PROJECT_DIR

SPEC_TYPES = {"PIPELINE_START", "STEP_SUCCESS", "ASSET_MATERIALIZATION", "ASSET_CHECK_EVALUATION", "ALERT_SUCCESS"}


def test_the_checks_and_the_simulator_read_the_one_list():
    from devstack.simulator import EVENT_TYPES, RECORD_FIELDS

    assert set(EVENT_TYPES) == KNOWN_EVENT_TYPES == set(contract.event_types())
    assert set(RECORD_FIELDS) == KNOWN_FIELDS == set(contract.record_fields())
    assert len(KNOWN_EVENT_TYPES) == 20 and SPEC_TYPES <= KNOWN_EVENT_TYPES
    assert {"event_log_id", "dagster_event_type", "event_data", "landed_at"} <= KNOWN_FIELDS


def test_dbt_accepted_values_reads_the_contract_var():
    staging = yaml.safe_load((DBT_PROJECT_DIR / "models" / "staging" / "stg_event_log.yml").read_text())
    (model,) = [m for m in staging["models"] if m["name"] == "stg_event_log"]
    (column,) = [c for c in model["columns"] if c["name"] == "dagster_event_type"]
    (test,) = [t["accepted_values"] for t in column["data_tests"] if "accepted_values" in t]
    assert re.fullmatch(r"\{\{\s*var\('event_log_event_types'\)\s*\}\}", test["arguments"]["values"])


@pytest.mark.parametrize("values", [None, [], ["A", "A"], ["A", ""], "A"])
def test_a_malformed_contract_is_refused_naming_the_file(tmp_path, monkeypatch, values):
    project = tmp_path / "dbt_project.yml"
    project.write_text(yaml.safe_dump({"vars": {"event_log_event_types": values, "event_log_record_fields": ["a"]}}))
    monkeypatch.setattr(contract, "DBT_PROJECT_FILE", project)
    contract._contract_vars.cache_clear()
    try:
        with pytest.raises(ValueError, match=r"dbt_project\.yml: vars\.event_log_event_types"):
            contract.event_types()
    finally:
        contract._contract_vars.cache_clear()
