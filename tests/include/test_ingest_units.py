"""The ingest building blocks on their own: intervals, listing, the sensor's timeout, declarations."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from include.event_log.config import IngestConfig, is_committed_part_file
from include.event_log.declarations import DeclarationError, load_objects
from include.event_log.ingest import hours_in_interval, list_committed_part_files

CONFIG = IngestConfig.from_env()


def test_hours_in_interval_one_entry_per_hour():
    hours = hours_in_interval(datetime(2025, 8, 1, 22, tzinfo=UTC), datetime(2025, 8, 2, 1, tzinfo=UTC), CONFIG)
    assert [h["hour_start"] for h in hours] == [
        "2025-08-01T22:00:00+00:00",
        "2025-08-01T23:00:00+00:00",
        "2025-08-02T00:00:00+00:00",
    ]
    assert hours[2]["success_key"] == f"{CONFIG.prefix}/2025/08/02/00/_SUCCESS"
    with pytest.raises(ValueError, match="no whole hour"):
        hours_in_interval(datetime(2025, 8, 1, 3, tzinfo=UTC), datetime(2025, 8, 1, 3, tzinfo=UTC), CONFIG)


@pytest.mark.parametrize(
    ("name", "committed"),
    [
        ("part-1c0e8a3e-8a1b-4e55-9d6a-0c1f2e3d4b5a-0-0.jsonl", True),
        ("part-1c0e8a3e-8a1b-4e55-9d6a-0c1f2e3d4b5a-3-17.jsonl.gz", True),
        ("part-1c0e8a3e-8a1b-4e55-9d6a-0c1f2e3d4b5a-0-1.jsonl.inprogress.0b9e6c1d-1111-2222-3333-444455556666", False),
        ("_part-1c0e8a3e-0-1.jsonl_tmp_0b9e6c1d-1111-2222-3333-444455556666", False),
        ("_SUCCESS", False),
    ],
)
def test_committed_part_file_names(name, committed):
    assert is_committed_part_file(f"event_log/2025/08/01/03/{name}") is committed


@pytest.mark.timeout(120)
def test_listing_batches_at_most_1000_files_and_skips_uncommitted_objects(s3_client, bucket):
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook

    config = IngestConfig(**{**CONFIG.__dict__, "bucket": bucket})
    hour = datetime(2025, 8, 1, 3, tzinfo=UTC)
    prefix = config.hour_prefix(hour)
    names = [f"part-00000000-0000-0000-0000-000000000000-0-{i}.jsonl" for i in range(1001)]
    for name in names:
        s3_client.put_object(Bucket=bucket, Key=prefix + name, Body=b"{}\n")
    s3_client.put_object(Bucket=bucket, Key=prefix + names[0] + ".inprogress.abc", Body=b"{")
    s3_client.put_object(Bucket=bucket, Key=prefix + "_part-0-5.jsonl_tmp_abc", Body=b"{")
    s3_client.put_object(Bucket=bucket, Key=prefix + "_SUCCESS", Body=b"")
    next_hour = config.hour_prefix(datetime(2025, 8, 1, 4, tzinfo=UTC))
    s3_client.put_object(Bucket=bucket, Key=next_hour + names[0], Body=b"")

    class LocalS3Hook(S3Hook):
        def get_conn(self):
            return s3_client

    listing = list_committed_part_files(LocalS3Hook(), hour.isoformat(), config)
    assert sorted(listing["files"]) == sorted(names)
    assert [len(batch) for batch in listing["batches"]] == [1000, 1]
    assert sorted(name for batch in listing["batches"] for name in batch) == sorted(names)
    assert len(listing["ignored"]) == 2
    assert listing["hour_path"] == "2025/08/01/03/"


def test_sensor_timeout_names_the_hour_and_the_path():
    from airflow.sdk.bases.operator import TriggerFailureReason
    from airflow.sdk.exceptions import AirflowSensorTimeout

    from include.event_log.sensors import HourCommittedSensor

    sensor = HourCommittedSensor(
        task_id="wait_for_commit", bucket_name="flink-event-log", bucket_key="event_log/2025/08/01/03/_SUCCESS",
        deferrable=True, timeout=3600,
    )  # fmt: skip
    with pytest.raises(AirflowSensorTimeout) as error:
        sensor.resume_execution("__fail__", {"error": TriggerFailureReason.TRIGGER_TIMEOUT}, context={})
    message = str(error.value)
    assert "2025/08/01/03" in message
    assert "s3://flink-event-log/event_log/2025/08/01/03/_SUCCESS" in message
    assert "never committed" in message


def test_declaration_rejects_an_unsafe_identifier(tmp_path):
    from include.event_log.config import OBJECTS_FILE

    text = OBJECTS_FILE.read_text().replace("name: RAW_FLINK_EVENT_LOG", "name: RAW; DROP TABLE X")
    path = tmp_path / "objects.yaml"
    path.write_text(text)
    with pytest.raises(DeclarationError, match="not a valid Snowflake identifier"):
        load_objects(path)


def test_declaration_matches_the_spec_names():
    objects = load_objects()
    assert objects.stage.name == "STAGE_FLINK_EVENT_LOG"
    assert objects.external_table.name == "EXT_FLINK_EVENT_LOG"
    assert objects.external_table.partition_by == ("REPLICATION_HOUR",)
    assert {c.name for c in objects.raw_table.columns} >= {"RECORD", "FILE_NAME", "REPLICATION_HOUR"}
