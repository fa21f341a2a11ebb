"""Deadline alerts of the event-log DAGs, built once at parse time from the environment.

`event_log_ingest`: a run is late when its hour is still not loaded at

    end of the hour + EVENT_LOG_COMMIT_DELAY_SECONDS + EVENT_LOG_DEADLINE_GRACE_SECONDS

The commit delay (default 900) is how long Flink normally takes to write an hour's `_SUCCESS`; the
grace (default 1800) is how late a load may be before anyone is told. Airflow measures the deadline
from the run's logical date, which for the hourly data-interval timetable is the start of its hour,
so the interval is one hour + delay + grace: by default hour 00:00 is due at 01:45 UTC.

`snowflake_objects`: a run is late EVENT_LOG_OBJECTS_DEADLINE_SECONDS (default 3600) after it was
queued. Its runs are not catch-up runs (the first one, when unpaused, is for a day already over), so
their logical date says nothing about when they should end.

The callbacks live in plugins/event_log_deadlines.py: the triggerer runs them and imports them from
the plugins folder, which every Airflow component puts on sys.path. They notify through the SMTP and
Slack-webhook notifiers whose connections exist (EVENT_LOG_SMTP_CONN_ID, EVENT_LOG_SLACK_CONN_ID);
email goes to EVENT_LOG_ALERT_EMAILS (comma-separated).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from airflow.sdk import AsyncCallback, DeadlineAlert, DeadlineReference

from include.event_log.config import SNOWFLAKE_CONN_ID, IngestConfig, env_duration, env_text

# Import paths relative to the plugins folder; the module is imported where the callback runs only.
INGEST_CALLBACK = "event_log_deadlines.ingest_deadline_missed"
OBJECTS_CALLBACK = "event_log_deadlines.objects_deadline_missed"
HOURLY_INTERVAL = timedelta(hours=1)


@dataclass(frozen=True)
class DeadlineConfig:
    commit_delay: timedelta
    grace: timedelta
    objects_deadline: timedelta
    smtp_conn_id: str
    slack_conn_id: str
    alert_emails: tuple[str, ...]

    @classmethod
    def from_env(cls) -> DeadlineConfig:
        emails = env_text("EVENT_LOG_ALERT_EMAILS", "")
        return cls(
            commit_delay=env_duration("EVENT_LOG_COMMIT_DELAY_SECONDS", 900),
            grace=env_duration("EVENT_LOG_DEADLINE_GRACE_SECONDS", 1800),
            objects_deadline=env_duration("EVENT_LOG_OBJECTS_DEADLINE_SECONDS", 3600),
            smtp_conn_id=env_text("EVENT_LOG_SMTP_CONN_ID", "smtp_event_log"),
            slack_conn_id=env_text("EVENT_LOG_SLACK_CONN_ID", "slack_event_log"),
            alert_emails=tuple(address.strip() for address in emails.split(",") if address.strip()),
        )

    def notifier_kwargs(self) -> dict[str, object]:
        return {
            "snowflake_conn_id": SNOWFLAKE_CONN_ID,
            "smtp_conn_id": self.smtp_conn_id,
            "slack_conn_id": self.slack_conn_id,
            "alert_emails": list(self.alert_emails),
        }


def ingest_deadline_interval(config: DeadlineConfig, data_interval: timedelta = HOURLY_INTERVAL) -> timedelta:
    """From the start of the run's hour: the hour itself, Flink's usual commit delay, then the grace."""
    return data_interval + config.commit_delay + config.grace


def build_ingest_deadline(ingest: IngestConfig, config: DeadlineConfig | None = None) -> DeadlineAlert:
    """The deadline of every event_log_ingest run: its hour loaded by end of hour + delay + grace."""
    config = config or DeadlineConfig.from_env()
    return DeadlineAlert(
        reference=DeadlineReference.DAGRUN_LOGICAL_DATE,
        interval=ingest_deadline_interval(config),
        callback=AsyncCallback(
            INGEST_CALLBACK,
            kwargs={"bucket": ingest.bucket, "layout": ingest.layout.as_dict(), **config.notifier_kwargs()},
        ),
        name="hour loaded by end of hour + commit delay + grace",
    )


def build_objects_deadline(config: DeadlineConfig | None = None) -> DeadlineAlert:
    """The deadline of every snowflake_objects run: done EVENT_LOG_OBJECTS_DEADLINE_SECONDS after queued."""
    config = config or DeadlineConfig.from_env()
    return DeadlineAlert(
        reference=DeadlineReference.DAGRUN_QUEUED_AT,
        interval=config.objects_deadline,
        callback=AsyncCallback(OBJECTS_CALLBACK, kwargs=config.notifier_kwargs()),
        name="objects created within the objects deadline of being queued",
    )
