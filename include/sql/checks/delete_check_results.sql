-- A task's earlier results of these checks for this run and hour (a retry, a cleared run): its new results
-- replace them, in the same transaction.
DELETE FROM {{ check_results_table.fqn }}
WHERE DAG_ID = %(dag_id)s
    AND RUN_ID = %(run_id)s
    AND REPLICATION_HOUR IS NOT DISTINCT FROM %(replication_hour)s::TIMESTAMP_NTZ
    AND CHECK_NAME IN (%(check_names)s)
