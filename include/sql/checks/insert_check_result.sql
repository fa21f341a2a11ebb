-- One check's outcome (a reconciliation of an hour, a drift count, an audit finding, a missed deadline).
INSERT INTO {{ check_results_table.fqn }}
    (CHECKED_AT, DAG_ID, RUN_ID, REPLICATION_HOUR, CHECK_NAME, STATUS, OBSERVED, EXPECTED, DETAILS)
SELECT
    %(checked_at)s::TIMESTAMP_NTZ,
    %(dag_id)s,
    %(run_id)s,
    %(replication_hour)s::TIMESTAMP_NTZ,
    %(check_name)s,
    %(status)s,
    %(observed)s,
    %(expected)s,
    %(details)s
