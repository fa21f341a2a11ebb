"""flink/lander.sql as rendered for Flink, and the runner's replacement of its Kafka source (no JVM here)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from devstack.flink_job import SOURCE_TABLE, bounded_source, hive_statements
from flink import lander

REPO = Path(__file__).resolve().parents[2]
ENV = {
    "FLINK_LANDER_BUCKET": "flink-event-log",
    "FLINK_LANDER_PREFIX": "/event_log/",
    "FLINK_LANDER_BROKERS": "kafka-1:9092,kafka-2:9092",
    "FLINK_LANDER_TOPIC": "dagster-event-log",
    "FLINK_LANDER_COMMIT_DELAY_SECONDS": "420",
}


def options_of(statement: str) -> dict[str, str]:
    body = statement[statement.rindex("WITH (") :]
    return dict(re.findall(r"'([^']+)'\s*=\s*'([^']*)'", body))


def test_rendered_lander_has_every_parameter_and_passes_record_values_through():
    statements = lander.lander_statements(lander.lander_parameters(ENV))
    assert not any("${" in s for s in statements)
    sets = [s for s in statements if s.startswith("SET ")]
    creates = [s for s in statements if s.startswith("CREATE TABLE")]
    inserts = [s for s in statements if s.startswith("INSERT INTO")]
    assert len(sets) == 4 and len(creates) == 2 and len(inserts) == 1 and len(statements) == 7
    assert "SET 'table.local-time-zone' = 'UTC'" in sets
    source, sink = creates
    kafka = options_of(source)
    assert kafka["connector"] == "kafka" and kafka["topic"] == "dagster-event-log"
    assert kafka["properties.bootstrap.servers"] == "kafka-1:9092,kafka-2:9092"
    assert "METADATA FROM 'timestamp'" in source and "WATERMARK FOR replicated_at" in source
    # The value is read and written as bytes, never parsed: one physical column, the raw format.
    assert re.findall(r"^\s+`?(\w+)`? (\w+)", source, re.MULTILINE) == [
        ("record_value", "BYTES"), ("replicated_at", "TIMESTAMP_LTZ"), ("WATERMARK", "FOR"),
    ]  # fmt: skip
    assert kafka["format"] == "raw" and not any(key.startswith("json.") for key in kafka)
    files = options_of(sink)
    assert files["format"] == "raw" and not any(key.startswith("json.") for key in files)
    assert files["path"] == "s3://flink-event-log/event_log/"
    assert files["sink.partition-commit.trigger"] == "partition-time"
    assert files["sink.partition-commit.policy.kind"] == "success-file"
    # The sink measures the delay from the start of the hour: one hour plus the commit delay.
    assert files["sink.partition-commit.delay"] == "4020 s"
    assert files["partition.time-extractor.timestamp-pattern"] == "$dt $hr:00:00"
    assert files["sink.rolling-policy.file-size"] == "128MB"
    assert files["sink.rolling-policy.rollover-interval"] == "30 min"
    assert "PARTITIONED BY (dt, hr)" in sink
    # The partition columns name the folders; the value alone is written.
    assert re.findall(r"^\s+`?(\w+)`? (\w+)", sink, re.MULTILINE) == [
        ("record_value", "BYTES"), ("dt", "STRING"), ("hr", "STRING"),
    ]  # fmt: skip
    assert "DATE_FORMAT(replicated_at, 'HH') AS hr" in inserts[0]
    assert inserts[0].split("SELECT", 1)[1].split()[0] == "record_value,"
    # A tombstone (no value) is the one record not landed: the sink would fail on a NULL.
    assert inserts[0].endswith("WHERE record_value IS NOT NULL")


def test_parameters_are_required_and_checked():
    with pytest.raises(ValueError, match="FLINK_LANDER_TOPIC is required"):
        lander.lander_parameters({k: v for k, v in ENV.items() if k != "FLINK_LANDER_TOPIC"})
    with pytest.raises(ValueError, match="characters"):
        lander.lander_parameters(ENV | {"FLINK_LANDER_TOPIC": "events'; DROP"})
    with pytest.raises(ValueError, match="bucket"):
        lander.lander_parameters(ENV | {"FLINK_LANDER_BUCKET": "Not_A_Bucket"})
    with pytest.raises(ValueError, match="whole number"):
        lander.lander_parameters(ENV | {"FLINK_LANDER_COMMIT_DELAY_SECONDS": "5m"})
    defaults = lander.lander_parameters({k: v for k, v in ENV.items() if "DELAY" not in k})
    assert defaults["PARTITION_COMMIT_DELAY_SECONDS"] == "3900"
    assert defaults["CONSUMER_GROUP"] == "event-log-lander"


def test_print_gives_a_script_for_the_sql_client():
    result = subprocess.run(
        [sys.executable, "flink/lander.py", "--print"],
        cwd=REPO,
        env={"PATH": "/usr/bin:/bin"} | ENV,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert result.stdout.count(";\n") == 7 and "${" not in result.stdout
    assert lander.split_statements(result.stdout) == lander.lander_statements(lander.lander_parameters(ENV))


def test_the_runner_replaces_only_the_kafka_source(tmp_path):
    production = lander.lander_statements(lander.lander_parameters(ENV))
    local = hive_statements(tmp_path / "input.jsonl", tmp_path / "out", checkpoint_seconds=1)
    assert len(local) == len(production)
    kafka = next(s for s in production if s.startswith(f"CREATE TABLE {SOURCE_TABLE}"))
    bounded = next(s for s in local if s.startswith(f"CREATE TABLE {SOURCE_TABLE}"))
    # Same columns, same watermark; the replication time becomes a column of the file.
    head = kafka[: kafka.rindex(") WITH (")].replace(" METADATA FROM 'timestamp' VIRTUAL", "")
    assert bounded.startswith(head)
    assert options_of(bounded) == {
        "connector": "filesystem",
        "path": (tmp_path / "input.jsonl").as_uri(),
        "format": "json",
        "json.timestamp-format.standard": "ISO-8601",
        "json.fail-on-missing-field": "true",
    }
    # Everything else is the production SQL, but the sink folder and the checkpoint interval.
    for mine, theirs in zip(local, production, strict=True):
        if mine is bounded:
            continue
        normalized = mine.replace((tmp_path / "out").as_uri() + "/", "s3://flink-event-log/event_log/")
        normalized = normalized.replace("'1 s'", "'60 s'").replace("'3900 s'", "'4020 s'")
        assert normalized == theirs
    with pytest.raises(ValueError, match="shape"):
        bounded_source("CREATE TABLE event_log_source (a INT) WITH ('connector' = 'kafka')", tmp_path / "x")
