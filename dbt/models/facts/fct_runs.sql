{#- One row per run: who ran it, when it started and ended, how it ended. -#}
{{ config(unique_key='run_id') }}

with run_events as (

    select run_id, event_log_id, organization_id, deployment_id, job_name, dagster_event_type, created_at
    from {{ ref('stg_event_log') }}
    where run_id in ({{ touched_runs_sql() }})

),

run_owners as (

    select run_id, organization_id, deployment_id
    from run_events
    qualify row_number() over (
        partition by run_id order by created_at nulls last, event_log_id
    ) = 1

),

run_jobs as (

    select run_id, job_name
    from run_events
    where job_name is not null
    qualify row_number() over (
        partition by run_id
        order by iff(dagster_event_type = 'PIPELINE_START', 0, 1), created_at nulls last, event_log_id
    ) = 1

),

run_starts as (

    select run_id, min(created_at) as started_at
    from run_events
    where dagster_event_type = 'PIPELINE_START'
    group by run_id

),

run_ends as (

    select run_id, dagster_event_type, created_at as ended_at
    from run_events
    where dagster_event_type in ('PIPELINE_SUCCESS', 'PIPELINE_FAILURE', 'PIPELINE_CANCELED')
    qualify row_number() over (
        partition by run_id order by created_at desc nulls last, event_log_id desc
    ) = 1

)

select
    run_owners.run_id,
    run_owners.organization_id,
    run_owners.deployment_id,
    run_jobs.job_name,
    run_starts.started_at,
    run_ends.ended_at,
    case run_ends.dagster_event_type
        when 'PIPELINE_SUCCESS' then 'SUCCESS'
        when 'PIPELINE_FAILURE' then 'FAILURE'
        when 'PIPELINE_CANCELED' then 'CANCELED'
        else 'STARTED'
    end as status,
    cast(datediff(millisecond, run_starts.started_at, run_ends.ended_at) / 1000 as number(18, 3))
        as duration_seconds
from run_owners
left join run_jobs on run_jobs.run_id = run_owners.run_id
left join run_starts on run_starts.run_id = run_owners.run_id
left join run_ends on run_ends.run_id = run_owners.run_id
