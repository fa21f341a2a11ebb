-- The facts hold exactly the staged events of the window they are built from: every staged run is
-- in fct_runs, every staged step lifecycle in fct_steps, every ASSET_MATERIALIZATION and
-- ASSET_CHECK_EVALUATION in its fact, and no fact row lacks its staged event.
with window_events as (

    select event_log_id, run_id, step_key, dagster_event_type
    from {{ ref('stg_event_log') }}
    where {{ event_log_window_predicate('replication_hour') }}

)

select 'run missing from fct_runs' as problem, window_events.run_id as run_id, null as step_key, null as event_log_id
from window_events
left join {{ ref('fct_runs') }} as runs on runs.run_id = window_events.run_id
where window_events.run_id is not null and runs.run_id is null

union all

select 'step missing from fct_steps', window_events.run_id, window_events.step_key, null
from window_events
left join {{ ref('fct_steps') }} as steps
    on steps.run_id = window_events.run_id and steps.step_key = window_events.step_key
where window_events.dagster_event_type in (
        'STEP_START', 'STEP_RESTARTED', 'STEP_UP_FOR_RETRY', 'STEP_SUCCESS', 'STEP_FAILURE'
    )
    and window_events.run_id is not null
    and window_events.step_key is not null
    and steps.run_id is null

union all

select 'materialization missing from fct_asset_materializations', null, null, window_events.event_log_id
from window_events
left join {{ ref('fct_asset_materializations') }} as materializations
    on materializations.event_log_id = window_events.event_log_id
where window_events.dagster_event_type = 'ASSET_MATERIALIZATION' and materializations.event_log_id is null

union all

select 'check evaluation missing from fct_asset_check_executions', null, null, window_events.event_log_id
from window_events
left join {{ ref('fct_asset_check_executions') }} as checks on checks.event_log_id = window_events.event_log_id
where window_events.dagster_event_type = 'ASSET_CHECK_EVALUATION' and checks.event_log_id is null

union all

select 'fct_asset_materializations row without its staged event', null, null, materializations.event_log_id
from {{ ref('fct_asset_materializations') }} as materializations
left join {{ ref('stg_event_log') }} as staged
    on staged.event_log_id = materializations.event_log_id
    and staged.dagster_event_type = 'ASSET_MATERIALIZATION'
where staged.event_log_id is null

union all

select 'fct_asset_check_executions row without its staged event', null, null, checks.event_log_id
from {{ ref('fct_asset_check_executions') }} as checks
left join {{ ref('stg_event_log') }} as staged
    on staged.event_log_id = checks.event_log_id
    and staged.dagster_event_type = 'ASSET_CHECK_EVALUATION'
where staged.event_log_id is null
