-- One line the COPY could not load, kept whole with where it was and why.
INSERT INTO {{ rejects_table.fqn }}
    (REPLICATION_HOUR, FILE_NAME, LINE_NUMBER, ERROR, REJECTED_RECORD, AIRFLOW_RUN_ID, REJECTED_AT)
SELECT
    %(replication_hour)s::TIMESTAMP_NTZ,
    %(file_name)s,
    %(line_number)s,
    %(error)s,
    %(rejected_record)s,
    %(run_id)s,
    %(rejected_at)s::TIMESTAMP_NTZ
