-- The external table's columns: VALUE, then the declared (VIRTUAL) columns with their types.
DESCRIBE EXTERNAL TABLE {{ external_table.fqn }}
