-- A dbt build ended (success or failed), with the nodes that failed.
UPDATE {{ model_builds_table.fqn }}
SET FINISHED_AT = %(finished_at)s::TIMESTAMP_NTZ, STATUS = %(status)s, DETAILS = %(details)s
WHERE BUILD_ID = %(build_id)s
