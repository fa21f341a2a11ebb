-- The changes one Airflow run's loads made (a cleared run has those of every try), and their builds.
SELECT LOAD_ID, REPLICATION_HOUR, CHANGED_AT, DAG_ID, RUN_ID, BUILD_ID, MODELED_AT
FROM {{ hour_changes_table.fqn }}
WHERE DAG_ID = %(dag_id)s AND RUN_ID = %(run_id)s
ORDER BY CHANGED_AT, REPLICATION_HOUR, LOAD_ID
