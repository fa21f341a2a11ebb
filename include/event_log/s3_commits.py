"""Which hours Flink has committed in S3, and when: the one place the page and the watcher read S3.

An hour is committed when its folder holds `_SUCCESS`; its commit time is that object's LastModified
(written again when late data re-opens the hour). The folder layout comes from IngestConfig (one
module owns the hour); only `committed_hours` lists S3.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from include.event_log.config import SUCCESS_MARKER, IngestConfig, is_committed_part_file

HOUR = timedelta(hours=1)


@dataclass(frozen=True)
class HourCommit:
    hour: datetime
    committed_at: datetime
    files: int
    bytes: int
    folder: str

    def as_dict(self) -> dict[str, Any]:
        values = asdict(self)
        values["hour"] = self.hour.isoformat()
        values["committed_at"] = self.committed_at.isoformat()
        return values


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def hours_between(first: datetime, last: datetime) -> list[datetime]:
    """Every UTC hour start from `first`'s hour to `last`'s hour, both included."""
    hour = _utc(first).replace(minute=0, second=0, microsecond=0)
    end = _utc(last)
    hours = []
    while hour <= end:
        hours.append(hour)
        hour += HOUR
    return hours


def _day_prefixes(config: IngestConfig, hours: list[datetime]) -> list[str]:
    """The smallest set of key prefixes holding these hours' folders: one per day (YYYY/MM/DD/)."""
    prefixes: list[str] = []
    for hour in hours:
        day_prefix = config.hour_prefix(hour).rstrip("/").rsplit("/", 1)[0] + "/"
        if day_prefix not in prefixes:
            prefixes.append(day_prefix)
    return prefixes


def committed_hours(
    s3_client: Any, config: IngestConfig, first: datetime, last: datetime
) -> dict[datetime, HourCommit]:
    """The committed hours from `first` to `last` (hour starts, UTC, both included) with their commit
    time, committed part files and their bytes. One paginated listing per day of the window.

    `s3_client` is a boto3 S3 client (`S3Hook(...).get_conn()` in a task, the plugin or the triggerer).
    """
    hours = hours_between(first, last)
    folders = {config.hour_prefix(hour): hour for hour in hours}
    found: dict[datetime, dict[str, Any]] = {}
    paginator = s3_client.get_paginator("list_objects_v2")
    for day_prefix in _day_prefixes(config, hours):
        for page in paginator.paginate(Bucket=config.bucket, Prefix=day_prefix):
            for obj in page.get("Contents", []):
                folder, _, name = obj["Key"].rpartition("/")
                hour = folders.get(folder + "/")
                if hour is None:
                    continue
                entry = found.setdefault(hour, {"committed_at": None, "files": 0, "bytes": 0})
                if name == SUCCESS_MARKER:
                    entry["committed_at"] = _utc(obj["LastModified"])
                elif is_committed_part_file(name):
                    entry["files"] += 1
                    entry["bytes"] += int(obj["Size"])
    return {
        hour: HourCommit(
            hour,
            entry["committed_at"],
            entry["files"],
            entry["bytes"],
            f"s3://{config.bucket}/{config.hour_prefix(hour)}",
        )
        for hour, entry in sorted(found.items())
        if entry["committed_at"] is not None
    }
