-- Each event of the window's raw lines is in stg_event_log exactly once, and each staged row of the
-- window comes from a raw line of that hour: distinct event_log_ids in raw = staged rows for them.
with raw_events as (

    select distinct try_cast(record:event_log_id::varchar as number(38, 0)) as event_log_id
    from {{ source('event_log_raw', 'raw_flink_event_log') }}
    where {{ event_log_window_predicate('replication_hour') }}
        and try_cast(record:event_log_id::varchar as number(38, 0)) is not null

),

staged_events as (

    select staged.event_log_id
    from {{ ref('stg_event_log') }} as staged
    inner join raw_events on raw_events.event_log_id = staged.event_log_id

),

counts as (

    select
        (select count(*) from raw_events) as raw_event_count,
        (select count(*) from staged_events) as staged_event_count

),

orphans as (

    select staged.event_log_id
    from {{ ref('stg_event_log') }} as staged
    left join {{ source('event_log_raw', 'raw_flink_event_log') }} as raw_lines
        on raw_lines.replication_hour = staged.replication_hour
        and raw_lines.file_name = staged.file_name
        and raw_lines.file_row_number = staged.file_row_number
    where {{ event_log_window_predicate('staged.replication_hour') }}
        and raw_lines.file_name is null

)

select 'distinct raw events <> staged rows for them' as problem, raw_event_count, staged_event_count, null as event_log_id
from counts
where raw_event_count <> staged_event_count
union all
select 'staged row without its raw line', null, null, event_log_id
from orphans
