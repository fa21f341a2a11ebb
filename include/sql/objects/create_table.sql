-- A native table of the declaration (raw, rejects, check results, hour changes, model builds), its
-- description and its columns' descriptions as comments. Replaced only when a column is retyped and the
-- destructive switch allows it (its rows are lost).
CREATE {% if replace %}OR REPLACE {% endif %}TABLE {% if not replace %}IF NOT EXISTS {% endif %}{{ table.fqn }} (
{%- for column in table.columns %}
    {{ column.name }} {{ column.type }}{% if column.description %} COMMENT %(column_{{ loop.index }})s{% endif %}{{ "," if not loop.last }}
{%- endfor %}
)
COMMENT = %(description)s
