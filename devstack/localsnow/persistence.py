"""A FakeSnow whose whole state lives in one data directory and survives restarts.

fakesnow's server uses an in-memory instance and ignores its db_path. Here:

- every database is a DuckDB file `<data dir>/<NAME>.db` (fakesnow's own db_path layout), and the files
  found there at start are attached again, so tables and rows, schemas included, come back;
- `_fs_global`, where fakesnow keeps stages, file formats, comments and users, is attached from
  `<data dir>/_fs_global.db` instead of memory, and holds localsnow's external-table registry too;
- files PUT to internal stages go under `<data dir>/internal_stages/` instead of a temp dir.

On shutdown every open session is closed (their uncommitted work rolls back, as when a Snowflake session
ends) and every database is checkpointed before the instance closes, so nothing committed is left only in a WAL.
"""

from __future__ import annotations

import logging
from contextlib import suppress
from pathlib import Path

import duckdb
import fakesnow.transforms.stage
from fakesnow import info_schema, macros
from fakesnow.instance import GLOBAL_DATABASE_NAME, FakeSnow
from fakesnow.transforms import show

from devstack.localsnow import external_tables, grants, stages, table_comments

log = logging.getLogger(__name__)


def open_instance(data_dir: Path) -> FakeSnow:
    data_dir = data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    fs = FakeSnow(db_path=data_dir)
    con = fs.duck_conn
    # Big loads may spill to disk: into the data dir, not DuckDB's default `.tmp` in the working directory.
    con.execute(f"SET temp_directory = {_literal(data_dir / 'tmp')}")
    # Columns are written zstd-compressed: DuckDB's default choice for long JSON text (dictionary + FSST) made
    # writing a loaded hour cost about three times as much as with zstd (1.6 s vs 0.57 s for 0.5 GB of
    # events), for a six times bigger file. Real Snowflake compresses its own way; this is the emulator's cost.
    con.execute("SET force_compression = 'zstd'")

    con.execute(f"DETACH {GLOBAL_DATABASE_NAME}")
    con.execute(f"ATTACH {_literal(data_dir / (GLOBAL_DATABASE_NAME + '.db'))} AS {GLOBAL_DATABASE_NAME}")
    # The same idempotent DDL FakeSnow ran on the in-memory one: creates what a new file lacks.
    con.execute(info_schema.fs_global_creation_sql())
    con.execute(show.fs_global_creation_sql())
    external_tables.create_registry(con)
    stages.create_registry(con)
    grants.create_registry(con)
    table_comments.create_views(con)

    for db_file in sorted(data_dir.glob("*.db")):
        name = db_file.stem
        if name == GLOBAL_DATABASE_NAME:
            continue
        # What fakesnow runs when a session creates a database with a db_path.
        con.execute(f'ATTACH {_literal(db_file)} AS "{name}"')
        con.execute(info_schema.per_db_creation_sql(name))
        con.execute(macros.creation_sql(name))
        log.info("attached database %s from %s", name, db_file)

    internal_stages = data_dir / "internal_stages"
    internal_stages.mkdir(exist_ok=True)
    fakesnow.transforms.stage.LOCAL_BUCKET_PATH = str(internal_stages)
    return fs


def close_instance(fs: FakeSnow, session_connections: list) -> None:
    """Close the sessions (rolling back what they left open), checkpoint every database, close DuckDB."""
    for conn in session_connections:
        with suppress(Exception):
            conn.close()
    con = fs.duck_conn
    databases = [
        row[0]
        for row in con.execute(
            "SELECT database_name FROM duckdb_databases() WHERE path IS NOT NULL AND NOT internal"
        ).fetchall()
    ]
    for name in databases:
        try:
            con.execute(f'CHECKPOINT "{name}"')
        except duckdb.Error as error:
            log.warning("checkpoint of %s failed: %s (its WAL is replayed at the next start)", name, error)
    con.close()
    log.info("checkpointed and closed %s", ", ".join(databases))


def _literal(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"
