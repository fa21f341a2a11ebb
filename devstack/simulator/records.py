"""One record as the spec writes it: the contract's fields and event types, the id scheme, the JSON line.

`event_log_id` is derived from the creation time: `(created_at in microseconds since 2020-01-01) * 10 +
pass`, where pass is 0 for the first commit of an hour and n for its n-th late re-commit. Ids are
therefore unique and increase with creation time, and late events can be made for any hour without
knowing the rest of the stream. Values stay below 2**53, so JSON readers that use doubles keep them.

A landed event, the tuple `render_line` writes, is `(created_us, landed_us, has_landed_at, context,
event_type, step_key, asset, partition, level, message, event_specific_data)` (see events.py).
"""

from __future__ import annotations

import json
import random
import time
import uuid
from json.encoder import encode_basestring_ascii as _escape

from include.event_log.contract import event_types, record_fields

# The contract's lists, written once in dbt/dbt_project.yml.
EVENT_TYPES = event_types()
RECORD_FIELDS = record_fields()

SECOND_US = 1_000_000
_ID_EPOCH_US = 1_577_836_800 * SECOND_US  # 2020-01-01T00:00:00Z
# The last digit of an id: 0 for an hour's first commit, 1..9 for its late re-commits.
MAX_PASSES = 9


def seeded_uuid(rng: random.Random) -> str:
    """A version-4 uuid drawn from `rng`, so that run ids and file names repeat with the seed."""
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


_JSON_TEXT: dict[str | None, str] = {None: "null"}


def json_text(value: str | None) -> str:
    """A short string (or None) as JSON text, cached: step keys, event types, partitions repeat a lot."""
    text = _JSON_TEXT.get(value)
    if text is None:
        if len(_JSON_TEXT) > 100_000:
            _JSON_TEXT.clear()
            _JSON_TEXT[None] = "null"
        text = _JSON_TEXT[value] = _escape(value)  # type: ignore[arg-type]
    return text


_SECOND_TEXT: dict[int, str] = {}


def _iso_us(us: int) -> str:
    """ISO-8601 UTC with microseconds; the seconds part is cached (many events share a second)."""
    seconds, fraction = divmod(us, SECOND_US)
    text = _SECOND_TEXT.get(seconds)
    if text is None:
        if len(_SECOND_TEXT) > 200_000:
            _SECOND_TEXT.clear()
        text = _SECOND_TEXT[seconds] = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
    return f"{text}.{fraction:06d}Z"


def event_log_id(created_us: int, pass_number: int = 0) -> int:
    """The id of an event created at `created_us` (epoch microseconds), written in commit pass n."""
    return (created_us - _ID_EPOCH_US) * 10 + pass_number


_encode_body = json.JSONEncoder().encode  # Dagster's serdes uses json.dumps defaults


def render_line(event: tuple, pass_number: int) -> str:
    """One record as one line. Formatted around pre-escaped fragments for speed; the output is exactly what
    json.dumps gives (compact separators for the record, default ones for `event_data`)."""
    created, landed, has_landed, ctx, etype, step_key, asset, partition, level, message, specific = event
    msg = _escape(message)
    step = json_text(step_key)
    if etype is None:
        dagster_event = "null"
    else:
        data = "null" if specific is None else _encode_body(specific)
        kind = "null" if step_key is None else '"COMPUTE"'
        dagster_event = (
            f'{{"__class__": "DagsterEvent", "event_specific_data": {data}, "event_type_value": "{etype}", '
            f'"message": {msg}, "pid": {ctx.pid_json}, "pipeline_name": {ctx.job_json}, "step_key": {step}, '
            f'"step_kind_value": {kind}}}'
        )
    body = (
        f'{{"__class__": "EventLogEntry", "dagster_event": {dagster_event}, "error_info": null, "level": {level}, '
        f'"message": {msg}, "pipeline_name": {ctx.job_json}, "run_id": {ctx.run_id_body}, "step_key": {step}, '
        f'"timestamp": {created / SECOND_US!r}, "user_message": {msg}}}'
    )
    asset_key = "null" if asset is None else asset.key_json_text
    landed_at = f',"landed_at":"{_iso_us(landed)}"' if has_landed else ""
    return (
        f'{{"event_log_id":{(created - _ID_EPOCH_US) * 10 + pass_number},{ctx.record_head},'
        f'"dagster_event_type":{json_text(etype)},"asset_key":{asset_key},"step_key":{step},'
        f'"partition":{json_text(partition)},"event_data":{_escape(body)},"created_at":"{_iso_us(created)}"'
        f"{landed_at}}}"
    )
