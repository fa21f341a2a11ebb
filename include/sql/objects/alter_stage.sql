-- Set the stage properties that differ from the declaration (an external stage's data stays in S3).
ALTER STAGE {{ stage.fqn }} SET
{%- if "url" in changed %}
    URL = %(url)s
{%- endif %}
{%- if "storage_integration" in changed %}
    STORAGE_INTEGRATION = {{ stage.storage_integration }}
{%- endif %}
{%- if "file_format" in changed %}
    FILE_FORMAT = (FORMAT_NAME = {{ file_format.fqn }})
{%- endif %}
{%- if "comment" in changed %}
    COMMENT = %(description)s
{%- endif %}
