-- The tables of a declared schema and their comments (external tables are listed too, is_external = Y).
SHOW TABLES IN SCHEMA {{ database }}.{{ schema }}
