"""The models against their independent computation: read each model from the warehouse in its grain's order,
compute what it must hold from the landed files (devstack/expected_marts.py, plain Python), and describe the
differences by key. Used by the dbt, integration and live tests and by `make bench`."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

from devstack.expected_marts import compute_marts, lines_from_landed_files

RAW_TABLE = "EVENT_LOG.RAW.RAW_FLINK_EVENT_LOG"
# The emulator reads NULL timestamps back as the epoch; no real event is from 1970.
EMULATOR_NULL_TIMESTAMP = datetime(1970, 1, 1)
# Each model's grain, to put rows in a stable order; VARIANT columns come back as JSON text.
MODEL_KEYS = {
    "stg_event_log": ["event_log_id"],
    "fct_runs": ["run_id"],
    "fct_steps": ["run_id", "step_key"],
    "fct_asset_materializations": ["event_log_id"],
    "fct_asset_materialization_metadata": ["event_log_id", "entry_index"],
    "fct_asset_check_executions": ["event_log_id"],
    "mart_usage_daily": ["organization_id", "usage_date"],
}
VARIANT_COLUMNS = {"event_data", "record"}


def normalized(column: str, value: object) -> object:
    if column in VARIANT_COLUMNS and isinstance(value, str):
        return json.loads(value)
    if isinstance(value, datetime):
        value = value.replace(tzinfo=None)
        return None if value == EMULATOR_NULL_TIMESTAMP else value
    return value


def read_model(connection, model: str) -> list[dict]:
    cursor = connection.cursor()
    order_by = ", ".join(MODEL_KEYS[model])
    cursor.execute(f"SELECT * FROM EVENT_LOG.ANALYTICS.{model} ORDER BY {order_by}")
    columns = [column[0].lower() for column in cursor.description]
    return [
        {column: normalized(column, value) for column, value in zip(columns, row, strict=True)}
        for row in cursor.fetchall()
    ]


def typed_expected(model: str, rows: list[dict]) -> list[dict]:
    """Expected rows in the model's order, durations with the 3 decimals of NUMBER(18, 3)."""
    typed = [
        {
            column: (value.quantize(Decimal("0.001")) if isinstance(value, Decimal) else value)
            for column, value in row.items()
        }
        for row in rows
    ]
    return sorted(typed, key=lambda row: [row[key] for key in MODEL_KEYS[model]])


def differences(model: str, actual: list[dict], expected: list[dict]) -> str:
    """Readable differences by key: missing rows, unexpected rows, and differing columns."""
    keys = MODEL_KEYS[model]
    actual_by_key = {tuple(row[key] for key in keys): row for row in actual}
    expected_by_key = {tuple(row[key] for key in keys): row for row in expected}
    lines = []
    for key in sorted(expected_by_key.keys() - actual_by_key.keys()):
        lines.append(f"missing {key}: {expected_by_key[key]}")
    for key in sorted(actual_by_key.keys() - expected_by_key.keys()):
        lines.append(f"unexpected {key}: {actual_by_key[key]}")
    for key in sorted(actual_by_key.keys() & expected_by_key.keys()):
        actual_row, expected_row = actual_by_key[key], expected_by_key[key]
        for column in sorted(actual_row.keys() | expected_row.keys()):
            if actual_row.get(column, "<absent>") != expected_row.get(column, "<absent>"):
                lines.append(
                    f"{key}.{column}: got {actual_row.get(column, '<absent>')!r}, "
                    f"expected {expected_row.get(column, '<absent>')!r}"
                )
    if len(actual) != len(actual_by_key):
        lines.append(f"{len(actual) - len(actual_by_key)} duplicate keys in the model")
    return "\n".join(lines)


def models_against_landed_files(connection, s3_client, bucket: str, prefix: str, layout: str = "hive") -> dict:
    """Every model against the oracle computed from the files in S3 of every hour the raw table holds:
    {model: (rows in the model, rows expected, differences)}; an empty differences text means equal."""
    cursor = connection.cursor()
    cursor.execute(f"SELECT REPLICATION_HOUR, MAX(LOADED_AT) FROM {RAW_TABLE} GROUP BY 1")
    loaded_at = {hour.replace(tzinfo=None): moment for hour, moment in cursor.fetchall()}
    hours = sorted(hour.replace(tzinfo=UTC) for hour in loaded_at)
    expected = compute_marts(lines_from_landed_files(s3_client, bucket, prefix, hours, loaded_at, layout=layout))
    outcome = {}
    for model in MODEL_KEYS:
        actual, wanted = read_model(connection, model), typed_expected(model, expected[model])
        outcome[model] = (len(actual), len(wanted), "" if actual == wanted else differences(model, actual, wanted))
    return outcome
