-- Register the files currently under the external table's location: one hour folder when a
-- sub-path is given (the ingest DAG), the whole location otherwise (the daily objects DAG).
ALTER EXTERNAL TABLE {{ external_table.fqn }} REFRESH{% if sub_path %} %(sub_path)s{% endif %}
