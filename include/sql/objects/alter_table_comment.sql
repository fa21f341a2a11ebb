-- The table's comment, from its declared description.
ALTER TABLE {{ table.fqn }} SET COMMENT = %(description)s
