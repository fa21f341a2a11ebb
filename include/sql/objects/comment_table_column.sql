-- A column's comment, from its declared description.
ALTER TABLE {{ table.fqn }} ALTER COLUMN {{ column.name }} COMMENT %(comment)s
