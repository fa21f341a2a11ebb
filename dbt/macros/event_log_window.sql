{#-
    The replication hours one dbt build models.

    The DAG's build task passes the hours changed since the last successful build (ISO-8601 strings, any
    order), read from the hour-changes table, so a cleared run, a retry, a late re-load or a backfill all
    reach the models. It passes them in the environment, EVENT_LOG_BUILD_HOURS (a JSON list), read only
    while dbt executes: a var would differ from build to build, and dbt re-parses the whole project when
    a var changes (about 5 s of every build); an environment variable read only at execution is not part
    of what dbt parsed, so the saved parse stays valid. By hand, the var `event_log_hours` (same list), or
    `data_interval_start` and `data_interval_end` for the hours
    [data_interval_start - lookback_hours, data_interval_end). Without any, the window is unbounded and
    incremental models read every loaded hour, like a full refresh.

    event_log_window() returns none (unbounded) or a list of {start, end} ranges of whole hours.
-#}

{% macro event_log_window() -%}
    {%- set hours = var('event_log_hours', none) -%}
    {%- if hours is none and execute -%}
        {%- set from_env = env_var('EVENT_LOG_BUILD_HOURS', '') -%}
        {%- if from_env -%}
            {%- set hours = fromjson(from_env) -%}
            {%- if hours is none or hours is string or hours is mapping -%}
                {{ exceptions.raise_compiler_error("EVENT_LOG_BUILD_HOURS must be a JSON list of ISO-8601 hours, got " ~ from_env) }}
            {%- endif -%}
        {%- endif -%}
    {%- endif -%}
    {%- if hours is not none -%}
        {{ return(_event_log_hour_ranges(hours)) }}
    {%- endif -%}
    {%- set start_value = var('data_interval_start', none) -%}
    {%- set end_value = var('data_interval_end', none) -%}
    {%- if start_value is none and end_value is none -%}
        {{ return(none) }}
    {%- endif -%}
    {%- if start_value is none or end_value is none -%}
        {{ exceptions.raise_compiler_error(
            "Pass both data_interval_start and data_interval_end, or neither (got start="
            ~ start_value ~ ", end=" ~ end_value ~ ")") }}
    {%- endif -%}
    {%- set lookback_hours = var('lookback_hours', 1) | int -%}
    {%- if lookback_hours < 0 -%}
        {{ exceptions.raise_compiler_error("lookback_hours must be >= 0, got " ~ lookback_hours) }}
    {%- endif -%}
    {%- set interval_start = _event_log_utc_timestamp(start_value, 'data_interval_start') -%}
    {%- set interval_end = _event_log_utc_timestamp(end_value, 'data_interval_end') -%}
    {%- if interval_start >= interval_end -%}
        {{ exceptions.raise_compiler_error(
            "data_interval_start (" ~ start_value ~ ") must be before data_interval_end (" ~ end_value ~ ")") }}
    {%- endif -%}
    {%- set window_start = interval_start - modules.datetime.timedelta(hours=lookback_hours) -%}
    {{ return([{
        'start': window_start.strftime('%Y-%m-%d %H:%M:%S.%f'),
        'end': interval_end.strftime('%Y-%m-%d %H:%M:%S.%f'),
    }]) }}
{%- endmacro %}


{#- Whole hours (ISO-8601 strings) as sorted, coalesced {start, end} ranges: consecutive hours make one range. -#}
{% macro _event_log_hour_ranges(hours) -%}
    {%- if hours is string -%}
        {{ exceptions.raise_compiler_error("event_log_hours must be a list of ISO-8601 hours, got the string " ~ hours) }}
    {%- endif -%}
    {%- set starts = [] -%}
    {%- for value in hours -%}
        {%- set hour = _event_log_utc_timestamp(value, 'event_log_hours') -%}
        {%- if hour.minute or hour.second or hour.microsecond -%}
            {{ exceptions.raise_compiler_error("event_log_hours must hold whole hours, got " ~ value) }}
        {%- endif -%}
        {%- if hour not in starts -%}
            {%- do starts.append(hour) -%}
        {%- endif -%}
    {%- endfor -%}
    {%- set one_hour = modules.datetime.timedelta(hours=1) -%}
    {%- set ranges = [] -%}
    {%- for hour in starts | sort -%}
        {%- if ranges and ranges[-1]['end_hour'] == hour -%}
            {%- do ranges[-1].update({'end_hour': hour + one_hour}) -%}
        {%- else -%}
            {%- do ranges.append({'start_hour': hour, 'end_hour': hour + one_hour}) -%}
        {%- endif -%}
    {%- endfor -%}
    {%- set window = [] -%}
    {%- for r in ranges -%}
        {%- do window.append({
            'start': r['start_hour'].strftime('%Y-%m-%d %H:%M:%S.%f'),
            'end': r['end_hour'].strftime('%Y-%m-%d %H:%M:%S.%f'),
        }) -%}
    {%- endfor -%}
    {{ return(window) }}
{%- endmacro %}


{#- A naive UTC datetime from an ISO-8601 string (or the datetime YAML makes of an unquoted one). -#}
{% macro _event_log_utc_timestamp(value, name) -%}
    {%- set text = value if value is string else value.isoformat() -%}
    {%- set text = text.strip() -%}
    {%- if text.endswith('Z') or text.endswith('z') -%}
        {%- set text = text[:-1] ~ '+00:00' -%}
    {%- endif -%}
    {%- set parsed = none -%}
    {%- set parsed = modules.datetime.datetime.fromisoformat(text) if modules.re.fullmatch(
        '[0-9]{4}-[0-9]{2}-[0-9]{2}([T ][0-9]{2}(:[0-9]{2}(:[0-9]{2}([.][0-9]{1,6})?)?)?([+-][0-9]{2}:?[0-9]{2})?)?',
        text) else none -%}
    {%- if parsed is none -%}
        {{ exceptions.raise_compiler_error(name ~ " is not an ISO-8601 timestamp: " ~ value) }}
    {%- endif -%}
    {%- if parsed.tzinfo is not none -%}
        {%- set parsed = parsed.astimezone(modules.pytz.utc).replace(tzinfo=none) -%}
    {%- endif -%}
    {{ return(parsed) }}
{%- endmacro %}


{#-
    SQL predicate: `column` (a TIMESTAMP_NTZ in UTC) falls in the build's window; `true` without one,
    `false` for an empty list of hours.
-#}
{% macro event_log_window_predicate(column) -%}
    {%- set window = event_log_window() -%}
    {%- if window is none -%}
        true
    {%- elif not window -%}
        false
    {%- else -%}
        ({% for r in window %}{{ ' or ' if not loop.first }}({{ column }} >= '{{ r.start }}'::timestamp_ntz and {{ column }} < '{{ r.end }}'::timestamp_ntz){% endfor %})
    {%- endif -%}
{%- endmacro %}


{#-
    Event time of a record's ISO-8601 string as a UTC TIMESTAMP_NTZ, NULL when it does not parse.
    With an offset (or Z) the instant is converted to UTC; without one the wall time is taken as UTC
    (cast through TIMESTAMP_TZ then to NTZ keeps the wall time whatever the session time zone is).
-#}
{% macro event_log_parse_timestamp(text_expression) -%}
    case
        when regexp_like({{ text_expression }}, '.*:[0-9]{2}([.][0-9]*)? ?(Z|z|[+-][0-9]{2}(:?[0-9]{2})?)')
            then convert_timezone('UTC', try_cast({{ text_expression }} as timestamp_tz))::timestamp_ntz
        else try_cast({{ text_expression }} as timestamp_tz)::timestamp_ntz
    end
{%- endmacro %}


{#-
    Data tests can be limited to the run's window with `where: __replication_hour_in_window__`
    (test configs cannot call project macros, so the placeholder is replaced here).
-#}
{% macro get_where_subquery(relation) -%}
    {%- set where = config.get('where') -%}
    {%- if where -%}
        {%- set where = where | replace('__replication_hour_in_window__', event_log_window_predicate('replication_hour')) -%}
        {%- set filtered -%}
            (select * from {{ relation }} where {{ where }}) dbt_subquery
        {%- endset -%}
        {{ return(filtered) }}
    {%- else -%}
        {{ return(relation) }}
    {%- endif -%}
{%- endmacro %}
