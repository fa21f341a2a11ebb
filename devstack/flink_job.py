"""One real Flink job of the local lander runner, run in .venv-flink (PyFlink) by devstack/flink_lander.py.

Not imported by anything else: `python -m devstack.flink_job --layout hive|plain --input F --output D`.

The input file holds one JSON object per Kafka record: `record_value`, the record value's bytes in base64
(the JSON format's encoding of BYTES, so that any value, a newline or bytes that are not UTF-8 included,
reaches Flink exactly), and `replicated_at`, the replication time the Kafka record timestamp would carry.

- `hive`: the project's own flink/lander.sql, statement for statement, with only the Kafka source
  replaced by a bounded filesystem source of the same columns and the same watermark, whose rows carry
  the raw value and the replication time; the sink path is a local folder.
- `plain`: a DataStream FileSink with an hourly bucket assigner that reads the replication hour from
  each record's event-time timestamp (devstack/flink_java), writing each value as it came, one per line,
  rolling as the production lander does.

Both run with `restart-strategy.type = none`: a failing job fails instead of restarting forever.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path

from flink import lander

# Local runs: fail instead of restarting forever, checkpoint often (part files are finalised and hours
# committed at checkpoints), one slot.
LOCAL_CONFIGURATION = {
    "restart-strategy.type": "none",
    "parallelism.default": "1",
}
_METADATA_TIMESTAMP = re.compile(r"\s+METADATA\s+FROM\s+'timestamp'(\s+VIRTUAL)?", re.IGNORECASE)
_WITH = re.compile(r"\)\s*WITH\s*\((?P<options>.*)\)\s*$", re.IGNORECASE | re.DOTALL)
SOURCE_TABLE = "event_log_source"


def bounded_source(kafka_source: str, input_path: Path) -> str:
    """The lander's Kafka source statement with the same columns and watermark, reading a file instead.

    The replication time stops being the Kafka record's metadata and becomes a column of the file; the
    value column (BYTES) is read from base64, so the job sees each value's exact bytes.
    """
    if _METADATA_TIMESTAMP.search(kafka_source) is None or _WITH.search(kafka_source) is None:
        raise ValueError("the lander's source no longer has the shape this runner replaces (metadata timestamp, WITH)")
    statement = _METADATA_TIMESTAMP.sub("", kafka_source)
    options = {
        "connector": "filesystem",
        "path": input_path.resolve().as_uri(),
        "format": "json",
        "json.timestamp-format.standard": "ISO-8601",
        "json.fail-on-missing-field": "true",
    }
    rendered = ",\n    ".join(f"'{key}' = '{value}'" for key, value in options.items())
    return _WITH.sub(f") WITH (\n    {rendered}\n)", statement)


def hive_statements(input_path: Path, output_dir: Path, checkpoint_seconds: int) -> list[str]:
    """lander.sql rendered with its defaults, but a local sink folder, a short checkpoint interval and
    the bounded source; the Kafka options' values are never used."""
    parameters = lander.lander_parameters(
        env={},
        BUCKET="local-run",
        BROKERS="unused",
        TOPIC="unused",
        SINK_PATH=output_dir.resolve().as_uri() + "/",
        CHECKPOINT_INTERVAL_SECONDS=str(checkpoint_seconds),
    )
    statements = lander.lander_statements(parameters)
    sources = [i for i, s in enumerate(statements) if re.match(rf"CREATE TABLE {SOURCE_TABLE}\b", s)]
    if len(sources) != 1:
        raise ValueError(f"lander.sql must create {SOURCE_TABLE} exactly once, found {len(sources)}")
    statements[sources[0]] = bounded_source(statements[sources[0]], input_path)
    return statements


def run_hive(input_path: Path, output_dir: Path, checkpoint_seconds: int) -> None:
    statements = hive_statements(input_path, output_dir, checkpoint_seconds)
    lander.run(statements, LOCAL_CONFIGURATION, wait=True)


def run_plain(input_path: Path, output_dir: Path, checkpoint_seconds: int, jar: Path) -> None:
    from pyflink.common import Configuration
    from pyflink.common.serialization import Encoder
    from pyflink.datastream import StreamExecutionEnvironment
    from pyflink.datastream.connectors.file_system import (
        BucketAssigner,
        FileSink,
        OutputFileConfig,
        RollingPolicy,
    )
    from pyflink.java_gateway import get_gateway
    from pyflink.table import StreamTableEnvironment

    configuration = Configuration()
    for key, value in LOCAL_CONFIGURATION.items():
        configuration.set_string(key, value)
    configuration.set_string("execution.checkpointing.interval", f"{checkpoint_seconds} s")
    env = StreamExecutionEnvironment.get_execution_environment(configuration)
    env.add_jars(jar.resolve().as_uri())
    t_env = StreamTableEnvironment.create(env)
    t_env.get_config().set("table.local-time-zone", "UTC")
    t_env.execute_sql(
        f"""
        CREATE TABLE kafka_records (
            record_value BYTES,
            replicated_at TIMESTAMP_LTZ(3),
            WATERMARK FOR replicated_at AS replicated_at
        ) WITH (
            'connector' = 'filesystem',
            'path' = '{input_path.resolve().as_uri()}',
            'format' = 'json',
            'json.timestamp-format.standard' = 'ISO-8601',
            'json.fail-on-missing-field' = 'true'
        )
        """
    )
    # The rowtime travels into the stream as each record's timestamp, which the assigner buckets by. A
    # record without a value (a Kafka tombstone) is not landed, as in lander.sql.
    records = t_env.sql_query("SELECT record_value, replicated_at FROM kafka_records WHERE record_value IS NOT NULL")
    stream = t_env.to_data_stream(records)
    jvm = get_gateway().jvm
    loader = jvm.Thread.currentThread().getContextClassLoader()

    def java_object(name: str):
        return loader.loadClass(name).getDeclaredConstructor(None).newInstance(None)

    sink = (
        FileSink.for_row_format(
            output_dir.resolve().as_uri(), Encoder(java_object("devstack.flink.RawValueLineEncoder"))
        )
        .with_bucket_assigner(BucketAssigner(java_object("devstack.flink.ReplicationHourBucketAssigner")))
        .with_rolling_policy(
            RollingPolicy.default_rolling_policy(
                part_size=128 * 1024 * 1024, rollover_interval=30 * 60 * 1000, inactivity_interval=60 * 1000
            )
        )
        .with_output_file_config(OutputFileConfig.builder().with_part_suffix(".jsonl").build())
        .build()
    )
    stream.sink_to(sink)
    env.execute("event-log-lander-plain")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack.flink_job", description=__doc__.split("\n\n")[0])
    parser.add_argument("--layout", choices=("hive", "plain"), required=True)
    parser.add_argument("--input", type=Path, required=True, help="JSON lines: values in base64, replication times")
    parser.add_argument("--output", type=Path, required=True, help="local folder the sink writes hour folders in")
    parser.add_argument("--checkpoint-seconds", type=int, default=1)
    parser.add_argument("--jar", type=Path, help="plain layout: the jar of devstack/flink_java")
    args = parser.parse_args(argv)
    started = time.monotonic()
    if args.layout == "hive":
        run_hive(args.input, args.output, args.checkpoint_seconds)
    else:
        if args.jar is None:
            parser.error("--jar is required for the plain layout")
        run_plain(args.input, args.output, args.checkpoint_seconds, args.jar)
    sys.stdout.write(json.dumps({"layout": args.layout, "seconds": round(time.monotonic() - started, 3)}) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
