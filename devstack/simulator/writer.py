"""Writing to S3 what the Flink job commits: part files, in-progress and multipart temp objects, `_SUCCESS`.

Each hour's events go to part files by sink subtask (one subtask per run, the Kafka key), each subtask's
files rolled by time. Dirt on request: hours committed empty, hours never committed, late re-commits
(`recommit_late`: one more part file, then `_SUCCESS` again), non-JSON and truncated lines, duplicated
records. `simulate` lands every hour of the options and returns the `Manifest` of what it wrote.
"""

from __future__ import annotations

import gzip
import random
from bisect import bisect_right
from datetime import datetime
from operator import itemgetter
from typing import Any

from devstack.simulator.catalogue import build_catalogue
from devstack.simulator.layout import SUCCESS_NAME, MalformedLine, hour_prefix, iso_hour, parse_hour
from devstack.simulator.manifest import HourManifest, LateRecommit, Manifest, PartFileManifest, mark_duplicates
from devstack.simulator.options import SimulationOptions
from devstack.simulator.records import MAX_PASSES, event_log_id, render_line, seeded_uuid
from devstack.simulator.stream import HourlyStream, late_events
from include.event_log.land.hour_layout import Layout


class _RawLine:
    """A line that is not a record: garbage, or a record cut short (the last line of its file)."""

    __slots__ = ("kind", "text")

    def __init__(self, text: str, kind: str) -> None:
        self.text, self.kind = text, kind


def _not_json_line(rng: random.Random) -> str:
    offset = rng.randint(10_000, 90_000_000)
    return rng.choice(
        (
            f"<<corrupted record at kafka offset {offset}>>",
            f"ERROR deserialization failed for record at offset {offset}: unexpected byte 0x{rng.randrange(256):02x}",
            f'{{"event_log_id": {offset}, "organization_id": {rng.randint(1000, 9999)}, "run_id": "',
            f"event_log_id={offset} dagster_event_type=STEP_START landed_at=?",
        )
    )


def _encode_file(lines: list[str], newline_at_end: bool, compress: bool) -> bytes:
    data = ("\n".join(lines) + ("\n" if newline_at_end else "")).encode("utf-8")
    return gzip.compress(data, compresslevel=1, mtime=0) if compress else data


class _Writer:
    """One Flink job's writes to the bucket: its part-file uuid and, per sink subtask, its part-file counter."""

    def __init__(self, client, options: SimulationOptions) -> None:
        self.client, self.options = client, options
        self.job_uuid = seeded_uuid(random.Random(f"{options.seed}:flink-job"))
        self.counters = [0] * options.parallelism
        # The SQL filesystem sink names part files without an extension; the plain layout keeps `.jsonl`.
        extension = ".jsonl" if options.layout == Layout.PLAIN else ""
        self.suffix = extension + (".gz" if options.gzip else "")

    def put(self, key: str, body: bytes) -> None:
        self.client.put_object(Bucket=self.options.bucket, Key=key, Body=body)

    def write_hour(
        self, hour: datetime, events: list[tuple], incoming_copies: list[tuple]
    ) -> tuple[HourManifest, list[tuple]]:
        """Write one hour's first commit; return its manifest and the records to copy into the next hour."""
        options = self.options
        folder = hour_prefix(options.prefix, hour, options.layout)
        committed = hour not in options.uncommitted_hours
        if hour in options.empty_hours and options.layout == Layout.HIVE:
            # Flink's SQL sink creates a partition only when a record reaches it: no folder, no _SUCCESS.
            return HourManifest(hour, folder, False, None, 0), []
        success_key = folder + SUCCESS_NAME if committed else None
        manifest = HourManifest(hour, folder, committed, success_key, int(committed))
        if hour in options.empty_hours:
            self.put(folder + SUCCESS_NAME, b"")
            return manifest, []

        events.sort(key=itemgetter(0))
        events.sort(key=itemgetter(1))  # stable: by landed time, then creation time
        files = self._distribute(events)
        rng = random.Random(f"{options.seed}:dirt:{iso_hour(hour)}")
        truncated_file = None
        if hour in options.malformed_hours and options.truncated_last_line:
            candidates = [k for k, items in enumerate(files) if items]
            if candidates:
                truncated_file = rng.choice(candidates)
                victim = files[truncated_file][-1]
                text = render_line(victim, 0)
                files[truncated_file][-1] = _RawLine(text[: len(text) // 2], "truncated")
                manifest.truncated_event_log_ids.append(event_log_id(victim[0]))

        def insert(k: int, item: Any) -> None:
            items = files[k]
            # Never after a truncated last line: the writer died there.
            high = len(items) - 1 if k == truncated_file else len(items)
            items.insert(rng.randint(0, max(0, high)), item)

        copies: list[tuple] = []
        if hour in options.duplicate_hours:
            sizes = [len(items) for items in files]
            starts = [sum(sizes[:k]) for k in range(len(files))]
            picked = rng.sample(range(sum(sizes)), min(options.duplicates_per_hour + 1, sum(sizes)))
            sources = []
            for flat in picked:
                k = bisect_right(starts, flat) - 1
                while sizes[k] == 0:  # empty files share their start with the next file
                    k += 1
                event = files[k][flat - starts[k]]
                if type(event) is tuple and len(sources) < options.duplicates_per_hour:
                    sources.append((k, event))
            for k, event in sources:
                copies.append(event)
                insert(rng.choice([j for j in range(len(files)) if j != k]), event)
        for event in incoming_copies:
            insert(rng.randrange(len(files)), event)
        if hour in options.malformed_hours:
            candidates = [k for k, items in enumerate(files) if items] or [0]
            for _ in range(options.non_json_lines_per_hour):
                insert(rng.choice(candidates), _RawLine(_not_json_line(rng), "not_json"))

        names = random.Random(f"{options.seed}:names:{iso_hour(hour)}")
        sample_lines: list[str] = []
        p = min(options.parallelism, options.files_per_hour)
        for k, items in enumerate(files):
            if not items:
                continue
            subtask = k % p
            key = f"{folder}part-{self.job_uuid}-{subtask}-{self.counters[subtask]}{self.suffix}"
            self.counters[subtask] += 1
            part, lines = self._write_part(key, items, 0)
            manifest.part_files.append(part)
            if not sample_lines:
                sample_lines = lines[:6]
        for _ in range(options.ignored_objects_per_hour if manifest.part_files else 0):
            manifest.ignored_keys.extend(self._write_ignored(folder, names, sample_lines, p))
        if committed:
            self.put(success_key, b"")
        return manifest, copies

    def _distribute(self, events: list[tuple]) -> list[list[Any]]:
        """Events to files: a subtask per run (the Kafka key), each subtask's files rolled by time."""
        options = self.options
        p = min(options.parallelism, options.files_per_hour)
        by_subtask: list[list[tuple]] = [[] for _ in range(p)]
        for event in events:
            by_subtask[event[3].subtask_key % p].append(event)
        files: list[list[Any]] = [[] for _ in range(options.files_per_hour)]
        for subtask, subtask_events in enumerate(by_subtask):
            own = list(range(subtask, options.files_per_hour, p))
            size = len(subtask_events)
            for j, k in enumerate(own):
                files[k] = subtask_events[size * j // len(own) : size * (j + 1) // len(own)]
        return files

    def _write_part(self, key: str, items: list[Any], pass_number: int) -> tuple[PartFileManifest, list[str]]:
        lines: list[str] = []
        ids: list[int] = []
        malformed: list[MalformedLine] = []
        for number, item in enumerate(items, 1):
            if type(item) is tuple:
                lines.append(render_line(item, pass_number))
                ids.append(event_log_id(item[0], pass_number))
            else:
                lines.append(item.text)
                malformed.append(MalformedLine(key, number, item.kind))
        newline_at_end = not (malformed and malformed[-1].kind == "truncated")
        body = _encode_file(lines, newline_at_end, self.options.gzip)
        self.put(key, body)
        return PartFileManifest(key, pass_number, len(items), len(ids), ids, malformed, len(body)), lines

    def _write_ignored(self, folder: str, names: random.Random, sample_lines: list[str], p: int) -> list[str]:
        """An in-progress part file and a multipart temp object of it, both with partial content."""
        subtask = names.randrange(p)
        in_progress = f"part-{self.job_uuid}-{subtask}-{self.counters[subtask]}.inprogress.{seeded_uuid(names)}"
        temp = f"_{in_progress}_tmp_{seeded_uuid(names)}"
        if self.options.layout == Layout.HIVE:
            in_progress = "." + in_progress  # the SQL sink hides its in-progress files
        complete = sample_lines[:-1] if len(sample_lines) > 1 else []
        cut = sample_lines[-1][: len(sample_lines[-1]) // 2] if sample_lines else "{"
        raw = ("".join(line + "\n" for line in complete) + cut).encode("utf-8")
        if self.options.gzip:
            stream = gzip.compress(raw, compresslevel=1, mtime=0)
            in_progress_body = stream[: max(1, len(stream) * 2 // 3)]
        else:
            in_progress_body = raw
        self.put(folder + in_progress, in_progress_body)
        self.put(folder + temp, in_progress_body[: max(1, len(in_progress_body) // 3)])
        return [folder + in_progress, folder + temp]


def simulate(client, options: SimulationOptions) -> Manifest:
    """Land every hour of `options` in S3 (first commits, then late re-commits) and describe it."""
    catalogue = build_catalogue(options)
    stream = HourlyStream(options, catalogue)
    stream.warm_up()
    writer = _Writer(client, options)
    hours: list[HourManifest] = []
    copies: list[tuple] = []
    for index, hour in enumerate(options.hour_starts):
        manifest, copies = writer.write_hour(hour, stream.hour(index), copies)
        hours.append(manifest)
    for hour_manifest in hours:
        if hour_manifest.hour in options.late_hours:
            late = recommit_late(client, options, hour_manifest.hour)
            hour_manifest.part_files.extend(late.part_files)
            hour_manifest.late_event_log_ids.extend(late.event_log_ids)
            hour_manifest.success_writes += 1
    mark_duplicates(hours)
    return Manifest(options, hours)


def recommit_late(
    client, options: SimulationOptions, hour: datetime | str, events: int | None = None, *, pass_number: int = 1
) -> LateRecommit:
    """Re-open a committed hour: one more part file with `events` new late events, then `_SUCCESS` again.

    The late events are created inside the hour and get ids ending in `pass_number` (1..9), so they are
    new to the hour and to every other hour; the same arguments always write the same object.
    """
    hour = parse_hour(hour)
    if not 1 <= pass_number <= MAX_PASSES:
        raise ValueError(f"pass_number must be in 1..{MAX_PASSES}")
    count = options.late_events_per_hour if events is None else events
    late = late_events(options, hour, count, pass_number)
    late.sort(key=itemgetter(0))
    late.sort(key=itemgetter(1))
    folder = hour_prefix(options.prefix, hour, options.layout)
    writer = _Writer(client, options)
    # A restarted Flink job: a new part-file uuid, counters from 0.
    writer.job_uuid = seeded_uuid(random.Random(f"{options.seed}:late-job:{iso_hour(hour)}:{pass_number}"))
    part_files = []
    if late:
        key = f"{folder}part-{writer.job_uuid}-0-0{writer.suffix}"
        part_files.append(writer._write_part(key, late, pass_number)[0])
    writer.put(folder + SUCCESS_NAME, b"")
    return LateRecommit(hour, part_files, folder + SUCCESS_NAME)
