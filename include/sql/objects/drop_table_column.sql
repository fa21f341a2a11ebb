-- A live column the declaration no longer has (destructive: only when explicitly allowed). The name is the
-- live one, checked to be a plain upper-case identifier before it is templated.
ALTER TABLE {{ table.fqn }} DROP COLUMN {{ column_name }}
