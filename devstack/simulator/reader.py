"""Reading landed hours back from S3, as a loader would: the tests' oracle.

It imports nothing from the writer, the events or the stream, and nothing of their manifest: only
`layout.py` (hours, folders, object names, `MalformedLine`) and include/event_log/land/hour_layout.py, what it
needs to parse the layout. So what it returns was read from the bucket, never taken from the writer's
state; tests/devstack/test_simulator_reader.py holds it to that.
"""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from devstack.simulator.layout import SUCCESS_NAME, MalformedLine, hour_prefix, parse_hour
from include.event_log.land.hour_layout import Layout, ObjectKind
from include.event_log.land.hour_layout import classify_object as classify_in_hour


@dataclass
class LandedLine:
    """A valid record of a finished part file, and where it was."""

    key: str
    line_number: int
    record: dict[str, Any]


@dataclass
class LandedHour:
    """An hour as read back from the bucket: its objects by kind, its records, its malformed lines."""

    hour: datetime
    committed: bool
    part_keys: list[str]
    ignored_keys: list[str]
    other_keys: list[str]
    lines: list[LandedLine]
    malformed_lines: list[MalformedLine]
    line_counts: dict[str, int]

    @property
    def events(self) -> list[dict[str, Any]]:
        return [line.record for line in self.lines]

    @property
    def event_log_ids(self) -> list[int]:
        return [line.record["event_log_id"] for line in self.lines]


def list_hour_keys(client, bucket: str, prefix: str, hour: datetime | str, layout: str = Layout.HIVE) -> list[str]:
    """The keys directly inside the hour's folder, sorted."""
    folder = hour_prefix(prefix, parse_hour(hour), layout)
    keys = []
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=folder):
        keys.extend(obj["Key"] for obj in page.get("Contents", []) if "/" not in obj["Key"][len(folder) :])
    return sorted(keys)


def read_landed_hour(client, bucket: str, prefix: str, hour: datetime | str, layout: str = Layout.HIVE) -> LandedHour:
    """Read an hour back as a loader should: finished part files only, gzip by suffix, lines counted."""
    hour = parse_hour(hour)
    keys = list_hour_keys(client, bucket, prefix, hour, layout)
    folder = hour_prefix(prefix, hour, layout)
    kinds = {key: classify_in_hour(key.removeprefix(folder)) for key in keys}
    part_keys = [k for k in keys if kinds[k] is ObjectKind.LOADABLE]
    lines: list[LandedLine] = []
    malformed: list[MalformedLine] = []
    line_counts: dict[str, int] = {}
    for key in part_keys:
        data = client.get_object(Bucket=bucket, Key=key)["Body"].read()
        if key.endswith(".gz"):
            data = gzip.decompress(data)
        chunks = data.split(b"\n")
        ends_with_newline = chunks[-1] == b""
        if ends_with_newline:
            chunks.pop()
        line_counts[key] = len(chunks)
        for number, chunk in enumerate(chunks, 1):
            try:
                record = json.loads(chunk)
            except ValueError:
                record = None
            if isinstance(record, dict):
                lines.append(LandedLine(key, number, record))
            else:
                last_cut = number == len(chunks) and not ends_with_newline
                malformed.append(MalformedLine(key, number, "truncated" if last_cut else "not_json"))
    return LandedHour(
        hour=hour,
        committed=folder + SUCCESS_NAME in kinds,
        part_keys=part_keys,
        ignored_keys=[k for k in keys if kinds[k] is ObjectKind.BYPRODUCT and k != folder + SUCCESS_NAME],
        other_keys=[k for k in keys if kinds[k] is ObjectKind.UNEXPECTED],
        lines=lines,
        malformed_lines=malformed,
        line_counts=line_counts,
    )


def read_landed_events(
    client, bucket: str, prefix: str, hour: datetime | str, layout: str = Layout.HIVE
) -> list[dict[str, Any]]:
    """The valid records of an hour's finished part files, in key then line order (copies included)."""
    return read_landed_hour(client, bucket, prefix, hour, layout).events
