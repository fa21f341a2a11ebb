"""The Event log page's reads against the local Snowflake and the local S3: the SQL of include/sql/glass/
on tables created from the declaration, rows as the ingest DAG and its state tables write them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from devstack.stack import BUCKET, PREFIX
from include.event_log.config import SNOWFLAKE_CONN_ID, IngestConfig
from include.event_log.glass.hour_states import read_hour_states
from include.event_log.land.hour_layout import HourLayout

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]
H = timedelta(hours=1)


def test_states_read_from_the_warehouse_and_s3(snowflake_objects, s3_client, warehouse):
    now = datetime.now(UTC)
    hour = now.replace(minute=0, second=0, microsecond=0) - 3 * H
    loaded, failed, waiting = hour, hour + H, hour + 2 * H
    for committed in (loaded, failed):
        folder = HourLayout.from_env({"EVENT_LOG_PREFIX": PREFIX}).hour_prefix(committed)
        s3_client.put_object(Bucket=BUCKET, Key=folder + "part-aaaa-0-0.jsonl", Body=b'{"event_log_id": 1}\n')
        s3_client.put_object(Bucket=BUCKET, Key=folder + "_SUCCESS", Body=b"")
    stamp = (now + timedelta(seconds=5)).replace(tzinfo=None)
    run = f"scheduled__{loaded.isoformat()}"
    with warehouse.cursor() as cursor:
        for load_id, changed_at in (("old", stamp - H), ("new", stamp)):  # the latest change of the hour counts
            cursor.execute(
                "INSERT INTO EVENT_LOG.RAW.EVENT_LOG_HOUR_CHANGES VALUES (%s, %s, %s, 'event_log_ingest', %s, 1, 0, 1, "
                "%s, %s)",
                (load_id, loaded.replace(tzinfo=None), changed_at, run, f"build-{load_id}", changed_at),
            )
        cursor.execute(
            "INSERT INTO EVENT_LOG.RAW.EVENT_LOG_MODEL_BUILDS VALUES ('build-new', 'event_log_ingest', %s, 1, %s, %s, "
            "'success', 1, %s, %s, 1, '{}')",
            (run, stamp, stamp, loaded.replace(tzinfo=None), loaded.replace(tzinfo=None)),
        )
        cursor.execute(
            "INSERT INTO EVENT_LOG.RAW.RAW_FLINK_EVENT_LOG_REJECTS VALUES (%s, 'f', 1, 'Error parsing JSON', 'x', 'r', "
            "%s)",
            (failed.replace(tzinfo=None), stamp),
        )
        for check_hour, name, status in (
            (loaded, "raw_rows_equal_rows_loaded", "warn"),
            (waiting, "deadline_missed", "fail"),
        ):
            cursor.execute(
                "INSERT INTO EVENT_LOG.RAW.EVENT_LOG_CHECK_RESULTS VALUES (%s, 'event_log_ingest', %s, %s, %s, %s, "
                "NULL, NULL, '{}', NULL)",
                (stamp, f"scheduled__{check_hour.isoformat()}", check_hour.replace(tzinfo=None), name, status),
            )

    config = IngestConfig.from_env()
    states = {s.hour: s for s in read_hour_states(SNOWFLAKE_CONN_ID, s3_client, config, now, days=1)}
    assert len(states) == 24

    def row(h):
        return {name: cell.state for name, cell in states[h].cells.items()}

    assert row(loaded) == {"committed": "committed", "loaded": "loaded", "checks": "warn", "modeled": "modeled",
                           "deadline": "ok"}  # fmt: skip
    assert states[loaded].cells["loaded"].details["load_id"] == "new"
    assert states[loaded].cells["modeled"].run_id == run
    assert row(failed) == {"committed": "committed", "loaded": "failed", "checks": "none", "modeled": "none",
                           "deadline": "ok"}  # fmt: skip
    assert row(waiting)["committed"] == "uncommitted" and row(waiting)["deadline"] == "missed"
