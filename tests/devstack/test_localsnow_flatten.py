"""FLATTEN numbers array elements in array order, however many rows one query flattens."""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.timeout(120)


def test_flatten_index_follows_the_array_order_across_many_rows(localsnow):
    cur = localsnow.connect().cursor()
    cur.execute("CREATE OR REPLACE TABLE EVENT_LOG.RAW.ENTRIES (ID NUMBER, DOC VARIANT)")
    for i in range(300):
        doc = {"entries": [{"label": "first", "n": i}, {"label": "second", "n": -i}, {"label": "third"}]}
        params = {"id": i, "doc": json.dumps(doc)}
        cur.execute("INSERT INTO EVENT_LOG.RAW.ENTRIES SELECT %(id)s, PARSE_JSON(%(doc)s)", params)
    rows = cur.execute(
        "SELECT e.ID, f.INDEX, f.VALUE:label::VARCHAR FROM EVENT_LOG.RAW.ENTRIES e, "
        "LATERAL FLATTEN(INPUT => e.DOC:entries) f"
    ).fetchall()
    assert len(rows) == 900
    assert {(index, label) for _, index, label in rows} == {(0, "first"), (1, "second"), (2, "third")}
    keys = cur.execute(
        "SELECT f.KEY, f.INDEX FROM EVENT_LOG.RAW.ENTRIES e, LATERAL FLATTEN(INPUT => e.DOC) f WHERE e.ID = 1"
    ).fetchall()
    assert keys == [("entries", None)], "objects flatten to keys, with no index"
