-- The privileges granted on one declared object or schema; object_kind is one of live_objects.GRANT_KINDS.
SHOW GRANTS ON {{ object_kind }} {{ object_name }}
