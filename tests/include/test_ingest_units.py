"""The ingest building blocks on their own: intervals, listing, completion, the sensor's timeout, declarations."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from include.event_log.config import IngestConfig
from include.event_log.land.hour_layout import Completion, HourLayout, HourState, Layout
from include.event_log.load.ingest import hours_in_interval, list_committed_part_files
from include.event_log.load.sensors import hour_completion
from include.event_log.objects.declarations import DeclarationError, load_objects

CONFIG = IngestConfig.from_env()


def test_hours_in_interval_one_entry_per_hour():
    hours = hours_in_interval(datetime(2025, 8, 1, 22, tzinfo=UTC), datetime(2025, 8, 2, 1, tzinfo=UTC))
    assert hours == [
        {"hour_start": "2025-08-01T22:00:00+00:00"},
        {"hour_start": "2025-08-01T23:00:00+00:00"},
        {"hour_start": "2025-08-02T00:00:00+00:00"},
    ]
    with pytest.raises(ValueError, match="no whole hour"):
        hours_in_interval(datetime(2025, 8, 1, 3, tzinfo=UTC), datetime(2025, 8, 1, 3, tzinfo=UTC))


PART = "part-1c0e8a3e-8a1b-4e55-9d6a-0c1f2e3d4b5a-0-{}"


class FakeBucket:
    """Keys in S3, listed the way the sensor lists them; counts the listings."""

    def __init__(self, keys):
        self.keys, self.listings = sorted(keys), []

    async def list_keys(self, prefix):
        self.listings.append(prefix)
        return [key for key in self.keys if key.startswith(prefix)]

    async def list_folders(self, prefix):
        self.listings.append(prefix + "*/")
        return sorted({prefix + key[len(prefix) :].split("/", 1)[0] + "/" for key in self.keys
                       if key.startswith(prefix) and "/" in key[len(prefix) :]})  # fmt: skip


def completion(layout, hour, keys, now=datetime(2025, 8, 3, tzinfo=UTC)):
    bucket = FakeBucket(keys)
    result = asyncio.run(hour_completion(layout, hour, bucket.list_keys, bucket.list_folders, now))
    return result, bucket.listings


HIVE = HourLayout(Layout.HIVE, "event_log")
H03 = datetime(2025, 8, 1, 3, tzinfo=UTC)


def test_a_committed_hour_is_decided_by_its_own_folder():
    result, listings = completion(HIVE, H03, [f"event_log/dt=2025-08-01/hr=03/{PART.format(0)}",
                                              "event_log/dt=2025-08-01/hr=03/_SUCCESS"])  # fmt: skip
    assert result.state is HourState.COMMITTED
    assert listings == ["event_log/dt=2025-08-01/hr=03/"], "nothing else is listed"


def test_an_hour_without_a_folder_is_empty_once_a_later_hour_is_committed():
    later = ["event_log/dt=2025-08-02/hr=01/_SUCCESS", f"event_log/dt=2025-08-02/hr=01/{PART.format(0)}"]
    result, listings = completion(HIVE, datetime(2025, 8, 1, 23, tzinfo=UTC), later)
    assert result.state is HourState.COMPLETE_EMPTY and "2025-08-02T01:00Z" in result.reason
    assert listings[-1] == "event_log/dt=2025-08-02/hr=01/"
    nothing_later, _ = completion(HIVE, datetime(2025, 8, 1, 23, tzinfo=UTC), [])
    assert nothing_later.state is HourState.NOT_YET
    uncommitted, _ = completion(HIVE, H03, [f"event_log/dt=2025-08-01/hr=03/{PART.format(0)}", *later])
    assert uncommitted.state is HourState.NOT_YET, "a folder without _SUCCESS waits whatever comes later"


def test_the_quiet_period_completes_an_hour_once_a_later_hour_has_a_finished_file():
    plain = HourLayout(Layout.PLAIN, "event_log", Completion.QUIET_PERIOD, timedelta(minutes=15))
    keys = [f"event_log/2025/08/01/03/{PART.format(0)}.jsonl", f"event_log/2025/08/01/05/{PART.format(1)}.jsonl"]
    before, listings = completion(plain, H03, keys, now=datetime(2025, 8, 1, 4, 14, tzinfo=UTC))
    assert before.state is HourState.NOT_YET and listings == ["event_log/2025/08/01/03/"]
    after, _ = completion(plain, H03, keys, now=datetime(2025, 8, 1, 4, 15, tzinfo=UTC))
    assert after.state is HourState.COMMITTED
    empty, _ = completion(plain, datetime(2025, 8, 1, 4, tzinfo=UTC), keys)
    assert empty.state is HourState.COMPLETE_EMPTY
    last, _ = completion(plain, datetime(2025, 8, 1, 5, tzinfo=UTC), keys)
    assert last.state is HourState.NOT_YET, "nothing later yet: Flink may still write the hour"


@pytest.mark.slow
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

    s3_client.put_object(Bucket=bucket, Key=prefix + "nested/" + names[1], Body=b"{}\n")
    s3_client.put_object(Bucket=bucket, Key=prefix + "notes.txt", Body=b"")

    listing = list_committed_part_files(LocalS3Hook(), hour.isoformat(), config)
    assert sorted(listing["files"]) == sorted(names)
    assert [len(batch) for batch in listing["batches"]] == [1000, 1]
    assert sorted(name for batch in listing["batches"] for name in batch) == sorted(names)
    assert len(listing["ignored"]) == 3  # in-progress, multipart temp, _SUCCESS
    assert listing["unexpected"] == ["nested/" + names[1], "notes.txt"]
    assert listing["hour_path"] == config.layout.hour_path(hour) == "dt=2025-08-01/hr=03/"


@pytest.mark.parametrize(
    ("layout", "folder"),
    [(HIVE, "event_log/dt=2025-08-01/hr=03/"), (HourLayout(Layout.PLAIN, "event_log"), "event_log/2025/08/01/03/")],
)
def test_sensor_timeout_names_the_hour_and_the_path(layout, folder):
    from airflow.sdk.bases.operator import TriggerFailureReason
    from airflow.sdk.exceptions import AirflowSensorTimeout

    from include.event_log.load.sensors import HourCompleteSensor

    sensor = HourCompleteSensor(
        task_id="wait_for_commit", hour=H03.isoformat(), bucket="flink-event-log", layout=layout, aws_conn_id=None,
        deferrable=True, timeout=3600,
    )  # fmt: skip
    with pytest.raises(AirflowSensorTimeout) as error:
        sensor.resume_execution("__fail__", {"error": TriggerFailureReason.TRIGGER_TIMEOUT}, context={})
    message = str(error.value)
    assert "2025-08-01 03:00 UTC" in message
    assert f"s3://flink-event-log/{folder}" in message
    assert "never completed" in message and "_SUCCESS" in message


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
