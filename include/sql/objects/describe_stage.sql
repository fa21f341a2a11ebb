-- The stage's properties, one row each: FORMAT_NAME is the file format the stage reads with.
DESCRIBE STAGE {{ stage.fqn }}
