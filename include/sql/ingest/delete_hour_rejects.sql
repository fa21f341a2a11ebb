-- The rejects of an earlier load of the hour, replaced by this load's.
DELETE FROM {{ rejects_table.fqn }} WHERE REPLICATION_HOUR = %(replication_hour)s::TIMESTAMP_NTZ
