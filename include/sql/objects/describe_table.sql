-- A native table's columns: name, type and comment of each.
DESCRIBE TABLE {{ table.fqn }}
