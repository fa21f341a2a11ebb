"""The trigger of event_log_ingest's `load_hour.wait_for_commit` (include/event_log/load/sensors.py).

It waits in the triggerer, holding no worker slot, until the hour is complete under the configured hour
layout and completion signal, checking S3 every poke interval with the same `check_hour_completion` the
sensor's first look used; the sensor's timeout ends the wait, with the hour named.

The plugins folder is on sys.path in every Airflow component, so the triggerer imports this module by its
file name (`event_log_hour_trigger.HourCompleteTrigger`). Heavy imports stay inside the methods.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent


class HourCompleteTrigger(BaseTrigger):
    def __init__(self, hour: str, bucket: str, layout: dict[str, Any], aws_conn_id: str | None, poke_interval: float):
        super().__init__()
        self.hour, self.bucket, self.layout = hour, bucket, layout
        self.aws_conn_id, self.poke_interval = aws_conn_id, poke_interval

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            "event_log_hour_trigger.HourCompleteTrigger",
            {
                "hour": self.hour,
                "bucket": self.bucket,
                "layout": self.layout,
                "aws_conn_id": self.aws_conn_id,
                "poke_interval": self.poke_interval,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        from include.event_log.land.hour_layout import HourLayout
        from include.event_log.load.sensors import check_hour_completion

        layout = HourLayout.from_dict(self.layout)
        while True:
            completion = await check_hour_completion(self.aws_conn_id, self.bucket, layout, self.hour)
            if completion.complete:
                yield TriggerEvent(completion.as_dict())
                return
            self.log.debug("Hour %s not complete yet: %s", self.hour, completion.reason)
            await asyncio.sleep(self.poke_interval)
