-- The stages of a declared schema: url, storage_integration, directory_enabled and comment of each.
SHOW STAGES IN SCHEMA {{ database }}.{{ schema }}
