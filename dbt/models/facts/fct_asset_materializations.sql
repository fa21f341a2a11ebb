{#- One row per ASSET_MATERIALIZATION event. -#}
{{ config(unique_key='event_log_id') }}

select
    event_log_id,
    asset_key,
    partition_key,
    run_id,
    step_key,
    organization_id,
    deployment_id,
    created_at as materialized_at
from {{ ref('stg_event_log') }}
where dagster_event_type = 'ASSET_MATERIALIZATION'
    and {{ event_log_window_predicate('replication_hour') }}
