"""Real Apache Flink lands simulated events; the package's hour layout reads exactly what it wrote.

Each test runs real Flink jobs (devstack/flink_lander.py: the project's own flink/lander.sql for the
Hive-style layout, a DataStream FileSink for the plain one) in .venv-flink, one job at a time, each under
a hard timeout with `restart-strategy.type = none`. Select them with `-m flink`.

Both layouts pass every Kafka record value through unchanged: every landed line is a value given to Flink,
byte for byte. Besides the simulated events, Flink is given a record with a field the contract does not
know, a line that is not JSON, one that is not UTF-8, a JSON value broken over two lines, an empty value
and a tombstone (a record without a value).
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from devstack.flink_lander import KafkaRecord, land_with_flink
from devstack.simulator import SimulationOptions, event_stream, late_event_stream
from devstack.simulator.reader import read_landed_hour
from include.event_log.land.hour_layout import (
    SUCCESS_MARKER,
    Completion,
    HourLayout,
    HourState,
    Layout,
    ObjectKind,
    classify_object,
)

pytestmark = [pytest.mark.flink, pytest.mark.timeout(900)]

END = datetime(2025, 8, 1, 6, tzinfo=UTC)
HOURS = [END - timedelta(hours=5 - i) for i in range(5)]  # 01:00 .. 05:00
EMPTY, LATE = HOURS[2], HOURS[1]  # 03:00 gets no event; 02:00 is re-opened by a late event
DIRTY, NOVEL = HOURS[0], HOURS[3]  # 01:00 gets the lines that are not JSON; 04:00 the new field and the rest
PREFIX = "flink/event_log"
MINUTE_US = 60_000_000


def at(hour: datetime, minutes: int) -> int:
    return int(hour.timestamp()) * 1_000_000 + minutes * MINUTE_US


def records_beyond_the_contract(options: SimulationOptions) -> dict[str, KafkaRecord]:
    """Kafka records a JSON format would drop, rewrite or fail on, each inside a landed hour."""
    # A new event (a late-event pass of its own: an id no other record has) with a field the contract lacks.
    (base,) = late_event_stream(options, NOVEL, 1, pass_number=2)
    assert base.line.endswith("}") and "tenant_tier" not in base.line
    return {
        "new_field": KafkaRecord(base.replicated_at_us, (base.line[:-1] + ',"tenant_tier":"gold"}').encode()),
        "not_json": KafkaRecord(at(DIRTY, 20), b"<<corrupted record at kafka offset 4242>>"),
        "not_utf8": KafkaRecord(at(DIRTY, 21), b"event_log_id=4243 \xff\xfe\xc3\x28 payload"),
        "two_lines": KafkaRecord(at(NOVEL, 30), b'{"event_log_id": 4244,\n "organization_id": 1}'),
        "empty": KafkaRecord(at(NOVEL, 31), b""),
        "tombstone": KafkaRecord(at(NOVEL, 32), None),
    }


@pytest.fixture(scope="module")
def flink_work_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("flink-lander")


@pytest.fixture
def versioned_bucket(s3_client, bucket):
    s3_client.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    yield bucket
    for page in s3_client.get_paginator("list_object_versions").paginate(Bucket=bucket):
        for version in page.get("Versions", []) + page.get("DeleteMarkers", []):
            s3_client.delete_object(Bucket=bucket, Key=version["Key"], VersionId=version["VersionId"])


def listing(s3_client, bucket: str) -> list[str]:
    keys = []
    for page in s3_client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        keys += [obj["Key"] for obj in page.get("Contents", [])]
    return sorted(keys)


def success_versions(s3_client, bucket: str, key: str) -> int:
    versions = s3_client.list_object_versions(Bucket=bucket, Prefix=key).get("Versions", [])
    return len([v for v in versions if v["Key"] == key])


@pytest.mark.parametrize("layout", [Layout.HIVE, Layout.PLAIN], ids=["A-sql-sink-hive", "B-filesink-plain"])
def test_real_flink_lands_exactly_the_events_it_was_given(s3_client, versioned_bucket, flink_work_dir, layout):
    bucket = versioned_bucket
    options = SimulationOptions(
        bucket=bucket, prefix=PREFIX, end_hour=END, hours=5, events_per_hour=80, empty_hours=(EMPTY,),
        missing_landed_at_fraction=0.05,
    )  # fmt: skip
    extra = records_beyond_the_contract(options)
    run = land_with_flink(
        s3_client, options, layout, flink_work_dir / layout.value, late_hours=(LATE,), late_events=1,
        extra_records=list(extra.values()), timeout=300,
    )  # fmt: skip
    for job in run.jobs:
        print(f"{layout.value}: Flink job '{job.name}' ({job.records} records) took {job.seconds:.1f}s")

    # What was given to Flink, per replication hour, recomputed from the simulator on its own: the ids of
    # the events, and every value's exact bytes.
    stream = event_stream(options)
    late = late_event_stream(options, LATE, 1)
    assert 300 <= len(stream) <= 500 and len(late) == 1
    given: dict[datetime, Counter] = {}
    values: dict[datetime, Counter] = {}
    for record in stream + late:
        given.setdefault(record.hour, Counter())[record.event_log_id] += 1
        values.setdefault(record.hour, Counter())[record.line.encode()] += 1
    given[NOVEL][json.loads(extra["new_field"].value)["event_log_id"]] += 1
    for name in ("new_field", "not_json", "not_utf8", "two_lines", "empty"):
        values[extra[name].hour][extra[name].value] += 1
    assert sorted(given) == sorted(values) == [h for h in HOURS if h != EMPTY]
    assert {h: sorted(c.elements()) for h, c in given.items()} == {h: sorted(ids) for h, ids in run.given.items()}
    assert {h: sorted(c.elements()) for h, c in values.items()} == {h: sorted(v) for h, v in run.given_values.items()}
    without_landed_at = [r.line for r in stream + late if "landed_at" not in json.loads(r.line)]
    assert without_landed_at, "the stream holds records without landed_at (old data)"

    hours_layout = HourLayout(layout, PREFIX)
    keys = listing(s3_client, bucket)
    folders, outside = hours_layout.group_by_hour(keys)
    assert outside == []
    # The hour without events has no folder at all.
    assert EMPTY not in folders and not any(k.startswith(hours_layout.hour_prefix(EMPTY)) for k in keys)
    assert sorted(folders) == sorted(given)

    # Every object is classified as what it is: Flink's finished files loadable, its marker and the
    # S3 writer's by-products never loaded, nothing unexpected.
    flink_parts = {k for k in run.flink_keys if not k.endswith(SUCCESS_MARKER)}
    for key in keys:
        name = hours_layout.parse_key(key).name
        if key in flink_parts:
            assert classify_object(name) is ObjectKind.LOADABLE, key
        else:
            assert key in run.byproduct_keys or name == SUCCESS_MARKER, key
            assert classify_object(name) is ObjectKind.BYPRODUCT, key
    assert run.byproduct_keys and all(k in keys for k in run.byproduct_keys)

    # Each replication hour's finished part files hold exactly the values given to Flink for it, once each,
    # byte for byte, one per line: no field dropped or added, no number re-serialised, an absent landed_at
    # still absent, a line that is not JSON (or not UTF-8) as it came, an empty value as an empty line. A
    # value holding a newline is written as it is, so it reads as two lines; a tombstone is not landed.
    landed_lines: Counter = Counter()
    for hour, ids in given.items():
        landed = read_landed_hour(s3_client, bucket, PREFIX, hour, layout=layout)
        assert landed.other_keys == []
        assert sorted(landed.part_keys) == sorted(k for k in flink_parts if hours_layout.hour_of_key(k) == hour)
        assert Counter(landed.event_log_ids) == ids, hour
        bodies = [s3_client.get_object(Bucket=bucket, Key=key)["Body"].read() for key in landed.part_keys]
        assert all(body.endswith(b"\n") for body in bodies), "every value is followed by a newline"
        lines = Counter(line for body in bodies for line in body[:-1].split(b"\n"))
        expected = Counter(piece for value in values[hour].elements() for piece in value.split(b"\n"))
        assert lines == expected, hour
        landed_lines += lines
        if hour == NOVEL:
            two_lines = extra["two_lines"].value
            assert any(body.startswith(two_lines + b"\n") or b"\n" + two_lines + b"\n" in body for body in bodies)
            # The two halves of the broken value and the empty line.
            assert sorted(m.kind for m in landed.malformed_lines) == ["not_json"] * 3
            (novel,) = [line.record for line in landed.lines if "tenant_tier" in line.record]
            assert novel == json.loads(extra["new_field"].value) and novel["tenant_tier"] == "gold"
        elif hour == DIRTY:
            assert sorted(m.kind for m in landed.malformed_lines) == ["not_json", "not_json"]
        else:
            assert landed.malformed_lines == []
    assert all(landed_lines[line.encode()] == 1 for line in without_landed_at)

    # The late event re-opened its hour: a part file of its own, next to the first job's.
    late_hour = read_landed_hour(s3_client, bucket, PREFIX, LATE, layout=layout)
    late_files = {line.key for line in late_hour.lines if line.record["event_log_id"] == late[0].event_log_id}
    assert len(late_files) == 1 and len(late_hour.part_keys) == 2
    assert {line.key for line in late_hour.lines} == set(late_hour.part_keys)

    if layout is Layout.HIVE:
        # A: _SUCCESS per committed hour, written again when the late event re-opened the hour.
        for hour in given:
            assert hours_layout.success_key(hour) in keys
            expected = 2 if hour == LATE else 1
            assert success_versions(s3_client, bucket, hours_layout.success_key(hour)) == expected, hour
        reader = hours_layout
    else:
        # B: never a _SUCCESS; hours are complete by the quiet-period rule.
        assert not any(k.endswith(SUCCESS_MARKER) for k in keys)
        reader = HourLayout(layout, PREFIX, Completion.QUIET_PERIOD, timedelta(minutes=15))

    now = END + timedelta(hours=1)
    states = {h: reader.completion_of(h, folders, now).state for h in HOURS}
    if layout is Layout.HIVE:
        expected_states = {h: HourState.COMMITTED for h in HOURS} | {EMPTY: HourState.COMPLETE_EMPTY}
    else:
        # The newest hour waits for a later hour's finished file, as a quiet-period reader must.
        expected_states = {h: HourState.COMMITTED for h in HOURS} | {
            EMPTY: HourState.COMPLETE_EMPTY,
            HOURS[-1]: HourState.NOT_YET,
        }
    assert states == expected_states
