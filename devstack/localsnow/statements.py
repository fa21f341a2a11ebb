"""The one hook into fakesnow's statement execution: route the statements localsnow implements.

`FakeSnowflakeCursor.execute` is wrapped. A statement localsnow implements (COPY of JSON from an S3 stage,
CREATE / ALTER ... REFRESH / DROP EXTERNAL TABLE; the catalog statements of stages.py, table_comments.py,
external_table_catalog.py and grants.py) is run here; every other statement, and a COPY localsnow leaves
alone, goes to fakesnow's own `execute` unchanged. A query of TABLE(VALIDATE(...)) is refused as not
implemented (localsnow keeps no rejected lines of a COPY), where fakesnow would call it a syntax error.
"""

from __future__ import annotations

import functools
import logging
import re
from typing import Any

import duckdb
import snowflake.connector.errors
import sqlglot
from fakesnow.cursor import FakeSnowflakeCursor
from sqlglot import exp
from sqlglot.errors import ParseError

from devstack.localsnow import copy_transform, external_table_catalog, external_tables, grants, stages, table_comments
from devstack.localsnow import fakesnow_bridge as bridge

log = logging.getLogger(__name__)

_fakesnow_execute = FakeSnowflakeCursor.execute
_EXTERNAL_TABLE = re.compile(r"\s*EXTERNAL\s+TABLE\b", re.IGNORECASE)
# Each returns the function that runs a statement of its own (cursor, fakesnow's execute) -> handled, or None.
CATALOG_HANDLERS = (stages.handler, table_comments.handler, external_table_catalog.handler, grants.handler)


def install() -> None:
    """Wrap FakeSnowflakeCursor.execute (idempotent)."""
    if FakeSnowflakeCursor.execute is not execute:
        FakeSnowflakeCursor.execute = execute  # type: ignore[method-assign]


def execute(
    self: FakeSnowflakeCursor, command: str, params: Any = None, *args: Any, **kwargs: Any
) -> FakeSnowflakeCursor:
    sql = bridge.client_side_sql(self, command, params, kwargs.get("binding_params"))
    expression = _parse(sql) if sql is not None else None
    if expression is None or sql is None:
        return _fakesnow_execute(self, command, params, *args, **kwargs)
    catalog = next((h for h in (find(expression, sql) for find in CATALOG_HANDLERS) if h is not None), None)
    if catalog is None and not _is_localsnow_statement(expression):
        return _fakesnow_execute(self, command, params, *args, **kwargs)
    try:
        bridge.set_sqlstate(self, None)
        run_snowflake_sql = functools.partial(_fakesnow_execute, self)
        if catalog(self, run_snowflake_sql) if catalog else _run(self, expression, sql, run_snowflake_sql):
            return self
        return _fakesnow_execute(self, command, params, *args, **kwargs)
    except snowflake.connector.errors.ProgrammingError as error:
        bridge.set_sqlstate(self, error.sqlstate)
        raise
    except NotImplementedError as error:
        raise snowflake.connector.errors.ProgrammingError(
            msg=f"{error} is not implemented by the local Snowflake (devstack.localsnow)", errno=9999, sqlstate="99999"
        ) from error
    except duckdb.Error as error:
        raise snowflake.connector.errors.ProgrammingError(
            msg=str(error).split("\n")[0], errno=100038, sqlstate="22000"
        ) from error


def _parse(command: str) -> exp.Expr | None:
    try:
        return sqlglot.parse_one(command, read="snowflake")
    except (ParseError, ValueError):
        return None  # fakesnow reports the syntax error its own way


def _is_localsnow_statement(expression: exp.Expr) -> bool:
    if isinstance(expression, exp.Copy) or _reads_validate(expression):
        return True
    if isinstance(expression, exp.Create):
        return any(isinstance(p, exp.ExternalProperty) for p in expression.args.get("properties") or [])
    if isinstance(expression, exp.Command):
        return expression.name.upper() in ("ALTER", "DROP") and bool(_EXTERNAL_TABLE.match(str(expression.expression)))
    return False


def _reads_validate(expression: exp.Expr) -> bool:
    return any(
        isinstance(f.this, exp.Anonymous) and f.this.name.upper() == "VALIDATE"
        for f in expression.find_all(exp.TableFromRows)
    )


def _run(cursor: FakeSnowflakeCursor, expression: exp.Expr, command: str, run_snowflake_sql: Any) -> bool:
    """Run a localsnow statement; False hands it back to fakesnow."""
    if _reads_validate(expression):
        raise NotImplementedError("TABLE(VALIDATE(...)) (localsnow keeps no rejected lines of a COPY)")
    if isinstance(expression, exp.Copy):
        return copy_transform.copy_into(cursor, expression)
    if isinstance(expression, exp.Create):
        external_tables.create(cursor, expression, command, run_snowflake_sql)
        return True
    if isinstance(expression, exp.Command) and expression.name.upper() == "ALTER":
        external_tables.alter(cursor, str(expression.expression))
        return True
    external_tables.drop(cursor, str(expression.expression))
    return True
