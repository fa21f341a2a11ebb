-- One check's outcome (a reconciliation of an hour, a drift count, an audit finding, a missed deadline).
-- A VALUES list: the connector sends a batch of results as one multi-row INSERT, values bound.
INSERT INTO {{ check_results_table.fqn }}
    (CHECKED_AT, DAG_ID, RUN_ID, REPLICATION_HOUR, CHECK_NAME, STATUS, OBSERVED, EXPECTED, DETAILS, RESULT_KEY)
VALUES (
    %(checked_at)s, %(dag_id)s, %(run_id)s, %(replication_hour)s, %(check_name)s, %(status)s, %(observed)s,
    %(expected)s, %(details)s, %(result_key)s
)
