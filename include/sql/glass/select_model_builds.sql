-- The dbt builds whose hours overlap the window.
SELECT BUILD_ID, DAG_ID, RUN_ID, TRY_NUMBER, STARTED_AT, FINISHED_AT, STATUS, HOURS, FIRST_HOUR, LAST_HOUR, CHANGES,
       DETAILS
FROM {{ model_builds_table.fqn }}
WHERE LAST_HOUR >= %(first_hour)s AND FIRST_HOUR <= %(last_hour)s
ORDER BY STARTED_AT
