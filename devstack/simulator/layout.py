"""What the writer and the reader both name: hours, hour folders, the objects in them, a malformed line.

The folder of an hour comes from include/event_log/land/hour_layout.py; this adds the names of the by-products the
simulator writes (`_SUCCESS`, multipart temp objects). The reader (`reader.py`) imports this module and
nothing else of the simulator, so whatever it reads back is read from S3, not from the writer's state.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from include.event_log.land.hour_layout import HourLayout, Layout, ObjectKind
from include.event_log.land.hour_layout import classify_object as classify_in_hour

_UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
# Object names inside an hour folder (match with fullmatch on the last path segment).
MULTIPART_TMP_RE = re.compile(rf"_.+_tmp_{_UUID}")
SUCCESS_NAME = "_SUCCESS"

HOUR = timedelta(hours=1)


def parse_hour(value: str | datetime) -> datetime:
    """A UTC hour start from a datetime or ISO-8601 text (`2025-08-01T06:00Z`); naive means UTC."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value.strip())
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    value = value.astimezone(UTC)
    if value.minute or value.second or value.microsecond:
        raise ValueError(f"not aligned to the hour: {value.isoformat()}")
    return value


def hour_prefix(prefix: str, hour: datetime, layout: str = Layout.HIVE) -> str:
    """The hour's folder as an S3 key prefix: `<prefix>/YYYY/MM/DD/HH/` or `<prefix>/dt=YYYY-MM-DD/hr=HH/`."""
    return HourLayout(Layout(layout), prefix).hour_prefix(parse_hour(hour))


def classify_object(key: str) -> str:
    """What an object in an hour folder is: `part`, `in_progress`, `multipart_tmp`, `success` or `other`.

    Whether it is loaded at all is include/event_log/land/hour_layout.py's decision (by the name inside the
    hour folder); this only names the by-product kinds the simulator writes.
    """
    name = key.rsplit("/", 1)[-1]
    kind = classify_in_hour(name)
    if kind is ObjectKind.LOADABLE:
        return "part"
    if kind is ObjectKind.UNEXPECTED:
        return "other"
    if name == SUCCESS_NAME:
        return "success"
    if MULTIPART_TMP_RE.fullmatch(name):
        return "multipart_tmp"
    if ".inprogress" in name:
        return "in_progress"
    return "other"


def iso_hour(hour: datetime) -> str:
    """An hour start as text (`2025-08-01T06:00:00Z`): in messages, seeds and manifests."""
    return hour.strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class MalformedLine:
    key: str
    line_number: int  # 1-based, in the decompressed file
    kind: str  # "not_json" or "truncated" (last line of a file, cut, no trailing newline)
