-- The schemas of the declared database (the plan creates a declared schema that is missing).
SHOW SCHEMAS IN DATABASE {{ database }}
