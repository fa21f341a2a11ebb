-- Events of the hour whose event_log_id was also loaded in another hour of the day around it.
SELECT COUNT(DISTINCT hour_rows.RECORD:event_log_id) AS DUPLICATE_IDS
FROM {{ raw_table.fqn }} AS hour_rows
JOIN {{ raw_table.fqn }} AS other_rows
    ON other_rows.RECORD:event_log_id = hour_rows.RECORD:event_log_id
    AND other_rows.REPLICATION_HOUR <> hour_rows.REPLICATION_HOUR
    AND other_rows.REPLICATION_HOUR BETWEEN DATEADD(hour, -24, %(replication_hour)s::TIMESTAMP_NTZ)
        AND DATEADD(hour, 24, %(replication_hour)s::TIMESTAMP_NTZ)
WHERE hour_rows.REPLICATION_HOUR = %(replication_hour)s::TIMESTAMP_NTZ
