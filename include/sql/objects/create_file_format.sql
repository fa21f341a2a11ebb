-- The JSON file format the stage, the external table and the COPY read the part files with.
CREATE FILE FORMAT IF NOT EXISTS {{ file_format.fqn }}
    TYPE = JSON
    COMPRESSION = AUTO
    COMMENT = %(description)s
