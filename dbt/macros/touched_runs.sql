{#-
    Run ids with at least one staged event in the run's window. Run-grained models recompute these
    runs from all their events, so a run whose end lands in a later hour is completed then.
-#}
{% macro touched_runs_sql() -%}
    select distinct run_id
    from {{ ref('stg_event_log') }}
    where run_id is not null
        and {{ event_log_window_predicate('replication_hour') }}
{%- endmacro %}
