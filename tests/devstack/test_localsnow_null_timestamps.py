"""NULL timestamps come back through the server as None, not as 1970-01-01 (a fakesnow 0.12 gap)."""

from __future__ import annotations

import datetime

import pytest

pytestmark = pytest.mark.timeout(120)


def test_null_timestamp_ntz_round_trips_as_none(localsnow):
    cur = localsnow.connect().cursor()
    cur.execute("CREATE TABLE T (ID NUMBER, TS TIMESTAMP_NTZ, TZ TIMESTAMP_TZ)")
    cur.execute("INSERT INTO T VALUES (1, '2025-08-01 03:00:00.123456', '2025-08-01 03:00:00+00'), (2, NULL, NULL)")

    rows = cur.execute("SELECT ID, TS, TZ FROM T ORDER BY ID").fetchall()

    assert rows[0][1] == datetime.datetime(2025, 8, 1, 3, 0, 0, 123456)
    assert rows[0][2] == datetime.datetime(2025, 8, 1, 3, tzinfo=datetime.UTC)
    assert rows[1] == (2, None, None)
    assert cur.execute("SELECT NULL::TIMESTAMP_NTZ, MAX(TS) FROM T WHERE ID = 2").fetchall() == [(None, None)]
