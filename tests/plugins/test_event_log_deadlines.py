"""The deadline callbacks of plugins/event_log_deadlines.py, called directly as the triggerer would.

Airflow 3.3.2's `dag.test()` crashes on a DAG with `deadline=`, so nothing here runs a DAG: these
tests await the callback coroutines with the context Airflow builds (`dag_run` as the REST API's JSON,
`deadline`), notifications going to a local SMTP server and a local Slack webhook on loopback, and
the warehouse call replaced. The callbacks firing for real, from the scheduler through the
triggerer into the local Snowflake, are tests/live/test_deadlines.py.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import threading
from datetime import timedelta
from email import message_from_bytes, policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import airflow  # noqa: F401 - puts the plugins folder on sys.path, as in every Airflow component
import event_log_deadlines
import pytest

from devstack.ports import LOOPBACK, free_port
from include.event_log.alert.deadlines import (
    INGEST_CALLBACK,
    OBJECTS_CALLBACK,
    DeadlineConfig,
    build_ingest_deadline,
    build_objects_deadline,
)
from include.event_log.check import results as checks
from include.event_log.config import IngestConfig

HOUR = "2025-08-01T03:00:00+00:00"
CONTEXT = {
    "dag_run": {
        "dag_id": "event_log_ingest",
        "dag_run_id": "scheduled__2025-08-01T03:00:00+00:00",
        "logical_date": HOUR,
        "data_interval_start": HOUR,
        "data_interval_end": "2025-08-01T04:00:00+00:00",
        "queued_at": "2025-08-01T04:00:05+00:00",
        "run_type": "scheduled",
        "state": "running",
    },
    "deadline": {"id": "0190-deadline", "deadline_time": "2025-08-01T04:45:00+00:00"},
}
KWARGS = {
    "bucket": "flink-event-log",
    "layout": {"layout": "hive", "prefix": "event_log", "completion": "success_file", "quiet_period_seconds": 900.0},
    "snowflake_conn_id": "snowflake_event_log",
    "smtp_conn_id": "smtp_event_log",
    "slack_conn_id": "slack_event_log",
    "alert_emails": ["data-oncall@example.com"],
}


class SmtpSink:
    """The SMTP dialogue a client needs to hand over one message, on loopback, keeping each message."""

    def __init__(self, port: int):
        self.messages: list[bytes] = []
        self.port = port

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"220 sink ESMTP\r\n")
        data: list[bytes] | None = None
        while line := await reader.readline():
            if data is not None:
                if line == b".\r\n":
                    self.messages.append(b"".join(data))
                    data = None
                    writer.write(b"250 queued\r\n")
                else:
                    data.append(line[1:] if line.startswith(b"..") else line)
                continue
            verb = line[:4].upper()
            if verb == b"EHLO":
                writer.write(b"250-sink\r\n250 8BITMIME\r\n")
            elif verb == b"DATA":
                data = []
                writer.write(b"354 end with .\r\n")
            elif verb == b"QUIT":
                writer.write(b"221 bye\r\n")
                await writer.drain()
                break
            else:
                writer.write(b"250 ok\r\n")
            await writer.drain()
        writer.close()

    async def __aenter__(self) -> SmtpSink:
        self.server = await asyncio.start_server(self._session, LOOPBACK, self.port)
        return self

    async def __aexit__(self, *exc) -> None:
        self.server.close()
        await self.server.wait_closed()


@pytest.fixture
def slack_webhook():
    """A Slack incoming webhook on loopback: keeps every JSON body posted to it."""
    posts: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            posts.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer((LOOPBACK, 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1], posts
    server.shutdown()
    server.server_close()


@pytest.fixture
def recorded(monkeypatch):
    """The warehouse write, replaced: what would be inserted into EVENT_LOG_CHECK_RESULTS, once per key (the
    MERGE's semantics; tests/integration/test_check_results.py runs the real one on the local Snowflake)."""
    calls: list[tuple] = []
    keys: set[str] = set()

    def record_once(conn_id, dag_id, run_id, key, results):
        if key in keys:
            return 0
        keys.add(key)
        calls.append((conn_id, dag_id, run_id, results))
        return len(results)

    monkeypatch.setattr(checks, "record_once", record_once)
    return calls


def smtp_connection(monkeypatch, port: int) -> None:
    monkeypatch.setenv(
        "AIRFLOW_CONN_SMTP_EVENT_LOG",
        json.dumps({
            "conn_type": "smtp", "host": LOOPBACK, "port": port,
            "extra": {"from_email": "airflow@example.com", "disable_tls": True, "disable_ssl": True,
                      "timeout": 5, "retry_limit": 0},
        }),
    )  # fmt: skip


def slack_connection(monkeypatch, port: int) -> None:
    monkeypatch.setenv(
        "AIRFLOW_CONN_SLACK_EVENT_LOG",
        json.dumps({"conn_type": "slackwebhook", "host": f"http://{LOOPBACK}:{port}", "password": "T0/B0/sink"}),
    )


def run_ingest_callback(context=CONTEXT, smtp_port: int | None = None) -> tuple[str, list[bytes]]:
    """Await the ingest callback, with an SMTP sink listening on `smtp_port` if given; return the
    callback's outcome and the emails the sink received."""

    async def main():
        if smtp_port is None:
            return await event_log_deadlines.ingest_deadline_missed(context=context, **KWARGS), []
        async with SmtpSink(smtp_port) as sink:
            outcome = await event_log_deadlines.ingest_deadline_missed(context=context, **KWARGS)
        return outcome, sink.messages

    return asyncio.run(main())


def test_the_deadline_is_end_of_hour_plus_commit_delay_plus_grace(monkeypatch):
    monkeypatch.setenv("EVENT_LOG_COMMIT_DELAY_SECONDS", "600")
    monkeypatch.setenv("EVENT_LOG_DEADLINE_GRACE_SECONDS", "1200")
    monkeypatch.setenv("EVENT_LOG_ALERT_EMAILS", "a@example.com, b@example.com")
    from airflow.sdk import DeadlineReference

    alert = build_ingest_deadline(IngestConfig.from_env())
    assert alert.reference == DeadlineReference.DAGRUN_LOGICAL_DATE
    assert alert.interval == timedelta(hours=1, minutes=30)
    assert alert.callback.path == INGEST_CALLBACK
    assert alert.callback.kwargs == {**KWARGS, "alert_emails": ["a@example.com", "b@example.com"]}


def test_the_defaults_and_the_objects_deadline(monkeypatch):
    for name in ("EVENT_LOG_COMMIT_DELAY_SECONDS", "EVENT_LOG_DEADLINE_GRACE_SECONDS", "EVENT_LOG_ALERT_EMAILS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("EVENT_LOG_OBJECTS_DEADLINE_SECONDS", "120")
    from airflow.sdk import DeadlineReference

    assert build_ingest_deadline(IngestConfig.from_env()).interval == timedelta(hours=1, minutes=45)
    alert = build_objects_deadline()
    assert alert.reference == DeadlineReference.DAGRUN_QUEUED_AT
    assert alert.interval == timedelta(minutes=2)
    assert alert.callback.path == OBJECTS_CALLBACK
    monkeypatch.setenv("EVENT_LOG_DEADLINE_GRACE_SECONDS", "-1")
    with pytest.raises(ValueError, match="EVENT_LOG_DEADLINE_GRACE_SECONDS"):
        DeadlineConfig.from_env()


def test_callback_paths_resolve_to_coroutines_from_the_plugins_folder():
    from airflow._shared.module_loading import import_string

    for path in (INGEST_CALLBACK, OBJECTS_CALLBACK):
        assert asyncio.iscoroutinefunction(import_string(path)), path


def test_a_miss_is_logged_recorded_and_sent_by_email_and_slack(monkeypatch, recorded, slack_webhook, caplog):
    slack_port, posts = slack_webhook
    smtp_port = free_port()
    smtp_connection(monkeypatch, smtp_port)
    slack_connection(monkeypatch, slack_port)

    with caplog.at_level(logging.INFO, logger="event_log_deadlines"):
        outcome, emails = run_ingest_callback(smtp_port=smtp_port)

    assert "recorded=yes" in outcome and "smtp sent" in outcome and "slack sent" in outcome
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1
    for expected in ("event_log_ingest", CONTEXT["dag_run"]["dag_run_id"], "2025-08-01 03:00 UTC",
                     "s3://flink-event-log/event_log/dt=2025-08-01/hr=03/", "2025-08-01 04:45:00 UTC", "_SUCCESS",
                     "airflow tasks clear event_log_ingest"):  # fmt: skip
        assert expected in errors[0], expected

    ((conn_id, dag_id, run_id, results),) = recorded
    assert (conn_id, dag_id, run_id) == ("snowflake_event_log", "event_log_ingest", CONTEXT["dag_run"]["dag_run_id"])
    (result,) = results
    assert (result.check_name, result.status, result.replication_hour) == ("deadline_missed", "fail", HOUR)
    assert result.details["s3_folders"] == ["s3://flink-event-log/event_log/dt=2025-08-01/hr=03/"]
    assert result.details["deadline_time"] == "2025-08-01T04:45:00+00:00"

    (email,) = [message_from_bytes(raw, policy=policy.default) for raw in emails]
    assert email["To"] == "data-oncall@example.com" and email["From"] == "airflow@example.com"
    assert "2025-08-01 03:00 UTC" in email["Subject"]
    assert "s3://flink-event-log/event_log/dt=2025-08-01/hr=03/" in email.get_body(("html",)).get_content()
    (post,) = posts
    assert "2025-08-01 03:00 UTC" in post["text"] and "event_log/dt=2025-08-01/hr=03/" in post["text"]


def test_a_callback_run_twice_records_and_notifies_once(monkeypatch, recorded, slack_webhook):
    """A triggerer restarted while the callback ran (or a second triggerer) runs it again: the second call
    finds the miss of the same deadline recorded and sends nothing. Another deadline is another alert."""
    slack_port, posts = slack_webhook
    smtp_port = free_port()
    smtp_connection(monkeypatch, smtp_port)
    slack_connection(monkeypatch, slack_port)
    first, first_emails = run_ingest_callback(smtp_port=smtp_port)
    again, again_emails = run_ingest_callback(smtp_port=smtp_port)
    assert "recorded=yes" in first and len(first_emails) == 1
    assert "already recorded" in again and again_emails == []
    assert len(recorded) == 1 and len(posts) == 1
    other = {**CONTEXT, "deadline": {**CONTEXT["deadline"], "id": "0190-another-deadline"}}
    assert "recorded=yes" in run_ingest_callback(other)[0]
    assert len(recorded) == 2 and len(posts) == 2


def test_without_notifier_connections_the_miss_is_logged_and_recorded_only(monkeypatch, recorded, caplog):
    monkeypatch.delenv("AIRFLOW_CONN_SMTP_EVENT_LOG", raising=False)
    monkeypatch.delenv("AIRFLOW_CONN_SLACK_EVENT_LOG", raising=False)
    with caplog.at_level(logging.INFO, logger="event_log_deadlines"):
        outcome, emails = run_ingest_callback()
    assert outcome.endswith("recorded=yes; notifications: none")
    assert len(recorded) == 1 and emails == []
    assert any("No notifier connection" in r.getMessage() for r in caplog.records)


def test_an_unreachable_warehouse_or_a_failing_notifier_stops_nothing_else(monkeypatch, slack_webhook, caplog):
    def warehouse_down(*args):
        raise ConnectionError("local Snowflake is down")

    monkeypatch.setattr(checks, "record_once", warehouse_down)
    slack_port, posts = slack_webhook
    slack_connection(monkeypatch, slack_port)
    with socket.socket() as refusing, caplog.at_level(logging.INFO, logger="event_log_deadlines"):
        refusing.bind((LOOPBACK, 0))  # bound, never listening: the SMTP server refuses the connection
        smtp_connection(monkeypatch, refusing.getsockname()[1])
        outcome, _ = run_ingest_callback()

    assert "recorded=no (warehouse unreachable: notified anyway)" in outcome
    assert "smtp failed" in outcome and "slack sent" in outcome
    messages = [r.getMessage() for r in caplog.records]
    assert any("Could not record the missed deadline" in m for m in messages)
    assert any("smtp notification of the missed deadline failed" in m for m in messages)
    assert len(posts) == 1 and "2025-08-01 03:00 UTC" in posts[0]["text"]


def test_a_backfill_run_is_recorded_but_not_notified(monkeypatch, recorded, slack_webhook):
    slack_port, posts = slack_webhook
    slack_connection(monkeypatch, slack_port)
    context = {**CONTEXT, "dag_run": {**CONTEXT["dag_run"], "run_type": "backfill"}}
    outcome, _ = run_ingest_callback(context=context)
    assert outcome.endswith("recorded=yes; notifications: none")
    assert len(recorded) == 1 and posts == []


def test_a_run_over_several_hours_records_each_hour(recorded, monkeypatch):
    monkeypatch.delenv("AIRFLOW_CONN_SLACK_EVENT_LOG", raising=False)
    context = {**CONTEXT, "dag_run": {**CONTEXT["dag_run"], "data_interval_end": "2025-08-01T06:00:00+00:00"}}
    run_ingest_callback(context=context)
    ((*_, results),) = recorded
    assert [r.replication_hour for r in results] == [
        "2025-08-01T03:00:00+00:00",
        "2025-08-01T04:00:00+00:00",
        "2025-08-01T05:00:00+00:00",
    ]


def test_the_objects_callback_names_the_run_and_records_it(monkeypatch, recorded, slack_webhook, caplog):
    slack_port, posts = slack_webhook
    slack_connection(monkeypatch, slack_port)
    context = {
        "dag_run": {"dag_id": "snowflake_objects", "dag_run_id": "manual__2025-08-01T03:00:00+00:00",
                    "logical_date": None, "queued_at": "2025-08-01T03:00:00+00:00", "run_type": "manual",
                    "state": "running"},
        "deadline": {"id": "0190-deadline", "deadline_time": "2025-08-01T04:00:00+00:00"},
    }  # fmt: skip
    kwargs = {k: v for k, v in KWARGS.items() if k not in ("bucket", "layout")}
    with caplog.at_level(logging.INFO, logger="event_log_deadlines"):
        outcome = asyncio.run(event_log_deadlines.objects_deadline_missed(context=context, **kwargs))
    assert "slack sent" in outcome
    ((_, dag_id, run_id, (result,)),) = recorded
    assert (dag_id, run_id) == ("snowflake_objects", "manual__2025-08-01T03:00:00+00:00")
    assert (result.check_name, result.status, result.replication_hour) == ("deadline_missed", "fail", None)
    (error,) = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert "snowflake_objects" in error and "2025-08-01 04:00:00 UTC" in error
    assert "manual__2025-08-01T03:00:00+00:00" in posts[0]["text"]
