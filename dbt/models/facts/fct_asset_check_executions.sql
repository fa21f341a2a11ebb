{#- One row per ASSET_CHECK_EVALUATION event: did the check pass, and how severe is a failure. -#}
{{ config(unique_key='event_log_id') }}

select
    event_log_id,
    asset_key,
    partition_key,
    event_data:dagster_event:event_specific_data:check_name::varchar as check_name,
    event_data:dagster_event:event_specific_data:success::boolean as passed,
    replace(
        event_data:dagster_event:event_specific_data:severity:__enum__::varchar, 'AssetCheckSeverity.', ''
    ) as severity,
    run_id,
    step_key,
    organization_id,
    deployment_id,
    created_at as evaluated_at
from {{ ref('stg_event_log') }}
where dagster_event_type = 'ASSET_CHECK_EVALUATION'
    and {{ event_log_window_predicate('replication_hour') }}
