-- How many events of each type the hour holds (NULL: user log messages).
SELECT RECORD:dagster_event_type::VARCHAR AS EVENT_TYPE, COUNT(*) AS EVENTS
FROM {{ raw_table.fqn }}
WHERE REPLICATION_HOUR = %(replication_hour)s::TIMESTAMP_NTZ
GROUP BY 1
