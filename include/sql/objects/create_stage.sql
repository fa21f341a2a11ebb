-- External stage on the S3 prefix Flink writes to. Real accounts authenticate through a storage
-- integration; the local stack reads its S3 endpoint from its own configuration. No directory table:
-- the ingest lists each hour from S3 and the external table keeps its own file registrations.
CREATE STAGE IF NOT EXISTS {{ stage.fqn }}
    URL = %(url)s
{%- if stage.storage_integration %}
    STORAGE_INTEGRATION = {{ stage.storage_integration }}
{%- endif %}
    FILE_FORMAT = (FORMAT_NAME = {{ file_format.fqn }})
    COMMENT = %(description)s
