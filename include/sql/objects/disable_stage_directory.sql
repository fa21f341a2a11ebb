-- Drop the directory table a stage created before the declaration dropped it (nothing reads it).
ALTER STAGE {{ stage.fqn }} SET DIRECTORY = (ENABLE = FALSE)
