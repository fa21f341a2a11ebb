"""Numeric settings are refused, naming the variable, unless finite and in range: `nan` would disable the reject
guard (every comparison with nan is false), `inf` a timeout, a negative value a retention or a cap."""

from __future__ import annotations

import os

import pytest

from include.event_log.alert.deadlines import DeadlineConfig
from include.event_log.config import IngestConfig, RejectLimits, env_number
from include.event_log.land.hour_layout import HourLayout

REFUSED = ["nan", "NaN", "inf", "-inf", "Infinity", "", "twelve", "1e400"]


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "-0.01", "1.5", "2", "one percent"])
def test_the_reject_ratio_must_be_a_share(monkeypatch, value):
    monkeypatch.setenv("EVENT_LOG_MAX_REJECT_RATIO", value)
    with pytest.raises(ValueError, match="EVENT_LOG_MAX_REJECT_RATIO") as raised:
        IngestConfig.from_env()
    assert repr(value) in str(raised.value), "the message shows the value as set"


@pytest.mark.parametrize(("value", "ratio"), [("0", 0.0), ("0.05", 0.05), ("1", 1.0), (" 0.2 ", 0.2)])
def test_a_reject_ratio_between_zero_and_one_is_taken(monkeypatch, value, ratio):
    monkeypatch.setenv("EVENT_LOG_MAX_REJECT_RATIO", value)
    assert IngestConfig.from_env().max_reject_ratio == ratio


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("EVENT_LOG_COMMIT_TIMEOUT_SECONDS", "nan"),
        ("EVENT_LOG_COMMIT_TIMEOUT_SECONDS", "inf"),
        ("EVENT_LOG_COMMIT_TIMEOUT_SECONDS", "0"),
        ("EVENT_LOG_COMMIT_TIMEOUT_SECONDS", "1e12"),  # more than a year (and more than timedelta holds)
        ("EVENT_LOG_POKE_INTERVAL_SECONDS", "-5"),
        ("EVENT_LOG_MAX_ACTIVE_RUNS", "0"),
        ("EVENT_LOG_MAX_ACTIVE_RUNS", "2.5"),
        ("EVENT_LOG_MAX_ACTIVE_RUNS", "nan"),
        ("EVENT_LOG_QUIET_PERIOD_SECONDS", "-1"),
        ("EVENT_LOG_QUIET_PERIOD_SECONDS", "inf"),
        ("EVENT_LOG_REJECT_MAX_LINE_BYTES", "100"),
        ("EVENT_LOG_REJECT_MAX_LINE_BYTES", "1e9"),
        ("EVENT_LOG_REJECT_SCAN_MAX_BYTES", "-1"),
        ("EVENT_LOG_REJECT_SCAN_MAX_BYTES", "nan"),
        ("EVENT_LOG_REJECT_SCAN_MAX_TOTAL_BYTES", "inf"),
        ("EVENT_LOG_REJECT_KEEP_MAX_LINES", "-3"),
        ("EVENT_LOG_REJECT_RETENTION_DAYS", "0"),
        ("EVENT_LOG_REJECT_RETENTION_DAYS", "nan"),
    ],
)
def test_each_ingest_setting_refuses_what_it_cannot_mean(monkeypatch, name, value):
    monkeypatch.setenv(name, value)
    with pytest.raises(ValueError, match=name):
        IngestConfig.from_env()


@pytest.mark.parametrize(
    "name", ["EVENT_LOG_COMMIT_DELAY_SECONDS", "EVENT_LOG_DEADLINE_GRACE_SECONDS", "EVENT_LOG_OBJECTS_DEADLINE_SECONDS"]
)
@pytest.mark.parametrize("value", ["nan", "inf", "-1", "soon", "1e12"])
def test_deadline_settings_refuse_what_they_cannot_mean(monkeypatch, name, value):
    monkeypatch.setenv(name, value)
    with pytest.raises(ValueError, match=name):
        DeadlineConfig.from_env()


def test_deadline_settings_in_range_are_taken(monkeypatch):
    monkeypatch.setenv("EVENT_LOG_COMMIT_DELAY_SECONDS", "0")
    monkeypatch.setenv("EVENT_LOG_DEADLINE_GRACE_SECONDS", "90.5")
    config = DeadlineConfig.from_env()
    assert (config.commit_delay.total_seconds(), config.grace.total_seconds()) == (0, 90.5)


def test_the_reject_limits_and_their_defaults():
    assert RejectLimits.from_env({}) == RejectLimits(
        max_line_bytes=65_536, scan_max_bytes=64 * 2**20, scan_max_total_bytes=256 * 2**20, keep_max_lines=10_000,
        retention_days=30,
    )  # fmt: skip
    chosen = RejectLimits.from_env(
        {
            "EVENT_LOG_REJECT_MAX_LINE_BYTES": "4096",
            "EVENT_LOG_REJECT_SCAN_MAX_BYTES": "1048576",
            "EVENT_LOG_REJECT_SCAN_MAX_TOTAL_BYTES": "2097152",
            "EVENT_LOG_REJECT_KEEP_MAX_LINES": "0",
            "EVENT_LOG_REJECT_RETENTION_DAYS": "7",
        }
    )
    assert chosen == RejectLimits(4096, 1_048_576, 2_097_152, 0, 7)


@pytest.mark.parametrize("value", REFUSED)
def test_env_number_names_the_variable(value):
    if value == "":
        assert env_number("EVENT_LOG_X", 3.0, env={"EVENT_LOG_X": value}) == 3.0, "empty means unset"
        return
    with pytest.raises(ValueError, match=r"^EVENT_LOG_X must be"):
        env_number("EVENT_LOG_X", 3.0, env={"EVENT_LOG_X": value})


@pytest.mark.parametrize(
    ("name", "value"),
    [("EVENT_LOG_TASK_RETRIES", "-1"), ("EVENT_LOG_TASK_RETRIES", "nan"), ("EVENT_LOG_RETRY_DELAY_SECONDS", "inf")],
)
def test_the_task_retries_and_delay_are_validated_when_a_dag_is_parsed(monkeypatch, name, value):
    """Read when a DAG file is parsed (default_args of every DAG), not once when the module is imported."""
    from include.event_log.config import default_args

    assert default_args()["retries"] == int(os.environ.get("EVENT_LOG_TASK_RETRIES", 2))
    monkeypatch.setenv(name, value)
    with pytest.raises(ValueError, match=f"{name} must be"):
        default_args()


def test_the_layout_reads_its_numbers_through_the_same_validation():
    with pytest.raises(ValueError, match="EVENT_LOG_QUIET_PERIOD_SECONDS must be a finite number"):
        HourLayout.from_env({"EVENT_LOG_QUIET_PERIOD_SECONDS": "nan"})


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("EVENT_LOG_AUDIT_DAYS", "nan"),
        ("EVENT_LOG_AUDIT_DAYS", "-1"),
        ("EVENT_LOG_AUDIT_DAYS", "0.1"),  # not a whole number of hours
        ("EVENT_LOG_AUDIT_GRACE_SECONDS", "inf"),
        ("EVENT_LOG_AUDIT_GRACE_SECONDS", "-1"),
    ],
)
def test_the_audit_settings_go_through_the_same_validation(monkeypatch, name, value):
    from include.event_log.audit.findings import AuditConfig

    monkeypatch.setenv(name, value)
    with pytest.raises(ValueError, match=name):
        AuditConfig.from_env()


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("EVENT_LOG_WATCH_POLL_SECONDS", "0"),
        ("EVENT_LOG_WATCH_POLL_SECONDS", "nan"),
        ("EVENT_LOG_WATCH_LOOKBACK_HOURS", "0"),
        ("EVENT_LOG_WATCH_LOOKBACK_HOURS", "2.5"),
    ],
)
def test_the_watcher_settings_go_through_the_same_validation(monkeypatch, name, value):
    from include.event_log.glass.external_assets import WatchSettings

    monkeypatch.setenv(name, value)
    with pytest.raises(ValueError, match=name):
        WatchSettings.from_env()


def test_an_empty_text_setting_means_its_default(monkeypatch):
    from include.event_log.config import DEFAULT_BUCKET, env_text

    monkeypatch.setenv("EVENT_LOG_BUCKET", "  ")
    assert env_text("EVENT_LOG_BUCKET", DEFAULT_BUCKET) == DEFAULT_BUCKET == IngestConfig.from_env().bucket
