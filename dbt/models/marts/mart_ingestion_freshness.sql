{#-
    One row: the newest replication hour loaded into the raw table and how far behind now it is.
    A view, so the lag is measured when it is read.
-#}
{{ config(materialized='view') }}

with raw_hours as (

    select max(replication_hour) as newest_replication_hour
    from {{ source('event_log_raw', 'raw_flink_event_log') }}

),

newest_hour_loads as (

    select max(raw_lines.loaded_at) as newest_hour_loaded_at, count(*) as newest_hour_lines
    from {{ source('event_log_raw', 'raw_flink_event_log') }} as raw_lines
    inner join raw_hours on raw_lines.replication_hour = raw_hours.newest_replication_hour

),

staged as (

    select max(created_at) as newest_event_created_at
    from {{ ref('stg_event_log') }}

),

measured as (

    select convert_timezone('UTC', current_timestamp())::timestamp_ntz as measured_at

)

select
    raw_hours.newest_replication_hour,
    dateadd(hour, 1, raw_hours.newest_replication_hour) as loaded_through,
    newest_hour_loads.newest_hour_loaded_at,
    newest_hour_loads.newest_hour_lines,
    staged.newest_event_created_at,
    measured.measured_at,
    datediff(second, dateadd(hour, 1, raw_hours.newest_replication_hour), measured.measured_at) as lag_seconds
from raw_hours
cross join newest_hour_loads
cross join staged
cross join measured
