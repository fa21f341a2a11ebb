-- The hour as each table holds it: loaded rows, external-table rows, kept rejects, duplicates.
SELECT
    (SELECT COUNT(*) FROM {{ raw_table.fqn }} WHERE REPLICATION_HOUR = %(replication_hour)s::TIMESTAMP_NTZ)
        AS RAW_ROWS,
    (SELECT COUNT(*) FROM {{ external_table.fqn }} WHERE REPLICATION_HOUR = %(replication_hour)s::TIMESTAMP_NTZ)
        AS EXTERNAL_ROWS,
    (SELECT COUNT(*) FROM {{ rejects_table.fqn }} WHERE REPLICATION_HOUR = %(replication_hour)s::TIMESTAMP_NTZ)
        AS REJECTED_ROWS,
    (SELECT COUNT(*) - COUNT(DISTINCT RECORD:event_log_id) FROM {{ raw_table.fqn }}
        WHERE REPLICATION_HOUR = %(replication_hour)s::TIMESTAMP_NTZ) AS DUPLICATE_ROWS_IN_HOUR
