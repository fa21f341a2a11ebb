-- Raw lines of the window without a numeric event_log_id: they cannot be deduplicated and are left
-- out of stg_event_log. Warns with their count rather than losing them silently.
{{ config(severity='warn') }}

select file_name, file_row_number, replication_hour
from {{ source('event_log_raw', 'raw_flink_event_log') }}
where {{ event_log_window_predicate('replication_hour') }}
    and try_cast(record:event_log_id::varchar as number(38, 0)) is null
