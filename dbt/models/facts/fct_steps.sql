{#- One row per step of a run (run_id, step_key): first start, outcome, retries and failures. -#}
{{ config(unique_key=['run_id', 'step_key']) }}

with step_events as (

    select run_id, step_key, event_log_id, organization_id, deployment_id, dagster_event_type, created_at
    from {{ ref('stg_event_log') }}
    where run_id in ({{ touched_runs_sql() }})
        and step_key is not null
        and dagster_event_type in (
            'STEP_START', 'STEP_RESTARTED', 'STEP_UP_FOR_RETRY', 'STEP_SUCCESS', 'STEP_FAILURE'
        )

),

step_counts as (

    select
        run_id,
        step_key,
        min(iff(dagster_event_type = 'STEP_START', created_at, null)) as started_at,
        count(iff(dagster_event_type = 'STEP_UP_FOR_RETRY', 1, null)) as retries,
        count(iff(dagster_event_type = 'STEP_FAILURE', 1, null)) as failures
    from step_events
    group by run_id, step_key

),

step_owners as (

    select run_id, step_key, organization_id, deployment_id
    from step_events
    qualify row_number() over (
        partition by run_id, step_key order by created_at nulls last, event_log_id
    ) = 1

),

step_last_events as (

    select run_id, step_key, dagster_event_type, created_at
    from step_events
    qualify row_number() over (
        partition by run_id, step_key order by created_at desc nulls last, event_log_id desc
    ) = 1

)

select
    step_counts.run_id,
    step_counts.step_key,
    step_owners.organization_id,
    step_owners.deployment_id,
    step_counts.started_at,
    iff(step_last_events.dagster_event_type in ('STEP_SUCCESS', 'STEP_FAILURE'), step_last_events.created_at, null)
        as ended_at,
    cast(
        datediff(
            millisecond,
            step_counts.started_at,
            iff(step_last_events.dagster_event_type in ('STEP_SUCCESS', 'STEP_FAILURE'), step_last_events.created_at, null)
        ) / 1000 as number(18, 3)
    ) as duration_seconds,
    step_counts.retries,
    step_counts.failures,
    case step_last_events.dagster_event_type
        when 'STEP_SUCCESS' then 'SUCCESS'
        when 'STEP_FAILURE' then 'FAILURE'
        when 'STEP_UP_FOR_RETRY' then 'UP_FOR_RETRY'
        else 'STARTED'
    end as status
from step_counts
inner join step_owners
    on step_owners.run_id = step_counts.run_id and step_owners.step_key = step_counts.step_key
inner join step_last_events
    on step_last_events.run_id = step_counts.run_id and step_last_events.step_key = step_counts.step_key
