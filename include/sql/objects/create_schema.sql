-- The schema every declared object lives in (the database is the account administrator's).
CREATE SCHEMA IF NOT EXISTS {{ database }}.{{ schema }}
