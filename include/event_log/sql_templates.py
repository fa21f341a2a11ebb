"""Render the SQL files of include/sql/ with validated identifiers; values stay bound parameters."""

from __future__ import annotations

from functools import cache

import jinja2

from include.event_log.config import SQL_DIR


@cache
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(SQL_DIR),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=False,
        autoescape=False,
    )


def render_sql(name: str, **context: object) -> str:
    """Render include/sql/<name> (e.g. `ingest/copy_hour_files.sql`) and drop its comment lines."""
    text = _environment().get_template(name).render(**context)
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("--")]
    return "\n".join(lines).strip()
