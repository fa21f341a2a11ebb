-- Grant the declared role privileges on an object: idempotent (a privilege already held changes nothing).
-- Privileges and kind are validated (declarations.PRIVILEGES, live_objects.GRANT_KINDS), names declared.
GRANT {{ privileges | join(", ") }} ON {{ object_kind }} {{ object_name }} TO ROLE {{ role }}
