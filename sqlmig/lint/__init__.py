"""`sqlmig lint`: dangerous DDL in migration files, found before anything runs.

`rules` is the catalogue (codes, what happens, the safe way, and the example each rule's truth
test runs on a real server); `sql` reads statements as tokens; `check` finds what each statement
does to tables that already exist; `waivers` reads `-- sqlmig:allow`; `grade` turns table sizes
and settings into severities. The database part (sizes, server version) is in `db/table_sizes.py`.
"""
