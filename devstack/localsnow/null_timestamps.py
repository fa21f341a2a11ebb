"""NULL timestamps through the server: fakesnow 0.12 sends them as 1970-01-01; send them as NULL.

fakesnow encodes a timestamp column as Snowflake's {epoch, fraction} struct, but builds the struct without a
validity bitmap, so a NULL timestamp reaches the connector as a valid struct holding 0, i.e. the epoch. The
connector checks the struct's validity, so it is enough to carry the column's nulls over to the struct.
"""

from __future__ import annotations

import fakesnow.arrow
import pyarrow as pa
import pyarrow.compute as pc

_fakesnow_timestamp_to_sf_struct = fakesnow.arrow.timestamp_to_sf_struct


def install() -> None:
    """Replace fakesnow.arrow.timestamp_to_sf_struct, which fakesnow.arrow.to_sf looks up at call time."""
    fakesnow.arrow.timestamp_to_sf_struct = timestamp_to_sf_struct


def timestamp_to_sf_struct(ts: pa.Array | pa.ChunkedArray) -> pa.Array:
    struct = _fakesnow_timestamp_to_sf_struct(ts)
    if isinstance(ts, pa.ChunkedArray):
        ts = ts.combine_chunks()
    if ts.null_count == 0:
        return struct
    # The struct's fields are declared non-nullable, so the children hold 0 where the struct is NULL.
    children = [pc.fill_null(struct.field(i), 0) for i in range(struct.type.num_fields)]
    return pa.StructArray.from_arrays(children, fields=list(struct.type), mask=ts.is_null())
