"""FLATTEN's INDEX in array order: fakesnow 0.12 numbers array elements with `row_number() OVER ()`,
which DuckDB does not tie to the array's order once several rows are flattened in one query (the
dbt model of materialization metadata then reads entry 1 as entry 0). Number them from the list
position instead, as Snowflake does.
"""

from __future__ import annotations

from string import Template

import fakesnow.macros

ORDERED_FLATTEN = Template(
    """
CREATE OR REPLACE MACRO ${catalog}._fs_flatten(input) AS TABLE
    SELECT
        hash(TO_JSON(input))::UBIGINT AS SEQ,
        e.k AS KEY,
        COALESCE(e.k, '[' || e.i || ']') AS PATH,
        e.i AS INDEX,
        e.v AS VALUE,
        TO_JSON(input) AS THIS
    FROM (
        SELECT UNNEST(
            CASE WHEN json_type(TO_JSON(input)) = 'OBJECT'
                 THEN list_transform(
                    json_keys(TO_JSON(input)),
                    lambda x: struct_pack(k := x, v := CAST(TO_JSON(input) -> x AS JSON), i := NULL::BIGINT)
                 )
                 ELSE list_transform(
                    CAST(TO_JSON(input) AS JSON[]),
                    lambda x, position: struct_pack(k := NULL::VARCHAR, v := x, i := (position - 1)::BIGINT)
                 )
            END, recursive := true
        )
    ) AS e(k, v, i)
    """
)


def install() -> None:
    """Replace the macro fakesnow creates in every database it attaches (looked up at call time)."""
    fakesnow.macros.FS_FLATTEN = ORDERED_FLATTEN
