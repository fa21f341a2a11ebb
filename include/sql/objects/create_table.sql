-- A native table of the declaration (the raw table the COPY fills, the rejects, the check results).
CREATE TABLE IF NOT EXISTS {{ table.fqn }} (
{%- for column in table.columns %}
    {{ column.name }} {{ column.type }}{{ "," if not loop.last }}
{%- endfor %}
)
COMMENT = %(description)s
