-- First half of an hour's load: drop what an earlier load of the same hour left, in the same
-- transaction as the COPY, so a re-run ends with each event once.
DELETE FROM {{ raw_table.fqn }} WHERE REPLICATION_HOUR = %(replication_hour)s::TIMESTAMP_NTZ
