"""What to land (`SimulationOptions`): the window of hours, the volume, the layout and the dirt, validated."""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import UTC, datetime
from typing import Any

from devstack.simulator.layout import HOUR, iso_hour, parse_hour
from include.event_log.land.hour_layout import HourLayout, Layout

_HOUR_LIST_OPTIONS = ("empty_hours", "uncommitted_hours", "late_hours", "malformed_hours", "duplicate_hours")


@dataclass(frozen=True)
class SimulationOptions:
    """What to land. Hour lists take datetimes or ISO text; they are normalized to UTC hour starts."""

    bucket: str
    prefix: str = "event_log"
    # `hive` (dt=YYYY-MM-DD/hr=HH/, part files without extension, empty hours without a folder) or `plain`
    # (YYYY/MM/DD/HH/, .jsonl part files, empty hours committed with _SUCCESS alone).
    layout: str = Layout.HIVE
    seed: int = 42
    # The hours to land: the `hours` hours before `end_hour` (exclusive).
    end_hour: datetime | str = datetime(2025, 8, 1, 6, tzinfo=UTC)
    hours: int = 6
    # Approximate: whole runs are generated at a rate that gives this many events per hour.
    events_per_hour: int = 2000
    # Part files per hour across `parallelism` sink subtasks (files without events are not written).
    files_per_hour: int = 3
    parallelism: int = 4
    gzip: bool = False
    organizations: int = 3
    deployments_per_organization: int = 2
    missing_landed_at_fraction: float = 0.01
    # Pairs of (in-progress object, multipart temp object) per non-empty hour.
    ignored_objects_per_hour: int = 1
    # `_SUCCESS` and nothing else; events that would have landed there are not written at all.
    empty_hours: tuple[datetime, ...] = ()
    # Part files (and ignored objects) but no `_SUCCESS`.
    uncommitted_hours: tuple[datetime, ...] = ()
    # After the first commit, one more part file with new late events, then `_SUCCESS` again.
    late_hours: tuple[datetime, ...] = ()
    late_events_per_hour: int = 40
    # Non-JSON lines at random places, and (if `truncated_last_line`) one file ending in a cut line.
    malformed_hours: tuple[datetime, ...] = ()
    non_json_lines_per_hour: int = 2
    truncated_last_line: bool = True
    # Records of the hour written again (same bytes) in another file of the hour and in the next hour.
    duplicate_hours: tuple[datetime, ...] = ()
    duplicates_per_hour: int = 5

    def __post_init__(self) -> None:
        object.__setattr__(self, "end_hour", parse_hour(self.end_hour))
        object.__setattr__(self, "prefix", self.prefix.strip("/"))
        object.__setattr__(self, "layout", Layout(self.layout).value)
        for name in _HOUR_LIST_OPTIONS:
            object.__setattr__(self, name, tuple(sorted({parse_hour(h) for h in getattr(self, name)})))
        self._validate()

    @property
    def hour_layout(self) -> HourLayout:
        return HourLayout(Layout(self.layout), self.prefix)

    @property
    def hour_starts(self) -> list[datetime]:
        return [self.end_hour - HOUR * (self.hours - i) for i in range(self.hours)]

    def _validate(self) -> None:
        def require(condition: bool, message: str) -> None:
            if not condition:
                raise ValueError(message)

        require(self.hours >= 1, "hours must be >= 1")
        require(self.events_per_hour >= 0, "events_per_hour must be >= 0")
        require(self.files_per_hour >= 1, "files_per_hour must be >= 1")
        require(self.parallelism >= 1, "parallelism must be >= 1")
        require(self.organizations >= 1 and self.deployments_per_organization >= 1, "need a deployment")
        require(0.0 <= self.missing_landed_at_fraction <= 1.0, "missing_landed_at_fraction is a fraction")
        require(
            min(self.late_events_per_hour, self.non_json_lines_per_hour, self.duplicates_per_hour) >= 0, "counts >= 0"
        )
        window = set(self.hour_starts)
        for name in _HOUR_LIST_OPTIONS:
            outside = [iso_hour(h) for h in getattr(self, name) if h not in window]
            require(not outside, f"{name} outside the landed hours: {outside}")
        empty, uncommitted = set(self.empty_hours), set(self.uncommitted_hours)
        require(not empty & uncommitted, "an hour cannot be both empty and uncommitted")
        require(not set(self.late_hours) & uncommitted, "a late re-commit needs a committed hour")
        require(not set(self.malformed_hours) & empty, "malformed_hours cannot be empty hours")
        for hour in self.duplicate_hours:
            following = hour + HOUR
            require(hour not in empty, "duplicate_hours cannot be empty hours")
            require(following in window, f"duplicate hour {iso_hour(hour)} needs the next hour landed too")
            require(following not in empty, f"the hour after duplicate hour {iso_hour(hour)} is empty")
        require(not self.duplicate_hours or self.files_per_hour >= 2, "duplicates need files_per_hour >= 2")

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, datetime):
                value = iso_hour(value)
            elif isinstance(value, tuple):
                value = [iso_hour(v) for v in value]
            out[f.name] = value
        return out
