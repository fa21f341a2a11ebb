"""The hour sensor starts in the triggerer: the scheduler hands it the trigger's kwargs as the DAG file declares
them, the trigger finds its hour from the group's mapping and ends the task there.

S3 is scripted here (the completion rules have their own tests, tests/include; the live stack runs the real
trigger: tests/live/test_models_follow_raw.py and the benchmark).
"""

from __future__ import annotations

import asyncio
import functools
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import airflow  # noqa: F401 - puts the plugins folder on sys.path, as in every Airflow component
import pytest
from airflow.sdk.execution_time.xcom import XCom
from airflow.triggers.base import TaskSuccessEvent
from event_log_hour_trigger import HourCompleteTrigger

from include.event_log.config import IngestConfig
from include.event_log.land import hour_layout
from include.event_log.land.hour_layout import HourCompletion, HourLayout, HourState, Layout
from include.event_log.load import sensors

DAGS_DIR = Path(__file__).resolve().parents[2] / "dags"
HIVE = HourLayout(Layout.HIVE, "event_log")
HOURS = [{"hour_start": "2025-08-01T03:00:00+00:00"}, {"hour_start": "2025-08-01T04:00:00+00:00"}]


class TaskInstance:
    dag_id, run_id, task_id = "event_log_ingest", "backfill__2025-08-01T03:00:00+00:00", "load_hour.wait_for_commit"

    def __init__(self, map_index: int) -> None:
        self.map_index = map_index


def scripted(monkeypatch, states: list[HourState], mapping=None) -> tuple[list[str], list[dict]]:
    """S3 answers `states` one check after another; the mapping task's output is `mapping`. Returns the hours
    checked, in order, and the XCom reads."""
    checked: list[str] = []
    answers = iter(states)

    async def check(aws_conn_id, bucket, layout, hour):
        checked.append(hour)
        return HourCompletion(datetime.fromisoformat(hour), next(answers), "scripted")

    reads: list[dict] = []

    def get_one(**where):
        reads.append(where)
        return mapping

    monkeypatch.setattr(sensors, "check_hour_completion", check)
    monkeypatch.setattr(XCom, "get_one", staticmethod(get_one))
    return checked, reads


def first_event(trigger: HourCompleteTrigger):
    async def run():
        async for event in trigger.run():
            return event

    return asyncio.run(run())


def started_by_the_scheduler(map_index: int) -> HourCompleteTrigger:
    """The trigger as the triggerer builds it: the serialized DAG's kwargs through a trigger row, the task instance
    attached."""
    kwargs = trigger_row_kwargs(ingest_sensor().start_trigger_args.trigger_kwargs)
    trigger = HourCompleteTrigger(**{**kwargs, "poke_interval": 0})
    trigger.task_instance = TaskInstance(map_index)
    return trigger


def trigger_row_kwargs(kwargs: dict) -> dict:
    """What the triggerer reads back from the trigger row the scheduler writes with `kwargs`."""
    from airflow.models.trigger import Trigger

    return Trigger._decrypt_kwargs(Trigger.encrypt_kwargs(kwargs))


@functools.cache
def ingest_sensor():
    """event_log_ingest's `wait_for_commit` as the scheduler sees it: from the serialized DAG."""
    from airflow.dag_processing.dagbag import DagBag
    from airflow.serialization.serialized_objects import DagSerialization

    bag = DagBag(dag_folder=str(DAGS_DIR / "event_log_ingest.py"))
    assert bag.import_errors == {}
    serialized = DagSerialization.from_dict(DagSerialization.to_dict(bag.dags["event_log_ingest"]))
    return serialized.get_task("load_hour.wait_for_commit")


def test_the_scheduler_starts_the_ingest_sensor_in_the_triggerer_with_where_to_read_its_hour():
    sensor = ingest_sensor()
    assert sensor.start_from_trigger is True
    args = sensor.start_trigger_args
    assert args.trigger_cls == "event_log_hour_trigger.HourCompleteTrigger"
    assert args.next_method == "execute_complete"
    kwargs = trigger_row_kwargs(args.trigger_kwargs)
    assert kwargs["hour"] is None
    assert kwargs["hour_from"] == ["hours_to_load", "hour_start"]
    assert kwargs["end_task"] is True
    default_timeout = IngestConfig.from_env().commit_timeout
    assert args.timeout == default_timeout > timedelta(0), "the sensor's timeout still ends the wait"


def test_started_there_it_reads_its_hour_at_its_map_index_and_ends_the_task_with_the_completion(monkeypatch):
    checked, reads = scripted(monkeypatch, [HourState.NOT_YET, HourState.NOT_YET, HourState.COMMITTED], HOURS)
    event = first_event(started_by_the_scheduler(map_index=1))
    assert checked == [HOURS[1]["hour_start"]] * 3, "checked at once, then every poke interval"
    assert reads == [{
        "run_id": TaskInstance.run_id, "key": "return_value", "task_id": "hours_to_load", "dag_id": "event_log_ingest",
        "map_index": -1,
    }], "the mapping is read once"  # fmt: skip
    assert isinstance(event, TaskSuccessEvent)
    assert event.xcoms == {
        "return_value": {"hour": "2025-08-01T04:00:00+00:00", "state": "committed", "reason": "scripted"}
    }


def test_a_mapping_read_back_as_json_text_gives_the_same_hour(monkeypatch):
    checked, _ = scripted(monkeypatch, [HourState.COMPLETE_EMPTY], mapping=json.dumps(HOURS))
    event = first_event(started_by_the_scheduler(map_index=0))
    assert checked == [HOURS[0]["hour_start"]]
    assert event.xcoms["return_value"]["state"] == "complete_empty"


def test_a_map_index_the_mapping_does_not_hold_fails_naming_the_task_and_run(monkeypatch):
    scripted(monkeypatch, [], mapping=HOURS)
    with pytest.raises(ValueError, match=r"hours_to_load of run backfill__.* no hour at map index 2"):
        first_event(started_by_the_scheduler(map_index=2))


def test_deferred_by_a_worker_it_resumes_the_sensor_with_the_completion(monkeypatch):
    checked, _ = scripted(monkeypatch, [HourState.COMMITTED])
    sensor = sensors.HourCompleteSensor(
        task_id="wait_for_commit", hour="2025-08-01T03:00:00+00:00", bucket="b", layout=HIVE, aws_conn_id=None,
        timeout=60, poke_interval=0,
    )  # fmt: skip
    trigger = HourCompleteTrigger(hour=sensor.hour, **sensor._trigger_kwargs())
    event = first_event(trigger)
    assert checked == ["2025-08-01T03:00:00+00:00"]
    assert not isinstance(event, TaskSuccessEvent)
    assert sensor.execute_complete({}, event.payload)["state"] == "committed"


def test_a_sensor_with_a_fixed_hour_starts_in_the_triggerer_and_one_that_does_not_defer_never_does():
    fixed = sensors.HourCompleteSensor(
        task_id="a", hour="2025-08-01T03:00:00+00:00", bucket="b", layout=HIVE, aws_conn_id=None, timeout=60
    )
    assert fixed.start_from_trigger is True
    assert fixed.start_trigger_args.trigger_kwargs["hour"] == "2025-08-01T03:00:00+00:00"
    assert fixed.start_trigger_args.trigger_kwargs["hour_from"] is None
    templated = sensors.HourCompleteSensor(
        task_id="b", hour="{{ data_interval_start }}", bucket="b", layout=HIVE, aws_conn_id=None, timeout=60
    )
    assert templated.start_from_trigger is False, "a template is rendered only in a worker"
    poking = sensors.HourCompleteSensor(
        task_id="c", hour="2025-08-01T03:00:00+00:00", bucket="b", layout=HIVE, aws_conn_id=None, timeout=60,
        deferrable=False,
    )  # fmt: skip
    assert poking.start_from_trigger is False


def test_the_trigger_wants_the_hour_or_where_to_read_it():
    with pytest.raises(ValueError, match="not both"):
        HourCompleteTrigger(hour=None, bucket="b", layout=HIVE.as_dict(), aws_conn_id=None, poke_interval=1)
    with pytest.raises(ValueError, match="not both"):
        HourCompleteTrigger(hour="2025-08-01T03:00:00+00:00", bucket="b", layout=HIVE.as_dict(), aws_conn_id=None,
                            poke_interval=1, hour_from=["hours_to_load", "hour_start"])  # fmt: skip


@pytest.mark.parametrize("as_text", [False, True], ids=["pushed-by-a-worker", "pushed-by-the-triggerer"])
def test_the_load_reads_the_completion_however_it_was_stored(as_text):
    completion = HourCompletion(datetime(2025, 8, 1, 3, tzinfo=UTC), HourState.COMMITTED, "_SUCCESS").as_dict()
    assert sensors.completion_value(json.dumps(completion) if as_text else completion) == completion
    with pytest.raises(ValueError, match="not an hour completion"):
        sensors.completion_value('"committed"')


def test_the_layout_module_is_the_one_the_trigger_uses():
    assert HourLayout.from_dict(HIVE.as_dict()) == HIVE
    assert hour_layout.HourLayout is HourLayout
