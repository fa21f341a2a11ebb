-- How many rows a native table holds (what replacing it would lose).
SELECT COUNT(*) AS ROW_COUNT FROM {{ table.fqn }}
