-- The builds started since a moment (the benchmark counts a backfill's builds and the hours they modeled).
SELECT BUILD_ID, RUN_ID, TRY_NUMBER, STATUS, HOURS, STARTED_AT, FINISHED_AT
FROM {{ model_builds_table.fqn }}
WHERE STARTED_AT >= %(since)s
ORDER BY STARTED_AT
