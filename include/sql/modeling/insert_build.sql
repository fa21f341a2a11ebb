-- A dbt build starts: which run runs it and which changed hours it covers.
INSERT INTO {{ model_builds_table.fqn }}
    (BUILD_ID, DAG_ID, RUN_ID, TRY_NUMBER, STARTED_AT, STATUS, HOURS, FIRST_HOUR, LAST_HOUR, CHANGES, DETAILS)
SELECT
    %(build_id)s,
    %(dag_id)s,
    %(run_id)s,
    %(try_number)s,
    %(started_at)s::TIMESTAMP_NTZ,
    'running',
    %(hours)s,
    %(first_hour)s::TIMESTAMP_NTZ,
    %(last_hour)s::TIMESTAMP_NTZ,
    %(changes)s,
    %(details)s
