{#-
    Billable usage per organization per UTC day of the events' own time (created_at).
    The organization-days touched by the run's window are recounted from all their events, so an
    event that lands late still counts on the day it happened.
-#}
{{ config(unique_key=['organization_id', 'usage_date']) }}

with touched_days as (

    select distinct organization_id, to_date(created_at) as usage_date
    from {{ ref('stg_event_log') }}
    where organization_id is not null
        and created_at is not null
        and {{ event_log_window_predicate('replication_hour') }}

),

day_events as (

    select events.organization_id, to_date(events.created_at) as usage_date, events.dagster_event_type
    from {{ ref('stg_event_log') }} as events
    inner join touched_days
        on touched_days.organization_id = events.organization_id
        and touched_days.usage_date = to_date(events.created_at)

)

select
    organization_id,
    usage_date,
    count(iff(dagster_event_type = 'ASSET_MATERIALIZATION', 1, null)) as materializations,
    count(iff(dagster_event_type = 'STEP_START', 1, null)) as steps,
    count(iff(dagster_event_type in ('ASSET_MATERIALIZATION', 'STEP_START'), 1, null)) as billable_credits
from day_events
group by organization_id, usage_date
