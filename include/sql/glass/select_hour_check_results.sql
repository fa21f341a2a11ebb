-- Every per-hour check result and missed deadline of the ingest DAG in the window.
SELECT REPLICATION_HOUR, RUN_ID, CHECK_NAME, STATUS, CHECKED_AT, DETAILS
FROM {{ check_results_table.fqn }}
WHERE DAG_ID = %(dag_id)s AND REPLICATION_HOUR >= %(first_hour)s AND REPLICATION_HOUR <= %(last_hour)s
ORDER BY CHECKED_AT
