-- The native table the hourly COPY fills and the dbt models read.
CREATE TABLE IF NOT EXISTS {{ raw_table.fqn }} (
{%- for column in raw_table.columns %}
    {{ column.name }} {{ column.type }}{{ "," if not loop.last }}
{%- endfor %}
)
COMMENT = %(description)s
