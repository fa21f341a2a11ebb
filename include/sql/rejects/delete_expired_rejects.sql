-- Retention: rejected lines kept before the bound time (now - EVENT_LOG_REJECT_RETENTION_DAYS) are deleted.
DELETE FROM {{ rejects_table.fqn }} WHERE REJECTED_AT < CAST(? AS TIMESTAMP_NTZ)
