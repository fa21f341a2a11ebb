-- The file formats of a declared schema: name, type, comment and format_options (JSON) of each.
SHOW FILE FORMATS IN SCHEMA {{ database }}.{{ schema }}
