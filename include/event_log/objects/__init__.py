"""Objects: the declared Snowflake objects, validated (declarations), read live (live_objects), planned (object_plan,
object_statements) and applied (snowflake_objects).
"""
