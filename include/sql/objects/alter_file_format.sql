-- Set the file format options (validated names and values: declared, or Snowflake's default for an option the
-- declaration leaves out) and the comment that differ from the live format.
ALTER FILE FORMAT {{ file_format.fqn }} SET
{%- for option, value in options.items() %}
    {{ option }} = {{ value }}
{%- endfor %}
{%- if comment %}
    COMMENT = %(description)s
{%- endif %}
