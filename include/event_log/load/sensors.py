"""Wait for an hour to be complete: the first step of an hour's load.

What "complete" means is the hour layout's (include/event_log/land/hour_layout.py): committed by `_SUCCESS`,
or, for sinks that write none, a later hour holds a finished part file and the quiet period has passed;
an hour without a folder is complete and empty once a later hour is complete (no timeout, no alert).

`hour_completion` reads only what it needs from S3 (the hour's folder; the folders of later hours of the
same and the next UTC day, nearest first, while they can still decide) through the Amazon provider's
async S3 hook.

Deferrable, the sensor starts in the triggerer (plugins/event_log_hour_trigger.py): the scheduler hands it to the
triggerer without a worker (`start_from_trigger`), which runs the check at once and then every poke interval, and
ends the task there when the hour is complete. No worker process starts for it at all, only for its timeout (the
worker fails it with the hour named). In a mapped task group its hour is known only at run time, so the trigger
reads it from the mapping task's output at its map index (`hour_from`). Where nothing starts it in the triggerer
(`dag.test()`), it checks once in the worker and defers to the same trigger.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from airflow.sdk.bases.sensor import BaseSensorOperator, PokeReturnValue
from airflow.sdk.exceptions import AirflowSensorTimeout
from airflow.triggers.base import StartTriggerArgs

from include.event_log.land.hour_layout import Completion, HourCompletion, HourLayout, hour_start, hour_text

ListKeys = Callable[[str], Awaitable[list[str]]]
ListFolders = Callable[[str], Awaitable[list[str]]]
HOUR_TRIGGER = "event_log_hour_trigger.HourCompleteTrigger"


async def hour_completion(
    layout: HourLayout, hour: datetime | str, list_keys: ListKeys, list_folders: ListFolders, now: datetime
) -> HourCompletion:
    """Whether `hour` is complete, reading its folder and, while needed, later hour folders."""
    hour = hour_start(hour)
    own_prefix = layout.hour_prefix(hour)
    folders: dict[datetime, list[str]] = {}
    if own := await list_keys(own_prefix):
        folders[hour] = [key.removeprefix(own_prefix) for key in own]
    if layout.completion is Completion.SUCCESS_FILE and own:
        return layout.completion_of(hour, folders, now)  # its own folder decides: committed or not yet
    if layout.completion is Completion.QUIET_PERIOD and now < hour + timedelta(hours=1) + layout.quiet_period:
        return layout.completion_of(hour, folders, now)  # not over yet, whatever later hours hold
    for day in (hour, hour + timedelta(days=1)):
        for folder in sorted(await list_folders(layout.day_prefix(day))):
            later = layout.hour_of_key(folder)
            if later is None or later <= hour:
                continue
            folders[later] = [key.removeprefix(folder) for key in await list_keys(folder)]
            if (decision := layout.completion_of(hour, folders, now)).complete:
                return decision
    return layout.completion_of(hour, folders, now)


def completion_value(value: dict[str, Any] | str) -> dict[str, Any]:
    """The sensor's output as the next task receives it: a dict, or its JSON text when the task ended in the
    triggerer (Airflow 3.3.2 stores a TaskSuccessEvent's XComs JSON-encoded once more than a worker's push)."""
    if isinstance(value, str):
        value = json.loads(value)
    if not isinstance(value, dict) or "state" not in value:
        raise ValueError(f"not an hour completion: {value!r}")
    return value


async def check_hour_completion(
    aws_conn_id: str | None, bucket: str, layout: HourLayout, hour: datetime | str
) -> HourCompletion:
    """`hour_completion` over the bucket, with the provider's async S3 client."""
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook

    hook = S3Hook(aws_conn_id=aws_conn_id)
    async with await hook.get_async_conn() as client:

        async def list_keys(prefix: str) -> list[str]:
            return await hook._list_keys_async(client, bucket, prefix)

        async def list_folders(prefix: str) -> list[str]:
            return await hook.list_prefixes_async(client, bucket, prefix, "/")

        return await hour_completion(layout, hour, list_keys, list_folders, datetime.now(UTC))


class HourCompleteSensor(BaseSensorOperator):
    """Waits until the hour is complete (committed, or complete and empty); returns how and why.

    Deferrable: it starts and waits in the triggerer (see the module's docstring). Its timeout means the hour
    was never completed (Flink down or stalled), and the error names the hour and its S3 folder.

    `hour` is the hour's ISO-8601 start, or, in a mapped task group, the group's mapped argument; then
    `hour_from` names what the trigger reads it from: `(task_id, key)`, the task whose list of dicts maps the
    group and the key of the hour in each.
    """

    template_fields = ("hour",)

    def __init__(
        self, *, hour: Any, bucket: str, layout: HourLayout, aws_conn_id: str | None, deferrable: bool = True,
        hour_from: tuple[str, str] | None = None, **kwargs: Any,
    ) -> None:  # fmt: skip
        super().__init__(**kwargs)
        self.hour, self.bucket, self.layout = hour, bucket, layout
        self.aws_conn_id, self.deferrable = aws_conn_id, deferrable
        static_hour = isinstance(hour, str) and "{{" not in hour
        if deferrable and (static_hour or hour_from):
            self.start_from_trigger = True
            self.start_trigger_args = StartTriggerArgs(
                trigger_cls=HOUR_TRIGGER,
                trigger_kwargs={
                    **self._trigger_kwargs(),
                    "hour": hour if static_hour else None,
                    "hour_from": None if static_hour else list(hour_from),
                    "end_task": True,
                },
                next_method="execute_complete",
                next_kwargs=None,
                timeout=timedelta(seconds=self.timeout),
            )

    def _trigger_kwargs(self) -> dict[str, Any]:
        return {
            "bucket": self.bucket, "layout": self.layout.as_dict(), "aws_conn_id": self.aws_conn_id,
            "poke_interval": float(self.poke_interval),
        }  # fmt: skip

    def _completion(self) -> HourCompletion:
        return asyncio.run(check_hour_completion(self.aws_conn_id, self.bucket, self.layout, self.hour))

    def poke(self, context: Any) -> PokeReturnValue | bool:
        completion = self._completion()
        self.log.info("Hour %s: %s (%s)", self.hour, completion.state.value, completion.reason)
        return PokeReturnValue(is_done=True, xcom_value=completion.as_dict()) if completion.complete else False

    def execute(self, context: Any) -> Any:
        if not self.deferrable:
            try:
                return super().execute(context)
            except AirflowSensorTimeout as error:
                raise self._never_completed(error) from error
        if done := self.poke(context):
            return done.xcom_value
        from event_log_hour_trigger import HourCompleteTrigger

        self.defer(
            trigger=HourCompleteTrigger(hour=self.hour, **self._trigger_kwargs()),
            timeout=timedelta(seconds=self.timeout),
            method_name="execute_complete",
        )

    def execute_complete(self, context: Any, event: dict[str, Any]) -> dict[str, Any]:
        self.log.info("Hour %s: %s (%s)", self.hour, event["state"], event["reason"])
        return event

    def _never_completed(self, error: Exception) -> AirflowSensorTimeout:
        folder = self.layout.hour_uri(self.bucket, hour_start(self.hour))
        how = "its _SUCCESS" if self.layout.completion is Completion.SUCCESS_FILE else "a later hour's part files"
        return AirflowSensorTimeout(
            f"Hour {hour_text(hour_start(self.hour))} was never completed: {how} did not appear within "
            f"{self.timeout:.0f}s (folder {folder}). Is the Flink job running? ({error})"
        )

    def resume_execution(self, next_method: str, next_kwargs: dict[str, Any] | None, context: Any):
        try:
            return super().resume_execution(next_method, next_kwargs, context)
        except AirflowSensorTimeout as error:
            raise self._never_completed(error) from error
