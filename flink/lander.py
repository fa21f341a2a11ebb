"""Submit the event-log lander (flink/lander.sql) to Flink with its parameters filled in.

The job is the SQL; this script only renders it and hands it to Flink's Table API, so that the same
file runs on a Flink Kubernetes Operator deployment (PythonDriver, application mode: see
flink/deployment.yaml), from a shell with `python flink/lander.py`, and in the local runner of the
tests (devstack/flink_lander.py), which replaces only the Kafka source.

Parameters come from the environment, `FLINK_LANDER_<NAME>`; nothing secret is among them. It needs
nothing but the Python standard library and PyFlink, because the Flink image holds this file alone.

    FLINK_LANDER_BUCKET=flink-event-log FLINK_LANDER_PREFIX=event_log \\
    FLINK_LANDER_BROKERS=kafka-1:9092 FLINK_LANDER_TOPIC=dagster-event-log python flink/lander.py --print
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Mapping
from pathlib import Path

SQL_FILE = Path(__file__).resolve().parent / "lander.sql"
ENV_PREFIX = "FLINK_LANDER_"
HOUR_SECONDS = 3600

# name -> default (None: required). The job's knobs, in seconds where they are durations.
DEFAULTS: dict[str, str | None] = {
    "BUCKET": None,
    "PREFIX": "event_log",
    "BROKERS": None,
    "TOPIC": None,
    "CONSUMER_GROUP": "event-log-lander",
    # How far the watermark trails the newest Kafka record timestamp seen (out-of-orderness allowed).
    "WATERMARK_DELAY_SECONDS": "60",
    # How long after the end of an hour (as the watermark sees it) its _SUCCESS is written.
    "COMMIT_DELAY_SECONDS": "300",
    "CHECKPOINT_INTERVAL_SECONDS": "60",
    "SOURCE_IDLE_TIMEOUT_SECONDS": "60",
}
_PLACEHOLDER = re.compile(r"\$\{([A-Z][A-Z0-9_]*)\}")
_BUCKET = re.compile(r"[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]")
_SAFE_VALUE = re.compile(r"[A-Za-z0-9._:/,=@+\-]*")


def lander_parameters(env: Mapping[str, str] | None = None, **overrides: str) -> dict[str, str]:
    """Every ${NAME} of lander.sql, from FLINK_LANDER_<NAME> (or `overrides`), checked and derived."""
    env = os.environ if env is None else env
    values: dict[str, str] = {}
    for name, default in DEFAULTS.items():
        value = overrides.get(name, env.get(ENV_PREFIX + name, default))
        if value is None:
            raise ValueError(f"{ENV_PREFIX}{name} is required")
        values[name] = str(value).strip()
    for name in ("WATERMARK_DELAY_SECONDS", "COMMIT_DELAY_SECONDS", "CHECKPOINT_INTERVAL_SECONDS"):
        if not values[name].isdigit():
            raise ValueError(f"{ENV_PREFIX}{name} must be a whole number of seconds, got {values[name]!r}")
    if not values["SOURCE_IDLE_TIMEOUT_SECONDS"].isdigit():
        raise ValueError(f"{ENV_PREFIX}SOURCE_IDLE_TIMEOUT_SECONDS must be a whole number of seconds")
    for name, value in values.items():
        # Values land inside SQL string literals: nothing that could close one.
        if not _SAFE_VALUE.fullmatch(value):
            raise ValueError(f"{ENV_PREFIX}{name} holds characters a lander parameter never needs: {value!r}")
    prefix = values["PREFIX"].strip("/")
    values["PREFIX"] = prefix
    sink_path = overrides.get("SINK_PATH")
    if sink_path is None:
        if not _BUCKET.fullmatch(values["BUCKET"]):
            raise ValueError(f"{ENV_PREFIX}BUCKET is not a valid S3 bucket name: {values['BUCKET']!r}")
        sink_path = f"s3://{values['BUCKET']}/{prefix}/" if prefix else f"s3://{values['BUCKET']}/"
    values["SINK_PATH"] = sink_path
    # The sink measures the delay from the start of the partition (the hour), not from its end.
    values["PARTITION_COMMIT_DELAY_SECONDS"] = str(HOUR_SECONDS + int(values["COMMIT_DELAY_SECONDS"]))
    return values


def render(sql: str, parameters: Mapping[str, str]) -> str:
    def value(match: re.Match[str]) -> str:
        name = match[1]
        if name not in parameters:
            raise KeyError(f"lander.sql uses ${{{name}}}, which has no value")
        return parameters[name]

    return _PLACEHOLDER.sub(value, sql)


def split_statements(sql: str) -> list[str]:
    """The statements of a script: `--` comments dropped, split where a line ends with `;`."""
    statements, current = [], []
    for line in sql.splitlines():
        code = line.split("--", 1)[0].rstrip() if not _in_string_comment(line) else line.rstrip()
        if not code.strip():
            continue
        current.append(code)
        if code.endswith(";"):
            statements.append("\n".join(current)[:-1].strip())
            current = []
    if "".join(current).strip():
        statements.append("\n".join(current).strip())
    return statements


def _in_string_comment(line: str) -> bool:
    """Whether the first `--` of the line sits inside a quoted literal (then it is no comment)."""
    position = line.find("--")
    return position >= 0 and line[:position].count("'") % 2 == 1


_SET = re.compile(r"SET\s+'(?P<key>[^']+)'\s*=\s*'(?P<value>[^']*)'", re.IGNORECASE)


def lander_statements(parameters: Mapping[str, str], sql: str | None = None) -> list[str]:
    """The statements of lander.sql (comments dropped), parameters filled in."""
    return [
        render(statement, parameters) for statement in split_statements(SQL_FILE.read_text() if sql is None else sql)
    ]


def run(statements: list[str], extra_configuration: Mapping[str, str] | None = None, wait: bool = False):
    """Execute the statements in a streaming TableEnvironment; returns the INSERT's TableResult."""
    from pyflink.table import EnvironmentSettings, TableEnvironment

    t_env = TableEnvironment.create(EnvironmentSettings.in_streaming_mode())
    config = t_env.get_config()
    for key, value in (extra_configuration or {}).items():
        config.set(key, value)
    result = None
    for statement in statements:
        if setting := _SET.fullmatch(statement):
            config.set(setting["key"], setting["value"])
        else:
            result = t_env.execute_sql(statement)
    if wait and result is not None:
        result.wait()
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--print", action="store_true", help="print the rendered SQL and exit (for the SQL client)")
    parser.add_argument("--detach", action="store_true", help="return once the job is submitted")
    args = parser.parse_args(argv)
    statements = lander_statements(lander_parameters())
    if args.print:
        sys.stdout.write(";\n\n".join(statements) + ";\n")
        return 0
    # In application mode (the operator's PythonDriver) the driver lives as long as the job.
    run(statements, wait=not args.detach)
    return 0


if __name__ == "__main__":
    sys.exit(main())
