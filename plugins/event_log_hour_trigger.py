"""The trigger of event_log_ingest's `load_hour.wait_for_commit` (include/event_log/load/sensors.py).

It waits in the triggerer, holding no worker slot, until the hour is complete under the configured hour
layout and completion signal, checking S3 at once and then every poke interval with `check_hour_completion`; the
sensor's timeout ends the wait, with the hour named.

Started by the scheduler (the sensor's `start_from_trigger`), it ends the task here (`TaskSuccessEvent`, the
completion as its return value), so no worker starts for a complete hour. In the mapped task group of
event_log_ingest the hour is not known when the DAG is parsed: `hour_from` names the task and key it comes from,
and the trigger reads that task's output at its own map index. Deferred by a worker (`dag.test()`), it gets the
hour and fires a plain event that resumes the sensor.

The plugins folder is on sys.path in every Airflow component, so the triggerer imports this module by its
file name (`event_log_hour_trigger.HourCompleteTrigger`). Heavy imports stay inside the methods.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TaskSuccessEvent, TriggerEvent


class HourCompleteTrigger(BaseTrigger):
    def __init__(
        self, hour: str | None, bucket: str, layout: dict[str, Any], aws_conn_id: str | None, poke_interval: float,
        hour_from: list[str] | None = None, end_task: bool = False,
    ):  # fmt: skip
        super().__init__()
        if (hour is None) == (hour_from is None):
            raise ValueError(f"give the hour or where to read it (hour_from), not both: {hour!r}, {hour_from!r}")
        self.hour, self.bucket, self.layout = hour, bucket, layout
        self.aws_conn_id, self.poke_interval = aws_conn_id, poke_interval
        self.hour_from = list(hour_from) if hour_from is not None else None
        # Started by the scheduler (start_from_trigger): end the task here, with no worker to resume.
        self.end_task = end_task

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            "event_log_hour_trigger.HourCompleteTrigger",
            {
                "hour": self.hour,
                "bucket": self.bucket,
                "layout": self.layout,
                "aws_conn_id": self.aws_conn_id,
                "poke_interval": self.poke_interval,
                "hour_from": self.hour_from,
                "end_task": self.end_task,
            },
        )

    async def _mapped_hour(self) -> str:
        """The hour of this task instance: the `hour_from` task's output, at the task instance's map index."""
        from airflow.sdk.execution_time.xcom import XCom
        from asgiref.sync import sync_to_async

        ti = self.task_instance
        task_id, key = self.hour_from
        hours = await sync_to_async(XCom.get_one)(
            run_id=ti.run_id, key="return_value", task_id=task_id, dag_id=ti.dag_id, map_index=-1
        )
        if isinstance(hours, str):
            hours = json.loads(hours)
        if not isinstance(hours, list) or not 0 <= ti.map_index < len(hours):
            raise ValueError(f"{task_id} of run {ti.run_id} gave no hour at map index {ti.map_index}: {hours!r}")
        return hours[ti.map_index][key]

    async def run(self) -> AsyncIterator[TriggerEvent]:
        from include.event_log.land.hour_layout import HourLayout
        from include.event_log.load.sensors import check_hour_completion

        layout = HourLayout.from_dict(self.layout)
        hour = self.hour if self.hour is not None else await self._mapped_hour()
        while True:
            completion = await check_hour_completion(self.aws_conn_id, self.bucket, layout, hour)
            if completion.complete:
                self.log.info("Hour %s: %s (%s)", hour, completion.state.value, completion.reason)
                if self.end_task:
                    yield TaskSuccessEvent(xcoms={"return_value": completion.as_dict()})
                else:
                    yield TriggerEvent(completion.as_dict())
                return
            self.log.debug("Hour %s not complete yet: %s", hour, completion.reason)
            await asyncio.sleep(self.poke_interval)
