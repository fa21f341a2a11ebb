-- The changes a successful build covered are modeled. Only those the build read as pending: a load that
-- committed during the build stays pending for the next one.
UPDATE {{ hour_changes_table.fqn }}
SET BUILD_ID = %(build_id)s, MODELED_AT = %(modeled_at)s::TIMESTAMP_NTZ
WHERE BUILD_ID IS NULL AND LOAD_ID IN (%(load_ids)s)
