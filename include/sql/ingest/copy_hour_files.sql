-- Second half: COPY exactly the listed committed part files of the hour (at most 1,000 names per
-- statement). FORCE = TRUE because the DELETE above removed the earlier load of these same files.
-- LOADED_AT is bound (UTC, from the task): CURRENT_TIMESTAMP follows the session's TIMEZONE.
-- ON_ERROR = CONTINUE: a line the warehouse rejects (not JSON, not UTF-8, too long) is counted per file
-- (errors_seen): the task decides from those counts whether the hour commits, and keeps the lines
-- (include/event_log/load/rejects.py).
COPY INTO {{ raw_table.fqn }} (RECORD, FILE_NAME, FILE_ROW_NUMBER, REPLICATION_HOUR, LOADED_AT, AIRFLOW_RUN_ID)
FROM (
    SELECT
        $1,
        METADATA$FILENAME,
        METADATA$FILE_ROW_NUMBER,
        %(replication_hour)s::TIMESTAMP_NTZ,
        %(loaded_at)s::TIMESTAMP_NTZ,
        %(run_id)s
    FROM @{{ stage.fqn }}/{{ hour_path }}
)
FILES = (%(files)s)
FILE_FORMAT = (FORMAT_NAME = {{ file_format.fqn }})
ON_ERROR = CONTINUE
FORCE = TRUE
