"""Deadline-alert callbacks of the event-log DAGs (built by include/event_log/alert/deadlines.py).

Airflow runs a missed deadline's AsyncCallback in the triggerer, importing it by path. The plugins
folder is on sys.path in every Airflow component, so this module's import path is its file name:
`event_log_deadlines.ingest_deadline_missed` and `event_log_deadlines.objects_deadline_missed`.

Every callback, in this order:
1. logs the miss at ERROR (DAG, run, hour `YYYY-MM-DD HH:00 UTC`, S3 folder, what to do), always;
2. records it as a `deadline_missed` check result in EVENT_LOG_CHECK_RESULTS (one row per hour), once per
   deadline (a MERGE keyed by the deadline's id), in a thread because the Snowflake connector blocks. The
   callback may run more than once (a triggerer restarted while it ran; in Airflow 3.3.2 another triggerer
   can pick it up): a later call finds the record and stops there, so each missed deadline is notified
   once. If the warehouse cannot be reached it says so in the log and notifies anyway (at least once);
3. notifies through the SMTP and Slack-webhook notifiers whose connections exist. A notifier that
   fails is logged and never stops the others. Backfill runs are not notified: a backfill reloads
   hours on purpose, long after their deadline, and one page per hour would be noise.

Airflow 3.3 hands a callback a small context (no template rendering): `dag_run` (the REST API's
DAGRunResponse as JSON) and `deadline` (`id`, `deadline_time`). Everything else comes in as kwargs
fixed when the DAG was parsed. Heavy imports stay inside the functions: the plugins manager imports
this file in every component.

Length (about 300 lines): the callbacks run in the triggerer and import only what it has; the record once
per deadline, the notification and the log of a miss belong together so a repeated call can be followed here.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

log = logging.getLogger(__name__)

CHECK_NAME = "deadline_missed"
# Bounds on the outside calls, so one slow service never holds the others (or the triggerer slot).
RECORD_TIMEOUT_SECONDS = 120
NOTIFY_TIMEOUT_SECONDS = 60


def _as_datetime(value: Any) -> datetime | None:
    if value is None or value == "":
        return None
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _utc(moment: datetime | None) -> str:
    return f"{moment:%Y-%m-%d %H:%M:%S} UTC" if moment else "unknown"


def _run_hours(dag_run: dict[str, Any]) -> list[datetime]:
    """The replication hours of the run: each hour of its data interval (its logical hour if none)."""
    start = _as_datetime(dag_run.get("data_interval_start")) or _as_datetime(dag_run.get("logical_date"))
    if start is None:
        return []
    end = _as_datetime(dag_run.get("data_interval_end")) or start
    hour = start.replace(minute=0, second=0, microsecond=0)
    hours = [hour]
    while hour + timedelta(hours=1) < end:
        hour += timedelta(hours=1)
        hours.append(hour)
    return hours


def _hour_folder(bucket: str, layout: dict[str, Any] | None, prefix: str | None, hour: datetime) -> str:
    """The hour's S3 folder in the DAG's layout (include/event_log/land/hour_layout.py)."""
    from include.event_log.land.hour_layout import HourLayout, Layout

    # Deadlines recorded before the layout was configurable carry only the prefix (plain folders then).
    hours = HourLayout.from_dict(layout) if layout else HourLayout(Layout.PLAIN, prefix or "")
    return hours.hour_uri(bucket, hour)


async def _record(snowflake_conn_id: str, dag_id: str, run_id: str, key: str, results: list[Any]) -> bool | None:
    """Record the miss once per deadline: True when this call recorded it, False when an earlier call (this
    callback run again after a triggerer restart, or by another triggerer) already had, None when the warehouse
    could not be reached."""
    from include.event_log.check import results as checks

    try:
        inserted = await asyncio.wait_for(
            asyncio.to_thread(checks.record_once, snowflake_conn_id, dag_id, run_id, key, results),
            timeout=RECORD_TIMEOUT_SECONDS,
        )
    except Exception:
        log.exception(
            "Could not record the missed deadline of %s run %s in the warehouse (connection %s); "
            "the alert goes on without it",
            dag_id,
            run_id,
            snowflake_conn_id,
        )
        return None
    return inserted > 0


async def _connection_exists(conn_id: str) -> bool:
    """Whether the connection is defined, without raising: a missing one just means no such channel."""
    from airflow.sdk import BaseHook
    from airflow.sdk.exceptions import AirflowNotFoundException

    if not conn_id:
        return False
    try:
        await BaseHook.aget_connection(conn_id)
    except AirflowNotFoundException:
        return False
    except Exception:
        log.warning("Could not look up connection %s: not notifying through it", conn_id, exc_info=True)
        return False
    return True


def _smtp_notifier(conn_id: str, emails: list[str], subject: str, body: str, context: dict[str, Any]):
    from html import escape

    from airflow.providers.smtp.notifications.smtp import SmtpNotifier

    html = "".join(f"<p>{escape(paragraph)}</p>" for paragraph in body.split("\n\n"))
    return SmtpNotifier(to=emails, subject=subject, html_content=html, smtp_conn_id=conn_id, context=context)


def _slack_notifier(conn_id: str, text: str, context: dict[str, Any]):
    from airflow.providers.slack.notifications.slack_webhook import SlackWebhookNotifier

    return SlackWebhookNotifier(slack_webhook_conn_id=conn_id, text=text, context=context)


async def _await(notifier: Any) -> None:
    await notifier


async def _notify(
    *,
    smtp_conn_id: str,
    slack_conn_id: str,
    alert_emails: list[str],
    subject: str,
    body: str,
    context: dict[str, Any],
) -> dict[str, str]:
    """Send through every configured notifier; return each channel's outcome."""
    outcomes: dict[str, str] = {}
    senders = []
    if await _connection_exists(smtp_conn_id):
        if alert_emails:
            senders.append(("smtp", lambda: _smtp_notifier(smtp_conn_id, alert_emails, subject, body, context)))
        else:
            outcomes["smtp"] = "skipped"
            log.warning("Connection %s exists but EVENT_LOG_ALERT_EMAILS is empty: no email sent", smtp_conn_id)
    if await _connection_exists(slack_conn_id):
        senders.append(("slack", lambda: _slack_notifier(slack_conn_id, f"*{subject}*\n{body}", context)))
    if not senders and not outcomes:
        log.info("No notifier connection (%s, %s) is defined: the miss is only logged and recorded",
                 smtp_conn_id, slack_conn_id)  # fmt: skip
    for channel, build in senders:
        try:
            await asyncio.wait_for(_await(build()), timeout=NOTIFY_TIMEOUT_SECONDS)
        except Exception:
            outcomes[channel] = "failed"
            log.exception("The %s notification of the missed deadline failed", channel)
        else:
            outcomes[channel] = "sent"
            log.info("Sent the %s notification of the missed deadline", channel)
    return outcomes


@dataclass(frozen=True)
class _Miss:
    """A missed deadline as the callback's context gives it: the run (REST JSON), its DAG and run ids, the
    deadline's id (the record's key) and time."""

    dag_run: dict[str, Any]
    dag_id: str
    run_id: str
    key: str
    deadline_time: datetime | None

    @classmethod
    def of(cls, context: dict[str, Any], dag_id: str) -> _Miss:
        dag_run = context.get("dag_run") or {}
        deadline = context.get("deadline") or {}
        dag_id, run_id = dag_run.get("dag_id", dag_id), dag_run.get("dag_run_id", "unknown")
        key = str(deadline.get("id") or f"{dag_id}/{run_id}")
        return cls(dag_run, dag_id, run_id, key, _as_datetime(deadline.get("deadline_time")))

    @property
    def run_text(self) -> str:
        """`DAG d, run r (run type, state)`: how every message names the run."""
        run_type, state = self.dag_run.get("run_type", "unknown"), self.dag_run.get("state", "unknown")
        return f"DAG {self.dag_id}, run {self.run_id} ({run_type}, {state})"

    def details(self, **more: Any) -> dict[str, Any]:
        """The record's details: the deadline, the run's type and state, and `more`."""
        deadline = self.deadline_time.isoformat() if self.deadline_time else None
        return {"deadline_time": deadline, "run_type": self.dag_run.get("run_type"),
                "run_state": self.dag_run.get("state"), **more}  # fmt: skip


async def _handle_miss(
    miss: _Miss,
    *,
    context: dict[str, Any],
    subject: str,
    body: str,
    results: list[Any],
    snowflake_conn_id: str,
    smtp_conn_id: str,
    slack_conn_id: str,
    alert_emails: list[str],
) -> str:
    """Log, record once per deadline, and notify from the call that recorded (the module's docstring)."""
    dag_run, dag_id, run_id, key = miss.dag_run, miss.dag_id, miss.run_id, miss.key
    log.error("%s\n%s", subject, body)
    recorded = await _record(snowflake_conn_id, dag_id, run_id, key, results)
    if recorded is False:
        # Exactly one alert per missed deadline: the call that recorded it notified.
        log.info(
            "The miss of deadline %s (%s run %s) was already recorded and notified: not again", key, dag_id, run_id
        )
        return f"{CHECK_NAME} {dag_id} {run_id}: already recorded by an earlier call; notifications: none"
    if dag_run.get("run_type") == "backfill":
        log.info("%s run %s is a backfill: logged and recorded, not notified", dag_id, run_id)
        outcomes: dict[str, str] = {}
    else:
        outcomes = await _notify(
            smtp_conn_id=smtp_conn_id,
            slack_conn_id=slack_conn_id,
            alert_emails=alert_emails,
            subject=subject,
            body=body,
            context=context,
        )
    sent = ", ".join(f"{channel} {outcome}" for channel, outcome in outcomes.items()) or "none"
    outcome = "yes" if recorded else "no (warehouse unreachable: notified anyway)"
    return f"{CHECK_NAME} {dag_id} {run_id}: recorded={outcome}; notifications: {sent}"


async def ingest_deadline_missed(
    *,
    context: dict[str, Any],
    bucket: str,
    layout: dict[str, Any] | None = None,
    prefix: str | None = None,
    **channels: Any,
) -> str:
    """An event_log_ingest run's hour was not loaded by end of hour + commit delay + grace.

    `channels`: snowflake_conn_id, smtp_conn_id, slack_conn_id, alert_emails (`_handle_miss`)."""
    from include.event_log.check.results import FAIL, CheckResult

    miss = _Miss.of(context, "event_log_ingest")
    dag_run, dag_id, deadline_time = miss.dag_run, miss.dag_id, miss.deadline_time
    logical_date = _as_datetime(dag_run.get("logical_date"))
    hours = _run_hours(dag_run)
    named = ", ".join(f"{hour:%Y-%m-%d %H:00} UTC" for hour in hours) or "unknown hour"
    folders = [_hour_folder(bucket, layout, prefix, hour) for hour in hours]
    stamp = logical_date.isoformat() if logical_date else "<logical date>"
    subject = f"[event_log_ingest] hour {named} not loaded by its deadline {_utc(deadline_time)}"
    body = "\n\n".join(
        [
            f"{miss.run_text} has not loaded hour {named} from {', '.join(folders) or 'its S3 folder'} "
            f"by {_utc(deadline_time)} (end of the hour + expected commit delay + grace).",
            "What to do: look at that folder. If the hour is not complete (no `_SUCCESS`, or with a sink that "
            "writes none, no later hour yet), Flink has not committed it (job down or stalled): restart it; the "
            "run waits in load_hour.wait_for_commit and finishes by itself once the hour is complete. If it "
            "is, see the run's failed or slow task in the "
            f"Airflow UI, fix the cause and clear the run: `airflow tasks clear {dag_id} -s {stamp} "
            f"-e {stamp} -y`.",
        ]
    )
    details = miss.details(s3_folders=folders)
    results = [
        CheckResult(check_name=CHECK_NAME, status=FAIL, replication_hour=hour.isoformat(), details=details)
        for hour in hours
    ] or [CheckResult(check_name=CHECK_NAME, status=FAIL, details=details)]
    return await _handle_miss(miss, context=context, subject=subject, body=body, results=results, **channels)


async def objects_deadline_missed(*, context: dict[str, Any], **channels: Any) -> str:
    """A snowflake_objects run did not finish within the objects deadline of being queued.

    `channels`: snowflake_conn_id, smtp_conn_id, slack_conn_id, alert_emails (`_handle_miss`)."""
    from include.event_log.check.results import FAIL, CheckResult

    miss = _Miss.of(context, "snowflake_objects")
    dag_run, run_id, deadline_time = miss.dag_run, miss.run_id, miss.deadline_time
    subject = f"[snowflake_objects] run {run_id} not done by its deadline {_utc(deadline_time)}"
    body = "\n\n".join(
        [
            f"{miss.run_text}, queued at {_utc(_as_datetime(dag_run.get('queued_at')))}, has not finished "
            f"creating and refreshing the event log's Snowflake objects by {_utc(deadline_time)}.",
            "What to do: open the run in the Airflow UI; a failed or slow create_objects is usually the "
            "Snowflake connection or the role's grants (the task log shows the statement). Until the objects "
            "exist, event_log_ingest runs fail to load. Fix the cause and clear the task: every statement "
            "is IF NOT EXISTS.",
        ]
    )
    results = [CheckResult(check_name=CHECK_NAME, status=FAIL, details=miss.details())]
    return await _handle_miss(miss, context=context, subject=subject, body=body, results=results, **channels)
