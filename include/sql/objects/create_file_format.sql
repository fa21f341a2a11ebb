-- The JSON file format the stage, the external table and the COPY read the part files with: its declared
-- options (names and values validated against declarations.FILE_FORMAT_OPTIONS) and its description.
-- Replaced only when its TYPE differs (a TYPE cannot be altered); options change with alter_file_format.sql.
CREATE {% if replace %}OR REPLACE {% endif %}FILE FORMAT {% if not replace %}IF NOT EXISTS {% endif %}{{ file_format.fqn }}
{%- for option, value in file_format.file_format_options.items() %}
    {{ option }} = {{ value }}
{%- endfor %}
    COMMENT = %(description)s
