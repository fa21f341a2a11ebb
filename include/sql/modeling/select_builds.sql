-- The builds that modeled a run's changes, for the run's log.
SELECT BUILD_ID, DAG_ID, RUN_ID, TRY_NUMBER, STARTED_AT, FINISHED_AT, STATUS, HOURS, FIRST_HOUR, LAST_HOUR, CHANGES
FROM {{ model_builds_table.fqn }}
WHERE BUILD_ID IN (%(build_ids)s)
ORDER BY STARTED_AT
