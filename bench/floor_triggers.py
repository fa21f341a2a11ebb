"""The trigger of the Airflow-floor DAGs (bench/floor_dags/airflow_floor_dags.py), imported by the triggerer from
the repository (the stack's PYTHONPATH): it ends its task at once, in the triggerer, as the product's sensor, build
and model triggers do once their answer is in."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TaskSuccessEvent, TriggerEvent


class EndsAtOnce(BaseTrigger):
    def serialize(self) -> tuple[str, dict[str, Any]]:
        return ("bench.floor_triggers.EndsAtOnce", {})

    async def run(self) -> AsyncIterator[TriggerEvent]:
        yield TaskSuccessEvent(xcoms={"return_value": "done"})
