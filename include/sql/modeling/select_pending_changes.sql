-- Every change no successful build has modeled yet, oldest first: what the next build covers.
SELECT LOAD_ID, REPLICATION_HOUR, CHANGED_AT, DAG_ID, RUN_ID, BUILD_ID, MODELED_AT
FROM {{ hour_changes_table.fqn }}
WHERE BUILD_ID IS NULL
ORDER BY CHANGED_AT, REPLICATION_HOUR, LOAD_ID
