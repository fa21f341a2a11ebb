-- For the organization-days the window touched, mart_usage_daily counts what the facts hold:
-- materializations = rows of fct_asset_materializations that day, steps = STEP_START events.
with touched_days as (

    select distinct organization_id, to_date(created_at) as usage_date
    from {{ ref('stg_event_log') }}
    where organization_id is not null
        and created_at is not null
        and {{ event_log_window_predicate('replication_hour') }}

),

materializations as (

    select facts.organization_id, to_date(facts.materialized_at) as usage_date, count(*) as materializations
    from {{ ref('fct_asset_materializations') }} as facts
    inner join touched_days
        on touched_days.organization_id = facts.organization_id
        and touched_days.usage_date = to_date(facts.materialized_at)
    group by 1, 2

),

step_starts as (

    select staged.organization_id, to_date(staged.created_at) as usage_date, count(*) as steps
    from {{ ref('stg_event_log') }} as staged
    inner join touched_days
        on touched_days.organization_id = staged.organization_id
        and touched_days.usage_date = to_date(staged.created_at)
    where staged.dagster_event_type = 'STEP_START'
    group by 1, 2

),

expected as (

    select
        touched_days.organization_id,
        touched_days.usage_date,
        coalesce(materializations.materializations, 0) as materializations,
        coalesce(step_starts.steps, 0) as steps
    from touched_days
    left join materializations
        on materializations.organization_id = touched_days.organization_id
        and materializations.usage_date = touched_days.usage_date
    left join step_starts
        on step_starts.organization_id = touched_days.organization_id
        and step_starts.usage_date = touched_days.usage_date

)

select expected.*, usage.materializations as mart_materializations, usage.steps as mart_steps
from expected
left join {{ ref('mart_usage_daily') }} as usage
    on usage.organization_id = expected.organization_id
    and usage.usage_date = expected.usage_date
where usage.organization_id is null
    or usage.materializations <> expected.materializations
    or usage.steps <> expected.steps
