"""The committed-hours trigger against a local S3: one event per commit, none again after a restart.

The asset state store is Airflow's (the triggerer hands it to the trigger); here a dict with its
async accessors stands in, shared by two trigger instances as by two triggerer processes. The real
store across a killed triggerer: tests/live/test_event_log_glass.py.
"""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime, timedelta

import airflow  # noqa: F401 - puts the plugins folder on sys.path, as in every Airflow component
import pytest
from event_log_watchers import CURSOR_KEY, CommittedHoursTrigger

from include.event_log.land.hour_layout import HourLayout, Layout

PREFIX = "event_log"


class StateStore:
    def __init__(self):
        self.values: dict = {}

    async def aget(self, key, default=None):
        return json.loads(json.dumps(self.values.get(key, default)))

    async def aset(self, key, value):
        self.values[key] = json.loads(json.dumps(value))


@pytest.fixture
def aws_connection(monkeypatch, s3_endpoint_url):
    monkeypatch.setenv(
        "AIRFLOW_CONN_AWS_EVENT_LOG",
        json.dumps({"conn_type": "aws", "login": "local", "password": "local",
                    "extra": {"endpoint_url": s3_endpoint_url, "region_name": "us-east-1"}}),
    )  # fmt: skip


def land(s3, bucket, hour: datetime, files: int, commit: bool = True) -> None:
    folder = HourLayout(Layout.HIVE, PREFIX).hour_prefix(hour)
    for n in range(files):
        s3.put_object(
            Bucket=bucket, Key=f"{folder}part-{n:08d}-0000-0000-0000-000000000000-0-{n}.jsonl", Body=b"{}\n" * (n + 1)
        )
    s3.put_object(Bucket=bucket, Key=f"{folder}.part-x.inprogress.y", Body=b"never counted")
    if commit:
        s3.put_object(Bucket=bucket, Key=f"{folder}_SUCCESS", Body=b"")


def events_of(trigger: CommittedHoursTrigger, count: int, quiet: float) -> list[dict]:
    """The first `count` events, then waits `quiet` seconds to see that no other comes."""

    async def collect():
        events = []
        stream = trigger.run()
        try:
            while len(events) < count:
                events.append((await asyncio.wait_for(anext(stream), timeout=30)).payload)
            with pytest.raises(TimeoutError):
                extra = await asyncio.wait_for(anext(stream), timeout=quiet)
                events.append(extra.payload)
        finally:
            await stream.aclose()
        return events

    return asyncio.run(collect())


@pytest.mark.slow
def test_each_commit_is_reported_once_across_a_restart(s3_client, bucket, aws_connection):
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    h1, h2, h3 = now - timedelta(hours=3), now - timedelta(hours=2), now - timedelta(hours=1)
    land(s3_client, bucket, h1, files=2)
    land(s3_client, bucket, h2, files=3)
    land(s3_client, bucket, h3, files=1, commit=False)
    store = StateStore()

    def trigger():
        instance = CommittedHoursTrigger(bucket=bucket, prefix=PREFIX, aws_conn_id="aws_event_log", poll_interval=0.5)
        instance.asset_state_store = store
        return instance

    first = events_of(trigger(), count=2, quiet=2)
    assert [(e["hour"], e["files"], e["bytes"], e["recommitted"]) for e in first] == [
        (h1.isoformat(), 2, 3 + 6, False),
        (h2.isoformat(), 3, 3 + 6 + 9, False),
    ]
    assert first[0]["folder"] == HourLayout(Layout.HIVE, PREFIX).hour_uri(bucket, h1)
    assert set(store.values[CURSOR_KEY]) == {h1.isoformat(), h2.isoformat()}

    time.sleep(1.1)  # S3 LastModified has one-second resolution: the re-commit must be later
    land(s3_client, bucket, h3, files=1)
    land(s3_client, bucket, h1, files=4)  # late data re-opens h1 and commits it again
    second = events_of(trigger(), count=2, quiet=2)  # a new instance: the restarted triggerer
    assert sorted((e["hour"], e["files"], e["recommitted"]) for e in second) == [
        (h1.isoformat(), 4, True),
        (h3.isoformat(), 1, False),
    ]
    assert second[0]["committed_at"] > first[0]["committed_at"]
