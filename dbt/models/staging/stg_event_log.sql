{#-
    One typed row per event (event_log_id), from the raw lines of the run's window of replication hours.

    An event can land more than once (two files, two hours, a re-opened hour). The row kept is its
    earliest occurrence by (replication_hour, file_name, file_row_number): a total order on the raw
    lines, so the result does not depend on which hour was processed first or how often. A line in
    the window replaces the stored row of its event only when it comes earlier in that order.
-#}
{{ config(unique_key='event_log_id') }}

with window_lines as (

    select
        try_cast(record:event_log_id::varchar as number(38, 0)) as event_log_id,
        record,
        file_name,
        file_row_number,
        replication_hour,
        loaded_at
    from {{ source('event_log_raw', 'raw_flink_event_log') }}
    where {{ event_log_window_predicate('replication_hour') }}

),

earliest_lines as (

    select window_lines.*
    from window_lines
    {%- if is_incremental() %}
    left join {{ this }} as stored
        on stored.event_log_id = window_lines.event_log_id
    {%- endif %}
    where window_lines.event_log_id is not null
    {%- if is_incremental() %}
        and (
            stored.event_log_id is null
            or window_lines.replication_hour < stored.replication_hour
            or (window_lines.replication_hour = stored.replication_hour
                and (window_lines.file_name < stored.file_name
                    or (window_lines.file_name = stored.file_name
                        and window_lines.file_row_number <= stored.file_row_number)))
        )
    {%- endif %}
    qualify row_number() over (
        partition by window_lines.event_log_id
        order by window_lines.replication_hour, window_lines.file_name, window_lines.file_row_number
    ) = 1

),

parsed as (

    select
        event_log_id,
        try_cast(record:organization_id::varchar as number(38, 0)) as organization_id,
        try_cast(record:deployment_id::varchar as number(38, 0)) as deployment_id,
        record:run_id::varchar as run_id,
        record:dagster_event_type::varchar as dagster_event_type,
        record:asset_key::varchar as asset_key,
        record:partition::varchar as partition_key,
        try_parse_json(record:event_data::varchar) as event_data,
        record:created_at::varchar as created_at_text,
        record:landed_at::varchar as landed_at_text,
        record:step_key::varchar as record_step_key,
        record,
        file_name,
        file_row_number,
        replication_hour,
        loaded_at
    from earliest_lines

)

select
    event_log_id,
    organization_id,
    deployment_id,
    run_id,
    dagster_event_type,
    coalesce(record_step_key, event_data:step_key::varchar) as step_key,
    asset_key,
    partition_key,
    event_data:pipeline_name::varchar as job_name,
    coalesce(
        {{ event_log_parse_timestamp('created_at_text') }},
        to_timestamp_ntz(round(try_cast(event_data:timestamp::varchar as double) * 1000)::number(38, 0), 3)
    ) as created_at,
    {{ event_log_parse_timestamp('landed_at_text') }} as landed_at,
    event_data,
    record,
    replication_hour,
    file_name,
    file_row_number,
    loaded_at
from parsed
