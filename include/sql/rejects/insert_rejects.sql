-- Rejected lines, a batch per executemany: values bound in the warehouse (array binding), never in the SQL text.
-- Order: replication hour, file, line, error, the line (truncated to EVENT_LOG_REJECT_MAX_LINE_BYTES), run, when.
INSERT INTO {{ rejects_table.fqn }}
    (REPLICATION_HOUR, FILE_NAME, LINE_NUMBER, ERROR, REJECTED_RECORD, AIRFLOW_RUN_ID, REJECTED_AT)
VALUES (?, ?, ?, ?, ?, ?, ?)
