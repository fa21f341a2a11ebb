-- Rejected lines kept per replication hour in the window.
SELECT REPLICATION_HOUR, COUNT(*) AS REJECTED_LINES
FROM {{ rejects_table.fqn }}
WHERE REPLICATION_HOUR >= %(first_hour)s AND REPLICATION_HOUR <= %(last_hour)s
GROUP BY REPLICATION_HOUR
