-- What the raw table holds of each replication hour of the audit window: every part file that gave
-- rows, the earliest LOADED_AT of the hour (when its current load ran) and the rows of each file.
SELECT
    REPLICATION_HOUR,
    FILE_NAME,
    MIN(LOADED_AT) AS LOADED_AT,
    COUNT(*) AS ROW_COUNT
FROM {{ raw_table.fqn }}
WHERE REPLICATION_HOUR >= %(window_start)s::TIMESTAMP_NTZ
    AND REPLICATION_HOUR < %(window_end)s::TIMESTAMP_NTZ
GROUP BY REPLICATION_HOUR, FILE_NAME
ORDER BY REPLICATION_HOUR, FILE_NAME
