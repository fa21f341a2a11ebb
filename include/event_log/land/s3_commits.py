"""Which hours Flink has committed in S3, and when: the one place the page and the watcher read S3.

Whether an hour is committed is the hour layout's decision (include/event_log/land/hour_layout.py): its
`_SUCCESS`, or, for sinks that write none, a later hour's finished part files and the quiet period. The
commit time is `_SUCCESS`'s LastModified (written again when late data re-opens the hour), or without one
the newest finished part file's. Only `committed_hours` lists S3, one paginated listing per day.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from include.event_log.config import IngestConfig
from include.event_log.land.hour_layout import SUCCESS_MARKER, HourObjects, HourState, iter_hours, utc

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


def hours_between(first: datetime, last: datetime) -> list[datetime]:
    """Every UTC hour start from `first`'s hour to `last`'s hour, both included."""
    return list(iter_hours(first, utc(last) + timedelta(microseconds=1)))


def committed_hours(
    s3_client: Any, config: IngestConfig, first: datetime, last: datetime, now: datetime | None = None
) -> dict[datetime, HourCommit]:
    """The committed hours from `first` to `last` (hour starts, UTC, both included) with their commit
    time, finished part files and their bytes. One paginated listing per day, the day after included (a
    later hour decides when a sink writes no `_SUCCESS`).

    `s3_client` is a boto3 S3 client (`S3Hook(...).get_conn()` in a task, the plugin or the triggerer).
    """
    layout = config.layout
    hours = hours_between(first, last)
    names: dict[datetime, list[str]] = {}
    objects: dict[datetime, dict[str, dict[str, Any]]] = {}
    paginator = s3_client.get_paginator("list_objects_v2")
    day, end = hours[0].replace(hour=0), hours[-1] + timedelta(days=1)
    while day <= end:
        for page in paginator.paginate(Bucket=config.bucket, Prefix=layout.day_prefix(day)):
            for obj in page.get("Contents", []):
                if parsed := layout.parse_key(obj["Key"]):
                    names.setdefault(parsed.hour, []).append(parsed.name)
                    objects.setdefault(parsed.hour, {})[parsed.name] = obj
        day += timedelta(days=1)
    moment = now or datetime.now(UTC)
    commits = {}
    for hour in hours:
        if layout.completion_of(hour, names, moment).state is not HourState.COMMITTED:
            continue
        files = [objects[hour][name] for name in HourObjects.of(names[hour]).loadable]
        marker = objects[hour].get(SUCCESS_MARKER)
        committed_at = marker["LastModified"] if marker else max(f["LastModified"] for f in files)
        commits[hour] = HourCommit(
            hour,
            utc(committed_at),
            len(files),
            sum(int(f["Size"]) for f in files),
            layout.hour_uri(config.bucket, hour),
        )
    return commits
