-- A result recorded once whoever records it first (a missed deadline's callback may run again after a
-- triggerer restart, or in two triggerers at once): inserted only when no row has its key yet. MERGE, unlike
-- INSERT, runs one at a time on a table, so two callers cannot both insert; the caller that inserted (one
-- row affected) is the one that notifies.
MERGE INTO {{ check_results_table.fqn }} AS recorded
USING (
    SELECT
        %(checked_at)s::TIMESTAMP_NTZ AS CHECKED_AT,
        %(dag_id)s AS DAG_ID,
        %(run_id)s AS RUN_ID,
        %(replication_hour)s::TIMESTAMP_NTZ AS REPLICATION_HOUR,
        %(check_name)s AS CHECK_NAME,
        %(status)s AS STATUS,
        %(observed)s AS OBSERVED,
        %(expected)s AS EXPECTED,
        %(details)s AS DETAILS,
        %(result_key)s AS RESULT_KEY
) AS result
ON recorded.RESULT_KEY = result.RESULT_KEY
    AND recorded.DAG_ID = result.DAG_ID
    AND recorded.RUN_ID = result.RUN_ID
    AND recorded.CHECK_NAME = result.CHECK_NAME
    AND recorded.REPLICATION_HOUR IS NOT DISTINCT FROM result.REPLICATION_HOUR
WHEN NOT MATCHED THEN INSERT
    (CHECKED_AT, DAG_ID, RUN_ID, REPLICATION_HOUR, CHECK_NAME, STATUS, OBSERVED, EXPECTED, DETAILS, RESULT_KEY)
VALUES (
    result.CHECKED_AT, result.DAG_ID, result.RUN_ID, result.REPLICATION_HOUR, result.CHECK_NAME, result.STATUS,
    result.OBSERVED, result.EXPECTED, result.DETAILS, result.RESULT_KEY
)
