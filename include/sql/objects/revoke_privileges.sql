-- Revoke from the declared role the privileges it holds but is no longer declared to have.
REVOKE {{ privileges | join(", ") }} ON {{ object_kind }} {{ object_name }} FROM ROLE {{ role }}
