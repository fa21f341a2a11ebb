"""What the writer says it wrote (`Manifest`), hour by hour and object by object: the writer's claim.

Tests hold it against what `reader.py` reads back from S3 on its own.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from devstack.simulator.layout import MalformedLine, iso_hour, parse_hour
from devstack.simulator.options import SimulationOptions


@dataclass
class PartFileManifest:
    key: str
    pass_number: int  # 0: the hour's first commit; n: its n-th late re-commit
    lines: int
    records: int
    event_log_ids: list[int]  # in line order, copies included
    malformed_lines: list[MalformedLine]
    size_bytes: int  # as stored (compressed when gzip)


@dataclass
class HourManifest:
    hour: datetime
    hour_prefix: str
    committed: bool
    success_key: str | None
    success_writes: int
    part_files: list[PartFileManifest] = field(default_factory=list)
    ignored_keys: list[str] = field(default_factory=list)
    late_event_log_ids: list[int] = field(default_factory=list)
    # The events whose only line in this hour is a truncated one (lost unless re-delivered).
    truncated_event_log_ids: list[int] = field(default_factory=list)
    # Ids on more than one line of this hour / also in another hour of the manifest.
    duplicate_ids_within_hour: list[int] = field(default_factory=list)
    duplicate_ids_across_hours: list[int] = field(default_factory=list)

    @property
    def part_keys(self) -> list[str]:
        return [f.key for f in self.part_files]

    @property
    def lines(self) -> int:
        return sum(f.lines for f in self.part_files)

    @property
    def records(self) -> int:
        return sum(f.records for f in self.part_files)

    @property
    def malformed_lines(self) -> list[MalformedLine]:
        return [m for f in self.part_files for m in f.malformed_lines]

    @property
    def event_log_ids(self) -> list[int]:
        return [i for f in self.part_files for i in f.event_log_ids]

    @property
    def distinct_event_log_ids(self) -> set[int]:
        return set(self.event_log_ids)

    def to_dict(self, include_event_log_ids: bool = True) -> dict[str, Any]:
        def part(f: PartFileManifest) -> dict[str, Any]:
            out: dict[str, Any] = {
                "key": f.key,
                "pass_number": f.pass_number,
                "lines": f.lines,
                "records": f.records,
                "malformed_lines": [vars(m) for m in f.malformed_lines],
                "size_bytes": f.size_bytes,
            }
            if include_event_log_ids:
                out["event_log_ids"] = f.event_log_ids
            return out

        return {
            "hour": iso_hour(self.hour),
            "hour_prefix": self.hour_prefix,
            "committed": self.committed,
            "success_key": self.success_key,
            "success_writes": self.success_writes,
            "lines": self.lines,
            "records": self.records,
            "malformed_line_count": len(self.malformed_lines),
            "distinct_event_log_ids": len(self.distinct_event_log_ids),
            "part_files": [part(f) for f in self.part_files],
            "ignored_keys": self.ignored_keys,
            "late_event_log_ids": self.late_event_log_ids,
            "truncated_event_log_ids": self.truncated_event_log_ids,
            "duplicate_ids_within_hour": self.duplicate_ids_within_hour,
            "duplicate_ids_across_hours": self.duplicate_ids_across_hours,
        }


@dataclass
class Manifest:
    options: SimulationOptions
    hours: list[HourManifest]

    def hour(self, hour: datetime | str) -> HourManifest:
        wanted = parse_hour(hour)
        return next(h for h in self.hours if h.hour == wanted)

    @property
    def records(self) -> int:
        return sum(h.records for h in self.hours)

    @property
    def distinct_event_log_ids(self) -> set[int]:
        return {i for h in self.hours for i in h.event_log_ids}

    @property
    def duplicate_event_log_ids(self) -> list[int]:
        counts = Counter(i for h in self.hours for i in h.event_log_ids)
        return sorted(i for i, n in counts.items() if n > 1)

    def to_dict(self, include_event_log_ids: bool = True) -> dict[str, Any]:
        return {
            "bucket": self.options.bucket,
            "prefix": self.options.prefix,
            "options": self.options.to_dict(),
            "records": self.records,
            "distinct_event_log_ids": len(self.distinct_event_log_ids),
            "duplicate_event_log_ids": self.duplicate_event_log_ids,
            "hours": [h.to_dict(include_event_log_ids) for h in self.hours],
        }

    def to_json(self, include_event_log_ids: bool = True, indent: int | None = None) -> str:
        return json.dumps(self.to_dict(include_event_log_ids), indent=indent)


@dataclass
class LateRecommit:
    hour: datetime
    part_files: list[PartFileManifest]
    success_key: str

    @property
    def event_log_ids(self) -> list[int]:
        return [i for f in self.part_files for i in f.event_log_ids]


def mark_duplicates(hours: list[HourManifest]) -> None:
    """Fill in each hour's ids found on more than one line of it, and those also in another hour."""
    hours_of: dict[int, int] = Counter()
    for h in hours:
        for i in h.distinct_event_log_ids:
            hours_of[i] += 1
    for h in hours:
        counts = Counter(h.event_log_ids)
        h.duplicate_ids_within_hour = sorted(i for i, n in counts.items() if n > 1)
        h.duplicate_ids_across_hours = sorted(i for i in counts if hours_of[i] > 1)
