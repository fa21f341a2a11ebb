-- The rejects an earlier load of the hour kept, replaced by this load's (the hour bound in the warehouse).
DELETE FROM {{ rejects_table.fqn }} WHERE REPLICATION_HOUR = CAST(? AS TIMESTAMP_NTZ)
