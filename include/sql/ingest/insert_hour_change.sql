-- The load records which hour it changed, in the same transaction as its DELETE and COPY: the models
-- follow this table (every pending change is modeled by the next dbt build), never the run that loaded.
INSERT INTO {{ hour_changes_table.fqn }}
    (LOAD_ID, REPLICATION_HOUR, CHANGED_AT, DAG_ID, RUN_ID, ROWS_LOADED, ROWS_REPLACED, FILES_LOADED)
SELECT
    %(load_id)s,
    %(replication_hour)s::TIMESTAMP_NTZ,
    %(changed_at)s::TIMESTAMP_NTZ,
    %(dag_id)s,
    %(run_id)s,
    %(rows_loaded)s,
    %(rows_replaced)s,
    %(files_loaded)s
