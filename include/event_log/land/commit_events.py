"""The committed hours that the S3 watcher's asset events report (see plugins/event_log_watchers.py)."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

log = logging.getLogger(__name__)


def committed_hours_of_events(events: Iterable[Any]) -> list[dict[str, Any]]:
    """One entry per event from the watcher (others, e.g. sent through the REST API, are skipped),
    in hour order; logs each hour and warns on a re-commit (late data)."""
    hours = []
    for event in events:
        extra = dict(event.extra or {})
        payload = extra.get("payload")
        if not extra.get("from_trigger") or not isinstance(payload, dict) or "hour" not in payload:
            log.info("Skipping asset event %s: not from the committed-hours watcher", extra)
            continue
        hours.append(payload)
    hours.sort(key=lambda payload: (payload["hour"], payload["committed_at"]))
    for payload in hours:
        level = logging.WARNING if payload.get("recommitted") else logging.INFO
        log.log(level, "Hour %s %s at %s: %s files, %s bytes in %s", payload["hour"],
                "RE-COMMITTED (late data)" if payload.get("recommitted") else "committed",
                payload["committed_at"], payload["files"], payload["bytes"], payload["folder"])  # fmt: skip
    return hours
