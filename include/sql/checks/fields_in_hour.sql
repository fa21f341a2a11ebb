-- Which top-level fields the hour's records carry, and in how many records.
SELECT field.KEY AS FIELD_NAME, COUNT(*) AS RECORDS
FROM {{ raw_table.fqn }} AS raw_rows,
    LATERAL FLATTEN(INPUT => raw_rows.RECORD) AS field
WHERE raw_rows.REPLICATION_HOUR = %(replication_hour)s::TIMESTAMP_NTZ
GROUP BY 1
