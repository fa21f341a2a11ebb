"""The Flink stand-in writes exactly the layout and records of ../shared/event-log-spec.md, and says so truly.

Names and shapes are checked against regexes written here from the spec, not the simulator's own.
"""

from __future__ import annotations

import functools
import gzip
import json
import os
import re
import subprocess
import sys
import time
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from devstack import simulator
from devstack.simulator import (
    EVENT_TYPES,
    event_stream,
    late_event_stream,
    recommit_late,
    simulate,
)

# Most tests here check the plain layout (YYYY/MM/DD/HH/, .jsonl, empty hours committed with _SUCCESS);
# a test about the hive layout (the package's default) names it.
SimulationOptions = functools.partial(simulator.SimulationOptions, layout="plain")
read_landed_hour = functools.partial(simulator.read_landed_hour, layout="plain")
read_landed_events = functools.partial(simulator.read_landed_events, layout="plain")

END = datetime(2025, 8, 1, 6, tzinfo=UTC)
H = [END - timedelta(hours=6 - i) for i in range(6)]  # 00:00 .. 05:00

UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
SPEC_KEY = re.compile(r"(?P<prefix>.+)/(?P<y>\d{4})/(?P<m>\d{2})/(?P<d>\d{2})/(?P<h>\d{2})/(?P<name>[^/]+)")
SPEC_PART = re.compile(rf"part-{UUID}-\d+-\d+\.jsonl(\.gz)?")
SPEC_IN_PROGRESS = re.compile(rf"part-{UUID}-\d+-\d+\.inprogress\.{UUID}")
SPEC_TMP = re.compile(rf"_(?P<object>.+)_tmp_{UUID}")
ISO_UTC = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z")
SPEC_FIELDS = {
    "event_log_id",
    "organization_id",
    "deployment_id",
    "run_id",
    "dagster_event_type",
    "asset_key",
    "step_key",
    "partition",
    "event_data",
    "created_at",
    "landed_at",
}
TERMINAL = {"PIPELINE_SUCCESS", "PIPELINE_FAILURE", "PIPELINE_CANCELED"}


def objects(s3_client, bucket: str, prefix: str) -> dict[str, bytes]:
    out = {}
    for page in s3_client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix + "/"):
        for obj in page.get("Contents", []):
            out[obj["Key"]] = s3_client.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()
    return out


def folder_hour(key: str) -> datetime:
    m = SPEC_KEY.fullmatch(key)
    assert m, key
    return datetime(int(m["y"]), int(m["m"]), int(m["d"]), int(m["h"]), tzinfo=UTC)


def name_of(key: str) -> str:
    return key.rsplit("/", 1)[-1]


def parse_ts(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def all_landed(s3_client, options: SimulationOptions) -> dict[datetime, list[dict]]:
    return {h: read_landed_events(s3_client, options.bucket, options.prefix, h) for h in options.hour_starts}


@pytest.fixture
def versioned_bucket(s3_client, bucket):
    """The bucket with versioning on, so that a second `_SUCCESS` write shows; emptied of every version after."""
    s3_client.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    yield bucket
    for page in s3_client.get_paginator("list_object_versions").paginate(Bucket=bucket):
        for version in page.get("Versions", []) + page.get("DeleteMarkers", []):
            s3_client.delete_object(Bucket=bucket, Key=version["Key"], VersionId=version["VersionId"])


def versions_of(s3_client, bucket: str, key: str) -> int:
    listing = s3_client.list_object_versions(Bucket=bucket, Prefix=key)
    return len([v for v in listing.get("Versions", []) if v["Key"] == key])


def test_layout_names_and_committed_hours(s3_client, bucket):
    options = SimulationOptions(bucket=bucket, prefix="flink/event_log", hours=4, end_hour=END, events_per_hour=800)
    manifest = simulate(s3_client, options)
    stored = objects(s3_client, bucket, "flink/event_log")

    kinds: dict[datetime, Counter] = defaultdict(Counter)
    for key, body in stored.items():
        assert SPEC_KEY.fullmatch(key)["prefix"] == "flink/event_log"
        name = name_of(key)
        if SPEC_PART.fullmatch(name):
            kinds[folder_hour(key)]["part"] += 1
            assert not name.endswith(".gz")
        elif SPEC_IN_PROGRESS.fullmatch(name):
            kinds[folder_hour(key)]["in_progress"] += 1
            assert body and not SPEC_PART.fullmatch(name)
        elif m := SPEC_TMP.fullmatch(name):
            kinds[folder_hour(key)]["tmp"] += 1
            assert SPEC_IN_PROGRESS.fullmatch(m["object"]), "a multipart temp object of an in-progress file"
            assert body
        else:
            assert name == "_SUCCESS", key
            assert body == b""
            kinds[folder_hour(key)]["success"] += 1

    assert sorted(kinds) == options.hour_starts == [h.hour for h in manifest.hours]
    for hour, counts in kinds.items():
        assert counts["success"] == 1 and counts["part"] >= 1, (hour, counts)
        assert counts["in_progress"] == counts["tmp"] == 1, (hour, counts)
    assert all(h.committed and h.success_key == h.hour_prefix + "_SUCCESS" for h in manifest.hours)
    assert manifest.hours[0].hour_prefix == "flink/event_log/2025/08/01/02/"


def test_records_have_the_spec_shape(s3_client, bucket):
    options = SimulationOptions(bucket=bucket, end_hour=END, hours=3, events_per_hour=1500)
    simulate(s3_client, options)
    landed = all_landed(s3_client, options)
    records = [r for events in landed.values() for r in events]
    assert len(records) > 3000

    stored = objects(s3_client, bucket, options.prefix)
    for key, body in stored.items():
        if SPEC_PART.fullmatch(name_of(key)):
            for line in body.decode().splitlines():
                # One compact JSON object per line, `event_data` serialized the way json.dumps does it.
                record = json.loads(line)
                assert json.dumps(record, separators=(",", ":")) == line
                assert json.dumps(json.loads(record["event_data"])) == record["event_data"]

    for hour, events in landed.items():
        for r in events:
            assert set(r) - {"landed_at"} == SPEC_FIELDS - {"landed_at"}
            assert isinstance(r["event_log_id"], int) and isinstance(r["organization_id"], int)
            assert isinstance(r["deployment_id"], int)
            assert r["dagster_event_type"] is None or r["dagster_event_type"] in EVENT_TYPES
            assert ISO_UTC.fullmatch(r["created_at"])
            body = json.loads(r["event_data"])
            assert body["timestamp"] == pytest.approx(parse_ts(r["created_at"]).timestamp(), abs=1e-6)
            assert isinstance(body["level"], int) and isinstance(body["message"], str)
            assert body["step_key"] == r["step_key"]
            if r["dagster_event_type"] is None:
                assert body["dagster_event"] is None and r["run_id"] is not None and body["message"]
            else:
                assert body["dagster_event"]["event_type_value"] == r["dagster_event_type"]
            if r["run_id"] is not None:
                assert re.fullmatch(UUID, r["run_id"]) and body["pipeline_name"]
            if r["asset_key"] is not None:
                path = json.loads(r["asset_key"])
                assert isinstance(path, list) and all(isinstance(p, str) for p in path)
            if "landed_at" in r:
                landed_at = parse_ts(r["landed_at"])
                assert ISO_UTC.fullmatch(r["landed_at"])
                assert parse_ts(r["created_at"]) <= landed_at
                assert hour <= landed_at < hour + timedelta(hours=1), "an event lands in the hour of its landed time"

    ids = [r["event_log_id"] for r in records]
    assert len(set(ids)) == len(ids)
    by_creation = sorted(records, key=lambda r: r["created_at"])
    assert [r["event_log_id"] for r in by_creation] == sorted(ids), "ids increase with creation time"
    assert 0 < sum("landed_at" not in r for r in records) < 0.05 * len(records)
    assert len({r["organization_id"] for r in records}) == 3
    assert len({r["deployment_id"] for r in records}) == 6
    assert len({json.loads(r["event_data"])["pipeline_name"] for r in records if r["run_id"]}) >= 5
    assert any(r["run_id"] is None for r in records), "run-less events exist"
    assert any(r["partition"] for r in records)

    materializations = [r for r in records if r["dagster_event_type"] == "ASSET_MATERIALIZATION"]
    assert materializations
    for r in materializations:
        data = json.loads(r["event_data"])["dagster_event"]["event_specific_data"]
        entries = {e["label"]: e["entry_data"] for e in data["materialization"]["metadata_entries"]}
        assert isinstance(entries["Execution Time (seconds)"]["value"], float)
        assert isinstance(entries["row_count"]["value"], int)
        assert entries["row_count"]["__class__"] == "IntMetadataEntryData"
    checks = [r for r in records if r["dagster_event_type"] == "ASSET_CHECK_EVALUATION"]
    outcomes = Counter()
    for r in checks:
        data = json.loads(r["event_data"])["dagster_event"]["event_specific_data"]
        assert isinstance(data["success"], bool) and r["asset_key"]
        outcomes[(data["success"], data["severity"]["__enum__"])] += 1
    assert {s for _, s in outcomes} == {"AssetCheckSeverity.ERROR", "AssetCheckSeverity.WARN"}
    assert {ok for ok, _ in outcomes} == {True, False}
    observations = [r for r in records if r["dagster_event_type"] == "ASSET_OBSERVATION"]
    for r in observations:
        data = json.loads(r["event_data"])["dagster_event"]["event_specific_data"]
        assert data["asset_observation"]["metadata_entries"][0]["label"] == "row_count"


def test_default_run_has_every_event_type_and_runs_spanning_hours(s3_client, bucket):
    options = SimulationOptions(bucket=bucket)
    assert options.hours == 6 and options.end_hour == END
    simulate(s3_client, options)
    landed = all_landed(s3_client, options)
    records = [r for events in landed.values() for r in events]
    assert set(Counter(r["dagster_event_type"] for r in records)) == {*EVENT_TYPES, None}

    hours_of_run: dict[str, set] = defaultdict(set)
    events_of_run: dict[str, list] = defaultdict(list)
    for hour, events in landed.items():
        for r in events:
            if r["run_id"]:
                hours_of_run[r["run_id"]].add(hour)
                events_of_run[r["run_id"]].append(r)
    spanning = [run for run, hours in hours_of_run.items() if len(hours) >= 2]
    assert len(spanning) > 10
    assert any(len(hours) >= 3 for hours in hours_of_run.values()), "long runs cover three hour folders"

    complete = 0
    for events in events_of_run.values():
        events.sort(key=lambda r: r["created_at"])
        types = [r["dagster_event_type"] for r in events]
        if "PIPELINE_START" not in types or not TERMINAL & set(types):
            continue  # started before the first hour or still running after the last
        complete += 1
        assert types.count("PIPELINE_START") == 1 and sum(t in TERMINAL for t in types) == 1
        assert types.index("PIPELINE_START") < types.index(next(t for t in types if t in TERMINAL))
        assert {r["organization_id"] for r in events} == {events[0]["organization_id"]}
        failed = {r["step_key"] for r in events if r["dagster_event_type"] == "STEP_FAILURE"}
        if "PIPELINE_SUCCESS" in types:
            assert not failed
        if "PIPELINE_FAILURE" in types:
            assert failed
        retried = [r["step_key"] for r in events if r["dagster_event_type"] == "STEP_UP_FOR_RETRY"]
        restarted = [r["step_key"] for r in events if r["dagster_event_type"] == "STEP_RESTARTED"]
        if "PIPELINE_CANCELED" not in types:
            assert Counter(retried) == Counter(restarted)
    assert complete > 100
    start_hour = {
        r["run_id"]: h for h, events in landed.items() for r in events if r["dagster_event_type"] == "PIPELINE_START"
    }
    end_hour = {r["run_id"]: h for h, events in landed.items() for r in events if r["dagster_event_type"] in TERMINAL}
    assert any(start_hour[run] < end_hour[run] for run in start_hour.keys() & end_hour.keys())


def test_same_options_give_byte_identical_objects(s3_client, bucket):
    manifests: dict[str, str] = {}

    def run(prefix: str, seed: int = 7) -> dict[str, bytes]:
        options = SimulationOptions(
            bucket=bucket,
            prefix=prefix,
            seed=seed,
            hours=3,
            end_hour=END,
            events_per_hour=600,
            malformed_hours=(H[3],),
            duplicate_hours=(H[3],),
            late_hours=(H[4],),
        )
        manifest = simulate(s3_client, options)
        manifests[prefix] = manifest.to_json()
        stored = objects(s3_client, bucket, prefix)
        assert set(stored) == {k for h in manifest.hours for k in [*h.part_keys, *h.ignored_keys, h.success_key]}
        return {key[len(prefix) :]: body for key, body in stored.items()}

    first, second = run("one"), run("two")
    assert first == second
    assert manifests["one"].replace('"one/', '"two/').replace('"prefix": "one"', '"prefix": "two"') == manifests["two"]
    other = run("three", seed=8)
    assert set(other) != set(first)
    assert sum(len(b) for b in other.values()) != sum(len(b) for b in first.values())


def test_manifest_counts_equal_the_reader_and_a_raw_listing(s3_client, bucket):
    options = SimulationOptions(
        bucket=bucket,
        end_hour=END,
        hours=4,
        events_per_hour=700,
        files_per_hour=5,
        malformed_hours=(H[2],),
        duplicate_hours=(H[3],),
        late_hours=(H[3],),
        uncommitted_hours=(H[5],),
    )
    manifest = simulate(s3_client, options)
    as_json = json.loads(manifest.to_json())
    assert as_json["records"] == manifest.records
    assert [h["hour"] for h in as_json["hours"]] == [f"2025-08-01T0{i}:00:00Z" for i in range(2, 6)]

    listed = objects(s3_client, bucket, options.prefix)
    for hour_manifest, hour_json in zip(manifest.hours, as_json["hours"], strict=True):
        landed = read_landed_hour(s3_client, bucket, options.prefix, hour_manifest.hour)
        in_folder = {k: v for k, v in listed.items() if k.startswith(hour_manifest.hour_prefix)}
        raw_parts = sorted(k for k in in_folder if SPEC_PART.fullmatch(name_of(k)))
        assert sorted(hour_manifest.part_keys) == landed.part_keys == raw_parts
        assert sorted(hour_manifest.ignored_keys) == landed.ignored_keys
        assert landed.committed == hour_manifest.committed == (hour_manifest.hour != H[5])
        raw_lines = {k: v.decode().splitlines() for k, v in in_folder.items() if k in raw_parts}
        for part in hour_manifest.part_files:
            assert part.lines == landed.line_counts[part.key] == len(raw_lines[part.key])
            assert part.size_bytes == len(in_folder[part.key])
            assert part.records == sum(line.key == part.key for line in landed.lines)
            assert part.event_log_ids == [line.record["event_log_id"] for line in landed.lines if line.key == part.key]
            assert part.records + len(part.malformed_lines) == part.lines
        assert hour_manifest.records == len(landed.events) == hour_json["records"]
        assert hour_manifest.lines == sum(landed.line_counts.values()) == hour_json["lines"]
        assert [(m.key, m.line_number, m.kind) for m in hour_manifest.malformed_lines] == [
            (m.key, m.line_number, m.kind) for m in landed.malformed_lines
        ]
        assert hour_json["malformed_line_count"] == len(landed.malformed_lines)
        assert hour_json["distinct_event_log_ids"] == len(set(landed.event_log_ids))
        assert hour_json["part_files"][0]["event_log_ids"] == hour_manifest.part_files[0].event_log_ids
    all_ids = Counter(
        i for h in options.hour_starts for i in read_landed_hour(s3_client, bucket, options.prefix, h).event_log_ids
    )
    assert manifest.duplicate_event_log_ids == sorted(i for i, n in all_ids.items() if n > 1)
    assert len(manifest.distinct_event_log_ids) == len(all_ids) == as_json["distinct_event_log_ids"]
    summary = json.loads(manifest.to_json(include_event_log_ids=False))
    assert "event_log_ids" not in summary["hours"][0]["part_files"][0]


def test_empty_hour_is_committed_with_success_only(s3_client, bucket):
    options = SimulationOptions(bucket=bucket, end_hour=END, hours=3, events_per_hour=500, empty_hours=(H[4],))
    manifest = simulate(s3_client, options)
    empty = manifest.hour(H[4])
    assert empty.committed and empty.part_files == [] and empty.ignored_keys == [] and empty.records == 0
    stored = objects(s3_client, bucket, options.prefix)
    assert [k for k in stored if k.startswith(empty.hour_prefix)] == [empty.hour_prefix + "_SUCCESS"]
    landed = read_landed_hour(s3_client, bucket, options.prefix, H[4])
    assert landed.committed and landed.events == [] and landed.part_keys == [] and landed.ignored_keys == []
    for hour in (H[3], H[5]):
        assert read_landed_hour(s3_client, bucket, options.prefix, hour).events


def test_uncommitted_hour_has_files_but_no_success(s3_client, bucket):
    options = SimulationOptions(bucket=bucket, end_hour=END, hours=3, events_per_hour=500, uncommitted_hours=(H[3],))
    manifest = simulate(s3_client, options)
    open_hour = manifest.hour(H[3])
    assert not open_hour.committed and open_hour.success_key is None and open_hour.records > 0
    stored = objects(s3_client, bucket, options.prefix)
    assert open_hour.hour_prefix + "_SUCCESS" not in stored
    assert all(k in stored for k in open_hour.part_keys + open_hour.ignored_keys)
    landed = read_landed_hour(s3_client, bucket, options.prefix, H[3])
    assert not landed.committed and len(landed.events) == open_hour.records
    assert [h.committed for h in manifest.hours] == [False, True, True]
    assert all(read_landed_hour(s3_client, bucket, options.prefix, h).committed for h in (H[4], H[5]))


def test_late_hours_get_a_second_commit_with_new_events(s3_client, versioned_bucket):
    bucket = versioned_bucket
    options = SimulationOptions(
        bucket=bucket, end_hour=END, hours=3, events_per_hour=500, late_hours=(H[4],), late_events_per_hour=30
    )
    manifest = simulate(s3_client, options)
    late_hour = manifest.hour(H[4])
    first = [p for p in late_hour.part_files if p.pass_number == 0]
    second = [p for p in late_hour.part_files if p.pass_number == 1]
    assert len(second) == 1 and second[0].records == 30 == len(late_hour.late_event_log_ids)
    assert late_hour.success_writes == 2 and versions_of(s3_client, bucket, late_hour.success_key) == 2
    assert versions_of(s3_client, bucket, manifest.hour(H[3]).success_key) == 1

    landed = read_landed_hour(s3_client, bucket, options.prefix, H[4])
    late = [line.record for line in landed.lines if line.key == second[0].key]
    assert [r["event_log_id"] for r in late] == late_hour.late_event_log_ids
    first_ids = {i for p in first for i in p.event_log_ids}
    other_hours = {i for h in manifest.hours if h.hour != H[4] for i in h.event_log_ids}
    assert not set(late_hour.late_event_log_ids) & (first_ids | other_hours)
    for r in late:
        assert H[4] <= parse_ts(r["created_at"]) < H[5]
        if "landed_at" in r:
            assert H[4] <= parse_ts(r["landed_at"]) < H[5]


def test_recommit_late_reopens_a_loaded_hour(s3_client, versioned_bucket):
    bucket = versioned_bucket
    options = SimulationOptions(bucket=bucket, end_hour=END, hours=2, events_per_hour=400, gzip=True)
    manifest = simulate(s3_client, options)
    before = read_landed_hour(s3_client, bucket, options.prefix, H[4])
    assert before.committed and sorted(before.part_keys) == sorted(manifest.hour(H[4]).part_keys)

    result = recommit_late(s3_client, options, H[4], 25)
    after = read_landed_hour(s3_client, bucket, options.prefix, H[4])
    new_keys = set(after.part_keys) - set(before.part_keys)
    assert new_keys == {p.key for p in result.part_files} and all(k.endswith(".jsonl.gz") for k in new_keys)
    assert len(result.event_log_ids) == 25
    assert Counter(after.event_log_ids) == Counter(before.event_log_ids) + Counter(result.event_log_ids)
    assert not set(result.event_log_ids) & manifest.distinct_event_log_ids
    assert versions_of(s3_client, bucket, result.success_key) == 2
    untouched = read_landed_hour(s3_client, bucket, options.prefix, H[5])
    assert Counter(untouched.event_log_ids) == Counter(manifest.hour(H[5]).event_log_ids)

    again = recommit_late(s3_client, options, H[4], 25)
    assert again.part_files == result.part_files, "the same re-commit writes the same object"
    assert read_landed_hour(s3_client, bucket, options.prefix, H[4]).event_log_ids == after.event_log_ids
    third = recommit_late(s3_client, options, H[4], 10, pass_number=2)
    assert not set(third.event_log_ids) & set(after.event_log_ids)
    assert len(read_landed_hour(s3_client, bucket, options.prefix, H[4]).events) == len(after.events) + 10


def test_malformed_lines_are_where_the_manifest_says(s3_client, bucket):
    options = SimulationOptions(
        bucket=bucket,
        end_hour=END,
        hours=3,
        events_per_hour=600,
        malformed_hours=(H[4],),
        non_json_lines_per_hour=3,
    )
    manifest = simulate(s3_client, options)
    bad_hour = manifest.hour(H[4])
    kinds = Counter(m.kind for m in bad_hour.malformed_lines)
    assert kinds == {"not_json": 3, "truncated": 1}
    assert all(not h.malformed_lines for h in manifest.hours if h.hour != H[4])

    stored = objects(s3_client, bucket, options.prefix)
    for m in bad_hour.malformed_lines:
        body = stored[m.key].decode()
        lines = body.split("\n")
        if m.kind == "truncated":
            assert not body.endswith("\n") and m.line_number == len(lines), "the cut line is the file's last"
            assert lines[-1].startswith('{"event_log_id":')
        else:
            assert body.endswith("\n") or m.line_number < len(lines)
        with pytest.raises(ValueError):
            json.loads(lines[m.line_number - 1])
    landed = read_landed_hour(s3_client, bucket, options.prefix, H[4])
    assert [(m.key, m.line_number, m.kind) for m in landed.malformed_lines] == [
        (m.key, m.line_number, m.kind) for m in bad_hour.malformed_lines
    ]
    assert len(landed.events) == bad_hour.records == bad_hour.lines - 4
    assert bad_hour.truncated_event_log_ids and not set(bad_hour.truncated_event_log_ids) & set(landed.event_log_ids)

    clean = SimulationOptions(
        bucket=bucket, prefix="clean", end_hour=END, hours=3, events_per_hour=600, malformed_hours=(H[4],)
    )
    assert Counter(m.kind for m in simulate(s3_client, clean).hour(H[4]).malformed_lines) == {
        "not_json": 2,
        "truncated": 1,
    }
    no_cut = SimulationOptions(
        bucket=bucket,
        prefix="nocut",
        end_hour=END,
        hours=3,
        events_per_hour=600,
        malformed_hours=(H[4],),
        truncated_last_line=False,
    )
    assert Counter(m.kind for m in simulate(s3_client, no_cut).hour(H[4]).malformed_lines) == {"not_json": 2}


def test_duplicates_repeat_records_in_another_file_and_the_next_hour(s3_client, bucket):
    options = SimulationOptions(
        bucket=bucket,
        end_hour=END,
        hours=3,
        events_per_hour=600,
        files_per_hour=3,
        duplicate_hours=(H[3],),
        duplicates_per_hour=4,
    )
    manifest = simulate(s3_client, options)
    dup_hour, next_hour = manifest.hour(H[3]), manifest.hour(H[4])
    dup_ids = dup_hour.duplicate_ids_within_hour
    assert len(dup_ids) == 4
    assert dup_hour.duplicate_ids_across_hours == dup_ids == next_hour.duplicate_ids_across_hours
    assert next_hour.duplicate_ids_within_hour == [] and manifest.hour(H[5]).duplicate_ids_across_hours == []
    assert manifest.duplicate_event_log_ids == dup_ids
    assert len(manifest.distinct_event_log_ids) == manifest.records - 8

    lines_by_id: dict[int, list[tuple[datetime, str, str]]] = defaultdict(list)
    for hour in (H[3], H[4]):
        landed = read_landed_hour(s3_client, bucket, options.prefix, hour)
        for line in landed.lines:
            if line.record["event_log_id"] in dup_ids:
                lines_by_id[line.record["event_log_id"]].append((hour, line.key, json.dumps(line.record)))
    for copies in lines_by_id.values():
        assert [c[0] for c in copies].count(H[3]) == 2 and [c[0] for c in copies].count(H[4]) == 1
        same_hour_files = {c[1] for c in copies if c[0] == H[3]}
        assert len(same_hour_files) == 2, "the copy is in another file of the same hour"
        assert len({c[2] for c in copies}) == 1, "the same record each time"
    counts = Counter(read_landed_hour(s3_client, bucket, options.prefix, H[3]).event_log_ids)
    assert sorted(i for i, n in counts.items() if n > 1) == dup_ids


def test_gzip_files_hold_the_same_records(s3_client, bucket):
    common = {"bucket": bucket, "end_hour": END, "hours": 2, "events_per_hour": 500, "malformed_hours": (H[4],)}
    plain = simulate(s3_client, SimulationOptions(prefix="plain", **common))
    packed = simulate(s3_client, SimulationOptions(prefix="packed", gzip=True, **common))
    stored = objects(s3_client, bucket, "plain") | objects(s3_client, bucket, "packed")
    for plain_hour, packed_hour in zip(plain.hours, packed.hours, strict=True):
        assert all(k.endswith(".jsonl.gz") for k in packed_hour.part_keys)
        assert all(k.endswith(".jsonl") for k in plain_hour.part_keys)
        for plain_key, packed_key in zip(plain_hour.part_keys, packed_hour.part_keys, strict=True):
            assert packed_key.removeprefix("packed") == plain_key.removeprefix("plain") + ".gz"
            assert stored[packed_key][:2] == b"\x1f\x8b"
            assert gzip.decompress(stored[packed_key]) == stored[plain_key]
        assert read_landed_events(s3_client, bucket, "plain", plain_hour.hour) == read_landed_events(
            s3_client, bucket, "packed", packed_hour.hour
        )
        assert [m.line_number for m in plain_hour.malformed_lines] == [
            m.line_number for m in packed_hour.malformed_lines
        ]


def test_ignored_objects_are_present_but_not_counted(s3_client, bucket):
    options = SimulationOptions(bucket=bucket, end_hour=END, hours=2, events_per_hour=500, ignored_objects_per_hour=2)
    manifest = simulate(s3_client, options)
    stored = objects(s3_client, bucket, options.prefix)
    for hour in manifest.hours:
        assert len(hour.ignored_keys) == 4
        in_progress = [k for k in hour.ignored_keys if SPEC_IN_PROGRESS.fullmatch(name_of(k))]
        temp = [k for k in hour.ignored_keys if SPEC_TMP.fullmatch(name_of(k))]
        assert len(in_progress) == len(temp) == 2
        for key in in_progress:
            lines = stored[key].decode().split("\n")
            # Partial content: whole records that a wrong loader would count twice, then a cut line.
            assert len(lines) >= 2 and all(json.loads(line)["event_log_id"] for line in lines[:-1])
            with pytest.raises(ValueError):
                json.loads(lines[-1])
        for key in temp:
            assert stored[key] and any(stored[key] in stored[k] for k in in_progress)
        landed = read_landed_hour(s3_client, bucket, options.prefix, hour.hour)
        assert sorted(landed.ignored_keys) == sorted(hour.ignored_keys)
        assert not set(landed.ignored_keys) & set(landed.part_keys)
        assert {line.key for line in landed.lines} <= set(hour.part_keys)
        assert len(landed.events) == hour.records and len(set(landed.event_log_ids)) == hour.records


@pytest.mark.timeout(120)
def test_fifty_thousand_events_in_a_few_seconds(s3_client, bucket):
    options = SimulationOptions(bucket=bucket, end_hour=END, hours=1, events_per_hour=50_000, files_per_hour=4)
    started = time.perf_counter()
    manifest = simulate(s3_client, options)
    elapsed = time.perf_counter() - started
    assert 45_000 <= manifest.records <= 56_000
    assert len(manifest.hours[0].part_files) == 4
    assert len(read_landed_events(s3_client, bucket, options.prefix, H[5])) == manifest.records
    assert elapsed < 30, f"{elapsed:.1f}s for {manifest.records} events"


def test_options_are_validated():
    with pytest.raises(ValueError, match="aligned"):
        SimulationOptions(bucket="b", end_hour="2025-08-01T06:30Z")
    with pytest.raises(ValueError, match="outside"):
        SimulationOptions(bucket="b", end_hour=END, hours=2, empty_hours=(H[0],))
    with pytest.raises(ValueError, match="next hour"):
        SimulationOptions(bucket="b", end_hour=END, duplicate_hours=(H[5],))
    with pytest.raises(ValueError, match="committed"):
        SimulationOptions(bucket="b", end_hour=END, late_hours=(H[1],), uncommitted_hours=(H[1],))
    options = SimulationOptions(bucket="b", end_hour="2025-08-01T06:00Z", empty_hours=["2025-08-01T02:00:00+00:00"])
    assert options.end_hour == END and options.empty_hours == (H[2],)
    assert options.hour_starts == H


@pytest.mark.timeout(120)
def test_cli_creates_the_bucket_and_prints_the_manifest(s3_client, s3_endpoint_url):
    bucket = "cli-simulator-bucket"
    root = Path(__file__).resolve().parents[2]
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "devstack.simulator",
            "--endpoint-url",
            s3_endpoint_url,
            "--bucket",
            bucket,
            "--prefix",
            "cli",
            "--end-hour",
            "2025-08-01T06:00Z",
            "--hours",
            "2",
            "--events-per-hour",
            "300",
            "--gzip",
            "--empty-hour",
            "2025-08-01T05:00Z",
            "--layout",
            "plain",
            "--summary",
        ],
        cwd=root,
        env=os.environ | {"PYTHONPATH": str(root)},
        capture_output=True,
        text=True,
        check=True,
    )
    try:
        manifest = json.loads(result.stdout)
        assert [h["hour"] for h in manifest["hours"]] == ["2025-08-01T04:00:00Z", "2025-08-01T05:00:00Z"]
        assert manifest["options"]["gzip"] is True and manifest["hours"][1]["part_files"] == []
        assert manifest["records"] == len(read_landed_events(s3_client, bucket, "cli", H[4])) > 0
    finally:
        for key in objects(s3_client, bucket, "cli"):
            s3_client.delete_object(Bucket=bucket, Key=key)
        s3_client.delete_bucket(Bucket=bucket)


# --- The Hive-style layout of Flink's SQL filesystem sink ------------------------------------------

SPEC_HIVE_KEY = re.compile(r"(?P<prefix>.+)/dt=(?P<y>\d{4})-(?P<m>\d{2})-(?P<d>\d{2})/hr=(?P<h>\d{2})/(?P<name>[^/]+)")
SPEC_SQL_PART = re.compile(rf"part-{UUID}-\d+-\d+(\.gz)?")  # no extension
SPEC_HIDDEN_IN_PROGRESS = re.compile(rf"\.part-{UUID}-\d+-\d+\.inprogress\.{UUID}")


def hive_hour(key: str) -> datetime:
    m = SPEC_HIVE_KEY.fullmatch(key)
    assert m, key
    return datetime(int(m["y"]), int(m["m"]), int(m["d"]), int(m["h"]), tzinfo=UTC)


def test_hive_layout_as_the_sql_sink_writes_it(s3_client, versioned_bucket):
    bucket = versioned_bucket
    options = SimulationOptions(
        bucket=bucket,
        prefix="flink/event_log",
        layout="hive",
        hours=4,
        end_hour=END,
        events_per_hour=600,
        empty_hours=(H[3],),
        late_hours=(H[4],),
        late_events_per_hour=7,
    )
    manifest = simulate(s3_client, options)
    stored = objects(s3_client, bucket, "flink/event_log")

    kinds: dict[datetime, Counter] = defaultdict(Counter)
    for key, body in stored.items():
        assert SPEC_HIVE_KEY.fullmatch(key)["prefix"] == "flink/event_log", key
        name = name_of(key)
        hour = hive_hour(key)
        if SPEC_SQL_PART.fullmatch(name):
            kinds[hour]["part"] += 1
            assert not name.endswith(".gz") and body
        elif SPEC_HIDDEN_IN_PROGRESS.fullmatch(name):
            kinds[hour]["in_progress"] += 1
        elif m := SPEC_TMP.fullmatch(name):
            kinds[hour]["tmp"] += 1
            assert ".inprogress." in m["object"]
        else:
            assert name == "_SUCCESS" and body == b"", key
            kinds[hour]["success"] += 1
    # The empty hour has no folder at all, and says so in the manifest.
    assert sorted(kinds) == [H[2], H[4], H[5]]
    empty = manifest.hour(H[3])
    assert empty.hour_prefix == "flink/event_log/dt=2025-08-01/hr=03/"
    assert not empty.committed and empty.success_key is None and empty.success_writes == 0 and not empty.part_files
    for hour in (H[2], H[4], H[5]):
        assert kinds[hour]["success"] == 1 and kinds[hour]["part"] >= 1
        assert kinds[hour]["in_progress"] == kinds[hour]["tmp"] == 1
    # The late re-commit: one more part file with new events, _SUCCESS written a second time.
    late = manifest.hour(H[4])
    assert late.success_writes == 2 and versions_of(s3_client, bucket, late.success_key) == 2
    assert len(late.late_event_log_ids) == 7

    for hour_manifest in manifest.hours:
        landed = read_landed_hour(s3_client, bucket, "flink/event_log", hour_manifest.hour, layout="hive")
        assert landed.committed == hour_manifest.committed
        assert sorted(landed.part_keys) == sorted(hour_manifest.part_keys)
        assert sorted(landed.ignored_keys) == sorted(hour_manifest.ignored_keys) and landed.other_keys == []
        assert sorted(landed.event_log_ids) == sorted(hour_manifest.event_log_ids)
        assert len(landed.events) == hour_manifest.records
        # The plain reader finds nothing where the hive layout lands.
        assert read_landed_hour(s3_client, bucket, "flink/event_log", hour_manifest.hour).part_keys == []


def test_hive_layout_gzip_parts_carry_only_the_gz_suffix(s3_client, bucket):
    options = SimulationOptions(bucket=bucket, layout="hive", hours=2, end_hour=END, events_per_hour=300, gzip=True)
    manifest = simulate(s3_client, options)
    for hour in manifest.hours:
        assert hour.part_keys and all(SPEC_SQL_PART.fullmatch(name_of(k)) and k.endswith(".gz") for k in hour.part_keys)
        landed = read_landed_hour(s3_client, bucket, options.prefix, hour.hour, layout="hive")
        assert sorted(landed.event_log_ids) == sorted(hour.event_log_ids) and len(landed.events) == hour.records


def test_event_stream_is_what_simulate_lands(s3_client, bucket):
    options = SimulationOptions(
        bucket=bucket, hours=3, end_hour=END, events_per_hour=400, empty_hours=(H[4],), late_hours=(H[3],)
    )
    manifest = simulate(s3_client, options)
    stream = event_stream(options)
    by_hour: dict[datetime, list] = defaultdict(list)
    for record in stream:
        by_hour[record.hour].append(record)
        assert json.loads(record.line)["event_log_id"] == record.event_log_id
    assert [r.replicated_at_us for r in stream] == sorted(r.replicated_at_us for r in stream)
    assert H[4] not in by_hour
    for hour in manifest.hours:
        first_commit = [i for f in hour.part_files if f.pass_number == 0 for i in f.event_log_ids]
        assert sorted(r.event_log_id for r in by_hour.get(hour.hour, [])) == sorted(first_commit)
        landed_lines = {
            json.dumps(e, separators=(",", ":"))
            for e in read_landed_events(s3_client, bucket, options.prefix, hour.hour)
        }
        assert {
            json.dumps(json.loads(r.line), separators=(",", ":")) for r in by_hour.get(hour.hour, [])
        } <= landed_lines
    late = late_event_stream(options, H[3])
    assert sorted(r.event_log_id for r in late) == sorted(manifest.hour(H[3]).late_event_log_ids)
    assert all(r.hour == H[3] for r in late)


@pytest.mark.timeout(120)
def test_cli_lands_the_hive_layout(s3_client, s3_endpoint_url):
    bucket = "cli-simulator-hive"
    root = Path(__file__).resolve().parents[2]
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "devstack.simulator",
            *("--endpoint-url", s3_endpoint_url, "--bucket", bucket, "--prefix", "cli", "--layout", "hive"),
            *("--end-hour", "2025-08-01T06:00Z", "--hours", "2", "--events-per-hour", "200"),
            *("--empty-hour", "2025-08-01T04:00Z", "--summary"),
        ],
        cwd=root,
        env=os.environ | {"PYTHONPATH": str(root)},
        capture_output=True,
        text=True,
        check=True,
    )
    try:
        manifest = json.loads(result.stdout)
        assert manifest["options"]["layout"] == "hive"
        keys = sorted(objects(s3_client, bucket, "cli"))
        assert keys and all(k.startswith("cli/dt=2025-08-01/hr=05/") for k in keys)
        assert manifest["records"] == len(read_landed_events(s3_client, bucket, "cli", H[5], layout="hive")) > 0
    finally:
        for key in objects(s3_client, bucket, "cli"):
            s3_client.delete_object(Bucket=bucket, Key=key)
        s3_client.delete_bucket(Bucket=bucket)
