"""Table and column comments as Snowflake keeps them, and SHOW TABLES reporting them.

fakesnow 0.12 keeps a table's COMMENT (in `_fs_tables_ext`) but inlined it into SQL unescaped, so a comment with
an apostrophe failed the statement; it drops column comments (CREATE TABLE ... c T COMMENT '...',
ALTER TABLE ... ADD COLUMN c T COMMENT '...', ALTER TABLE ... ALTER COLUMN c COMMENT '...'), reports no column
comment in DESCRIBE TABLE and an empty comment for every table in SHOW TABLES. Here:

- table comments are escaped (fakesnow_bridge.escape_table_comments);
- column comments are DuckDB's own column comments (`COMMENT ON COLUMN`), so they persist with the table and
  fakesnow's information schema already reads them; DESCRIBE TABLE reports them, and the columns of a table in
  another database than the session's (fakesnow found none there) (fakesnow_bridge.describe_table_fixes);
- SHOW TABLES reports each table's comment, its row count as DuckDB estimates it, and `is_external` = Y for the
  tables that materialize an external table (external_tables.py), as Snowflake lists external tables there too;
- CREATE OR REPLACE TABLE (with column definitions) forgets the grants on the table it replaces, as Snowflake
  does (grants.py); CREATE OR REPLACE TABLE ... AS SELECT stays fakesnow's own.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import duckdb
from sqlglot import exp

from devstack.localsnow import fakesnow_bridge as bridge
from devstack.localsnow import grants

if TYPE_CHECKING:
    from collections.abc import Callable

    from fakesnow.cursor import FakeSnowflakeCursor

# fakesnow's view with the comment, the row estimate and is_external filled in (same columns, same order).
SHOW_TABLES_VIEW_SQL = """
CREATE OR REPLACE VIEW _fs_global._fs_information_schema._fs_show_tables AS
SELECT
    to_timestamp(0)::timestamptz AS created_on, t.table_name AS name, 'TABLE' AS kind,
    t.table_catalog AS database_name, t.table_schema AS schema_name,
    coalesce(ext.comment, '') AS comment, '' AS cluster_by,
    coalesce(d.estimated_size, 0) AS rows, 0 AS bytes, 'SYSADMIN' AS owner, 1 AS retention_time,
    'OFF' AS automatic_clustering, 'OFF' AS change_tracking, 'OFF' AS search_optimization,
    NULL AS search_optimization_progress, NULL AS search_optimization_bytes,
    CASE WHEN x.name IS NULL THEN 'N' ELSE 'Y' END AS is_external,
    'N' AS enable_schema_evolution, 'ROLE' AS owner_role_type, 'N' AS is_event, NULL AS budget,
    'N' AS is_hybrid, 'N' AS is_iceberg, 'N' AS is_dynamic, 'N' AS is_immutable
FROM information_schema.tables t
LEFT JOIN _fs_global._fs_information_schema._fs_tables_ext ext
    ON ext.ext_table_catalog = t.table_catalog AND ext.ext_table_schema = t.table_schema
    AND ext.ext_table_name = t.table_name
LEFT JOIN duckdb_tables() d
    ON d.database_name = t.table_catalog AND d.schema_name = t.table_schema AND d.table_name = t.table_name
LEFT JOIN _fs_global._localsnow.external_tables x
    ON x.database_name = t.table_catalog AND x.schema_name = t.table_schema AND x.name = t.table_name
WHERE NOT (t.table_schema = '_fs_information_schema') AND t.table_type = 'BASE TABLE'
"""


def install() -> None:
    bridge.escape_table_comments()
    bridge.describe_table_fixes()


def create_views(con: duckdb.DuckDBPyConnection) -> None:
    """After fakesnow's own views and localsnow's registries exist."""
    con.execute(SHOW_TABLES_VIEW_SQL)


def handler(expression: exp.Expr, sql: str) -> Callable[[FakeSnowflakeCursor, Callable[[str], Any]], bool] | None:
    if (
        isinstance(expression, exp.Create)
        and str(expression.args.get("kind") or "").upper() == "TABLE"
        and isinstance(expression.this, exp.Schema)  # column definitions: not CREATE TABLE ... AS SELECT (dbt's)
        and not any(isinstance(p, exp.ExternalProperty) for p in _properties(expression))
    ):
        columns = [c for c in expression.this.expressions if isinstance(c, exp.ColumnDef)]
        comments = [(c.this, _comment(c)) for c in columns if _comment(c) is not None]
        if comments or expression.args.get("replace"):
            return lambda cursor, run_snowflake_sql: _create(cursor, expression, sql, comments, run_snowflake_sql)
    if isinstance(expression, exp.Alter) and str(expression.args.get("kind") or "").upper() == "TABLE":
        comments = []
        for action in expression.args.get("actions") or []:
            if isinstance(action, exp.ColumnDef) and _comment(action) is not None:
                comments.append((action.this, _comment(action)))
            elif isinstance(action, exp.AlterColumn) and action.args.get("comment") is not None:
                comments.append((action.this, action.args["comment"].name))
        if comments:
            return lambda cursor, run_snowflake_sql: _alter(cursor, expression, sql, comments, run_snowflake_sql)
    return None


def _create(
    cursor: FakeSnowflakeCursor,
    expression: exp.Create,
    sql: str,
    comments: list[tuple[exp.Identifier, str]],
    run_snowflake_sql: Any,
) -> bool:
    table = _table(cursor, expression.find(exp.Table))
    existed = _exists(bridge.duck(cursor), table)
    run_snowflake_sql(sql)
    if existed and not expression.args.get("replace"):
        return True  # IF NOT EXISTS: the existing table and its comments stay as they are
    if existed:
        with bridge.ddl_transaction(cursor) as con:
            grants.forget(con, "TABLE", table)
    _comment_columns(cursor, table, comments)
    return True


def _alter(
    cursor: FakeSnowflakeCursor,
    expression: exp.Alter,
    sql: str,
    comments: list[tuple[exp.Identifier, str]],
    run_snowflake_sql: Any,
) -> bool:
    table = _table(cursor, expression.find(exp.Table))
    run_snowflake_sql(sql)  # fakesnow adds the columns (and drops the comments); errors if the table is missing
    _comment_columns(cursor, table, comments)
    return True


def _comment_columns(
    cursor: FakeSnowflakeCursor, table: tuple[str, str, str], comments: list[tuple[exp.Identifier, str]]
) -> None:
    if not comments:
        return
    with bridge.ddl_transaction(cursor) as con, bridge.duckdb_errors():
        for identifier, comment in comments:
            column = identifier.this if identifier.quoted else identifier.this.upper()
            target = ".".join(exp.to_identifier(part, quoted=True).sql(dialect="duckdb") for part in (*table, column))
            # DuckDB's COMMENT ON takes no bound value: the literal is quoted and escaped by sqlglot.
            con.execute(f"COMMENT ON COLUMN {target} IS {exp.Literal.string(comment).sql(dialect='duckdb')}")


def _properties(expression: exp.Create) -> list[exp.Expr]:
    return list((expression.args.get("properties") or exp.Properties()).expressions)


def _comment(column: exp.ColumnDef) -> str | None:
    constraint = column.find(exp.CommentColumnConstraint)
    return constraint.this.name if constraint is not None else None


def _table(cursor: FakeSnowflakeCursor, table: exp.Table) -> tuple[str, str, str]:
    conn = bridge.session(cursor)
    return bridge.qualified_name(table, conn.database, conn.schema)


def _exists(con: duckdb.DuckDBPyConnection, table: tuple[str, str, str]) -> bool:
    return bool(
        con.execute(
            "SELECT 1 FROM duckdb_tables() WHERE database_name = ? AND schema_name = ? AND table_name = ?", list(table)
        ).fetchone()
    )
