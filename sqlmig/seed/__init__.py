"""Seeding, without the database: a JSON file of rows read, checked and turned into COPY text; pure.

One module a job, in the order a seed uses them:

- file: read the file (UTF-8, strict JSON, the shipped schema) into a SeedFile of SeedTables
- strict_json: JSON with exact numbers, refusing what Python's json lets through (NaN, repeated keys)
- schema: the JSON Schema and its violations, each at its JSON Pointer
- catalog: what the catalog says about a target table (filled by db/load)
- rows: rows matched to the catalog, keys checked, grouped into RowGroups of COPY text
- values: a JSON value as the text PostgreSQL reads for a column type
- problems: problems collected across these stages and reported all at once

db/load asks the server what only it can say, and loads the rows.
"""
