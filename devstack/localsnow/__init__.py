"""localsnow: the local Snowflake of the project's local stack.

fakesnow's Snowflake HTTP server, plus what this project's SQL needs and fakesnow lacks, so that the same
SQL runs unchanged on Snowflake and locally:

- persistence of everything in a data directory across restarts (persistence.py);
- S3 stages read from the local S3 through an fsspec filesystem registered on DuckDB (storage.py);
- external tables with CREATE / ALTER ... REFRESH / DROP (external_tables.py);
- COPY INTO from JSON-lines files with a transformation, METADATA$ columns and ON_ERROR = ABORT_STATEMENT
  (the default) or CONTINUE, what the package's COPY uses (copy_transform.py, jsonl.py); not SKIP_FILE
  nor TABLE(VALIDATE(...)), which are refused with an error saying so;
- NULL timestamps returned as NULL (null_timestamps.py);
- what managing the declared objects reads and changes: stage properties, ALTER / DESCRIBE STAGE and ALTER FILE
  FORMAT (stages.py), table and column comments in SHOW TABLES / DESCRIBE TABLE (table_comments.py), SHOW /
  DESCRIBE EXTERNAL TABLE (external_table_catalog.py), GRANT / REVOKE / SHOW GRANTS (grants.py).

The hooks into fakesnow are statements.py (the wrapped cursor `execute`) and fakesnow_bridge.py (its
private API, in one place). Run it with `python -m devstack.localsnow` or `start_server(...)`.
"""

from devstack.localsnow.process import start_server, stop_server, wait_until_ready

__all__ = ["start_server", "stop_server", "wait_until_ready"]
