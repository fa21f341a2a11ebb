-- External table over the stage: one row per event, computed columns from the file name and VALUE.
-- Refreshed per hour by the ingest DAG (AUTO_REFRESH is off: Airflow decides when an hour is in).
-- Replaced (and so refreshed, REFRESH_ON_CREATE) when the fingerprint of this DDL in its COMMENT differs.
CREATE {% if replace %}OR REPLACE {% endif %}EXTERNAL TABLE {% if not replace %}IF NOT EXISTS {% endif %}{{ external_table.fqn }} (
{%- for column in external_table.columns %}
    {{ column.name }} {{ column.type }} AS ({{ column.expression }}){{ "," if not loop.last }}
{%- endfor %}
)
{%- if external_table.partition_by %}
PARTITION BY ({{ external_table.partition_by | join(", ") }})
{%- endif %}
LOCATION = @{{ stage.fqn }}/
PATTERN = %(pattern)s
FILE_FORMAT = (FORMAT_NAME = {{ file_format.fqn }})
AUTO_REFRESH = FALSE
REFRESH_ON_CREATE = TRUE
COMMENT = %(description)s
