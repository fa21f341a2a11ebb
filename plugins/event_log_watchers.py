"""The event trigger behind the S3 asset's watcher: one asset event per committed hour.

`CommittedHoursTrigger` runs in the triggerer as the `s3_committed_hours` AssetWatcher of the asset
`s3_flink_event_log` (include/event_log/glass/external_assets.py). Every `poll_interval` seconds it lists the
hour folders of the last `lookback_hours` (one listing per day, include/event_log/land/s3_commits.py) and
yields one event per hour it has not reported committed yet (by the hour layout's rule: its `_SUCCESS`, or a
later hour's files and the quiet period), new or committed again (late data),
with the hour, commit time, committed part files and bytes. Airflow records each as an asset event
whose extra is `{"from_trigger": true, "payload": <that>}`.

Its cursor (hour -> the commit time reported) lives in the asset state store, so a restarted
triggerer goes on where the last one stopped instead of reporting every hour again. The cursor is
saved right after each event is handed over: an event is never lost, and a triggerer killed in that
moment reports that hour once more (at least once; whatever runs on these events must be idempotent,
as a reload of an hour is). Hours older than the window leave the cursor, which stays small.

The triggerer imports this module from the plugins folder (on sys.path in every Airflow component),
so its classpath is `event_log_watchers.CommittedHoursTrigger`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from airflow.triggers.base import BaseEventTrigger, TriggerEvent

CURSOR_KEY = "committed_hours"


class CommittedHoursTrigger(BaseEventTrigger):
    def __init__(
        self, *, bucket: str, prefix: str, aws_conn_id: str, poll_interval: float = 60.0, lookback_hours: int = 72,
        layout: dict[str, Any] | None = None,
    ):  # fmt: skip
        super().__init__()
        self.bucket = bucket
        self.prefix = prefix
        # The hour layout (include/event_log/land/hour_layout.py HourLayout.as_dict()); the environment's if absent.
        self.layout = layout
        self.aws_conn_id = aws_conn_id
        self.poll_interval = poll_interval
        self.lookback_hours = lookback_hours
        self._memory_cursor: dict[str, str] = {}

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{__name__}.{type(self).__name__}",
            {
                "bucket": self.bucket,
                "prefix": self.prefix,
                "aws_conn_id": self.aws_conn_id,
                "poll_interval": self.poll_interval,
                "lookback_hours": self.lookback_hours,
                "layout": self.layout,
            },
        )

    def _list_committed(self) -> dict[datetime, Any]:
        """Blocking S3 listing (boto3), run in a thread so the triggerer's loop never waits on it."""
        from airflow.providers.amazon.aws.hooks.s3 import S3Hook

        from include.event_log.config import IngestConfig
        from include.event_log.land.hour_layout import HourLayout
        from include.event_log.land.s3_commits import committed_hours

        layout = (
            HourLayout.from_dict(self.layout) if self.layout else HourLayout.from_env({"EVENT_LOG_PREFIX": self.prefix})
        )
        config = replace(IngestConfig.from_env(), bucket=self.bucket, prefix=self.prefix, layout=layout)
        now = datetime.now(UTC)
        client = S3Hook(aws_conn_id=self.aws_conn_id).get_conn()
        return committed_hours(client, config, now - timedelta(hours=self.lookback_hours), now)

    async def _load_cursor(self) -> dict[str, str]:
        if self.asset_state_store is None:
            self.log.warning("No asset state store (not run as an asset watcher): the cursor lives in memory only")
            return dict(self._memory_cursor)
        return dict(await self.asset_state_store.aget(CURSOR_KEY, default={}) or {})

    async def _save_cursor(self, cursor: dict[str, str]) -> None:
        self._memory_cursor = dict(cursor)
        if self.asset_state_store is not None:
            await self.asset_state_store.aset(CURSOR_KEY, cursor)

    async def run(self) -> AsyncIterator[TriggerEvent]:
        cursor = await self._load_cursor()
        self.log.info("Watching s3://%s/%s for committed hours; %d hours already reported",
                      self.bucket, self.prefix, len(cursor))  # fmt: skip
        while True:
            try:
                commits = await asyncio.to_thread(self._list_committed)
            except Exception:
                self.log.exception("Listing s3://%s/%s failed; trying again in %ss",
                                   self.bucket, self.prefix, self.poll_interval)  # fmt: skip
                await asyncio.sleep(self.poll_interval)
                continue
            oldest = (datetime.now(UTC) - timedelta(hours=self.lookback_hours)).replace(minute=0, second=0)
            cursor = {hour: stamp for hour, stamp in cursor.items() if datetime.fromisoformat(hour) >= oldest}
            for hour, commit in commits.items():
                key, committed_at = hour.isoformat(), commit.committed_at.isoformat()
                if cursor.get(key) == committed_at:
                    continue
                payload = {**commit.as_dict(), "recommitted": key in cursor}
                self.log.info("Hour %s committed at %s: %d files, %d bytes%s", key, committed_at, commit.files,
                              commit.bytes, " (re-committed)" if key in cursor else "")  # fmt: skip
                yield TriggerEvent(payload)
                cursor[key] = committed_at
                await self._save_cursor(cursor)
            await asyncio.sleep(self.poll_interval)
