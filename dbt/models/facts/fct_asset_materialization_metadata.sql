{#-
    One row per numeric metadata entry of a materialization (event_log_id, entry_index): entries of
    dagster_event.event_specific_data.materialization.metadata_entries whose entry_data.value is a
    JSON number. Text, JSON, path, url and other entries are left out.
-#}
{{ config(unique_key='event_log_id') }}

with materializations as (

    select event_log_id, asset_key, partition_key, run_id, organization_id, deployment_id, created_at, event_data
    from {{ ref('stg_event_log') }}
    where dagster_event_type = 'ASSET_MATERIALIZATION'
        and {{ event_log_window_predicate('replication_hour') }}

),

entries as (

    select
        materializations.event_log_id,
        materializations.asset_key,
        materializations.partition_key,
        materializations.run_id,
        materializations.organization_id,
        materializations.deployment_id,
        materializations.created_at as materialized_at,
        entry.index as entry_index,
        entry.value:label::varchar as label,
        entry.value:entry_data:__class__::varchar as value_class,
        {#- TO_JSON keeps a JSON string quoted, so "12" (text) is not taken for the number 12. #}
        try_cast(to_json(entry.value:entry_data:value) as double) as numeric_value
    from materializations,
        lateral flatten(
            input => materializations.event_data:dagster_event:event_specific_data:materialization:metadata_entries
        ) as entry

)

select *
from entries
where numeric_value is not null
