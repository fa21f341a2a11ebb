-- A column declared since the table was created: added at the end, NULL in the existing rows.
ALTER TABLE {{ table.fqn }} ADD COLUMN {{ column.name }} {{ column.type }}{% if column.description %} COMMENT %(comment)s{% endif %}
