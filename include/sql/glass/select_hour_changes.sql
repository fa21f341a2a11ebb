-- The latest change of each replication hour in the window: the load that last replaced the hour, and
-- the dbt build that modeled it (BUILD_ID / MODELED_AT NULL while pending).
SELECT REPLICATION_HOUR, LOAD_ID, CHANGED_AT, DAG_ID, RUN_ID, ROWS_LOADED, ROWS_REPLACED, FILES_LOADED, BUILD_ID,
       MODELED_AT
FROM {{ hour_changes_table.fqn }}
WHERE REPLICATION_HOUR >= %(first_hour)s AND REPLICATION_HOUR <= %(last_hour)s
QUALIFY ROW_NUMBER() OVER (PARTITION BY REPLICATION_HOUR ORDER BY CHANGED_AT DESC, LOAD_ID DESC) = 1
