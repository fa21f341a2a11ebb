-- The external tables of a declared schema: the comment carries the fingerprint of the DDL that created it.
SHOW EXTERNAL TABLES IN SCHEMA {{ database }}.{{ schema }}
