-- Every load of each replication hour of the audit window: when its latest load ran, and the oldest of
-- its changes no dbt build has modeled yet (NULL when every change is modeled).
SELECT
    REPLICATION_HOUR,
    MAX(CHANGED_AT) AS LATEST_CHANGE,
    MIN(IFF(BUILD_ID IS NULL, CHANGED_AT, NULL)) AS OLDEST_PENDING_CHANGE
FROM {{ hour_changes_table.fqn }}
WHERE REPLICATION_HOUR >= %(window_start)s::TIMESTAMP_NTZ
    AND REPLICATION_HOUR < %(window_end)s::TIMESTAMP_NTZ
GROUP BY REPLICATION_HOUR
ORDER BY REPLICATION_HOUR
