"""The lint rules: stable codes, what each statement does, and the safe way to write it.

Each rule carries an `example` that fires it and a `rewrite` that does not, both written against
the tables of `TRUTH_SETUP`. The truth tests run them on real servers and check the lock, rewrite
and scan each rule claims against `pg_locks`, `relfilenode` and the table's scan counter, so a
claim here cannot drift from what PostgreSQL does.
"""

from __future__ import annotations

from typing import Literal, NamedTuple

Severity = Literal["info", "warning", "error"]
SEVERITIES: tuple[Severity, ...] = ("info", "warning", "error")

# Lock modes as pg_locks names them, weakest first (the order of PostgreSQL's conflict table).
LOCK_MODES = (
    "AccessShareLock",
    "RowShareLock",
    "RowExclusiveLock",
    "ShareUpdateExclusiveLock",
    "ShareLock",
    "ShareRowExclusiveLock",
    "ExclusiveLock",
    "AccessExclusiveLock",
)

# Who a lock mode blocks, in the words a reviewer needs.
BLOCKS = {
    "ShareUpdateExclusiveLock": "blocks other schema changes and VACUUM, not reads or writes",
    "ShareLock": "blocks writes (INSERT, UPDATE, DELETE), not reads",
    "ShareRowExclusiveLock": "blocks writes (INSERT, UPDATE, DELETE), not reads",
    "ExclusiveLock": "blocks writes (INSERT, UPDATE, DELETE), not reads",
    "AccessExclusiveLock": "blocks every read and write",
}

# The tables every rule's example and rewrite run against, with rows, in the truth tests.
TRUTH_SETUP = """
CREATE TABLE teams (id int PRIMARY KEY, name text NOT NULL);
INSERT INTO teams SELECT g, 'team ' || g FROM generate_series(1, 100) g;
CREATE TABLE users (
    id int PRIMARY KEY, email varchar(50), name text, age int, team_id int, status text DEFAULT 'new'
);
INSERT INTO users SELECT g, 'u' || g || '@example.com', 'user ' || g, g % 90, g % 100 + 1, 'new'
FROM generate_series(1, 5000) g;
CREATE TYPE mood AS ENUM ('happy', 'sad');
CREATE MATERIALIZED VIEW team_sizes AS SELECT team_id, count(*) AS n FROM users GROUP BY team_id;
CREATE UNIQUE INDEX team_sizes_team_id ON team_sizes (team_id);
"""

Family = Literal["locks", "application", "production", "reversibility", "waivers"]


class Rule(NamedTuple):
    """One rule. `severity` is what a finding gets on a table of unknown size (no database) or a
    large one; `graded` rules are lowered on small tables (not those whose statement fails with
    any row) and to info on empty ones."""

    code: str
    name: str
    family: Family
    severity: Severity
    graded: bool
    what: str  # what happens, generically; a finding adds the table and its size
    safe: str  # the safe way, with the statements to write
    example: str = ""  # fires the rule (against TRUTH_SETUP)
    rewrite: str = ""  # the safe way as SQL: does not fire; may be several statements
    lock: str | None = None  # the lock the example takes on the table it names (pg_locks mode)
    rewrites: bool = False  # the example gives the table new storage
    scans: bool = False  # the example reads the whole table (pg_stat_xact_user_tables.seq_scan)
    fails_with_rows: bool = False  # the example fails on a table with rows and works on an empty one
    rewrite_outside_transaction: bool = False  # the rewrite cannot run in a transaction block
    rewrite_setup: str = ""  # what the rewrite needs first (run before it, not measured)

    def to_dict(self) -> dict[str, object]:
        """`lint --rules --json`: what a rule is, without its test material."""
        return {
            "code": self.code,
            "name": self.name,
            "family": self.family,
            "severity": self.severity,
            "graded": self.graded,
            "what": self.what,
            "safe": self.safe,
        }


RULES: tuple[Rule, ...] = (
    Rule(
        "SM101", "index-without-concurrently", "locks", "error", True,
        "CREATE INDEX takes a SHARE lock on the table for the whole build: it blocks writes "
        "(INSERT, UPDATE, DELETE) until the index is built",
        "build it with CREATE INDEX CONCURRENTLY, alone in a file marked `-- sqlmig:no-transaction` "
        "(if it fails it leaves an INVALID index: DROP INDEX CONCURRENTLY it and run the file again)",
        example="CREATE INDEX users_age ON users (age);",
        rewrite="CREATE INDEX CONCURRENTLY users_age ON users (age);",
        lock="ShareLock",
        rewrite_outside_transaction=True,
        scans=True,
    ),
    Rule(
        "SM102", "add-column-not-null-without-default", "locks", "error", True,
        "ADD COLUMN ... NOT NULL without a DEFAULT fails on a table that has rows (every existing row "
        "would be NULL): it works on an empty development database and fails in production",
        "give it a constant default (`ADD COLUMN c int NOT NULL DEFAULT 0`, no rewrite since PostgreSQL 11), "
        "or add it nullable, backfill it in batches, then set NOT NULL (see SM105)",
        example="ALTER TABLE users ADD COLUMN score int NOT NULL;",
        rewrite="ALTER TABLE users ADD COLUMN score int NOT NULL DEFAULT 0;",
        lock="AccessExclusiveLock",
        fails_with_rows=True,
    ),
    Rule(
        "SM103", "add-column-volatile-default", "locks", "error", True,
        "ADD COLUMN with a volatile DEFAULT (random(), clock_timestamp(), gen_random_uuid(), nextval(), ...) "
        "rewrites the whole table under an ACCESS EXCLUSIVE lock: no reads or writes until it is done "
        "(before PostgreSQL 11, any DEFAULT does)",
        "add the column without a default (or with a constant one), set the default for new rows with "
        "ALTER COLUMN ... SET DEFAULT, then backfill existing rows in batches",
        example="ALTER TABLE users ADD COLUMN token uuid DEFAULT gen_random_uuid();",
        rewrite=(
            "ALTER TABLE users ADD COLUMN token uuid;\n"
            "ALTER TABLE users ALTER COLUMN token SET DEFAULT gen_random_uuid();"
        ),
        lock="AccessExclusiveLock",
        rewrites=True,
        scans=True,
    ),
    Rule(
        "SM104", "alter-column-type", "locks", "error", True,
        "ALTER COLUMN ... TYPE rewrites the table and rebuilds its indexes under an ACCESS EXCLUSIVE lock "
        "unless the new type is binary-coercible (varchar(n) to a longer varchar or to text, numeric(p,s) "
        "to a larger precision with the same scale)",
        "add a new column of the new type, write to both, backfill in batches, switch readers, then drop "
        "the old column; or widen only (varchar(n) to varchar(m) with m >= n, or to text)",
        example="ALTER TABLE users ALTER COLUMN age TYPE bigint;",
        rewrite="ALTER TABLE users ALTER COLUMN email TYPE varchar(100);",
        lock="AccessExclusiveLock",
        rewrites=True,
        scans=True,
    ),
    Rule(
        "SM105", "set-not-null", "locks", "error", True,
        "ALTER COLUMN ... SET NOT NULL reads the whole table to check it under an ACCESS EXCLUSIVE lock: "
        "no reads or writes until the scan is done",
        "first `ADD CONSTRAINT c CHECK (col IS NOT NULL) NOT VALID`, then `VALIDATE CONSTRAINT c` "
        "(a lock that lets reads and writes go on), then SET NOT NULL, which skips the scan "
        "(PostgreSQL 12+), then drop the CHECK; each committed on its own (separate migrations, or a "
        "`-- sqlmig:no-transaction` file): in one transaction the ADD's ACCESS EXCLUSIVE lock is held "
        "through the VALIDATE scan",
        example="ALTER TABLE users ALTER COLUMN email SET NOT NULL;",
        rewrite=(
            "-- sqlmig:no-transaction\n"
            "ALTER TABLE users ADD CONSTRAINT users_email_not_null CHECK (email IS NOT NULL) NOT VALID;\n"
            "ALTER TABLE users VALIDATE CONSTRAINT users_email_not_null;\n"
            "ALTER TABLE users ALTER COLUMN email SET NOT NULL;\n"
            "ALTER TABLE users DROP CONSTRAINT users_email_not_null;"
        ),
        lock="AccessExclusiveLock",
        scans=True,
    ),
    Rule(
        "SM106", "constraint-without-not-valid", "locks", "error", True,
        "ADD CONSTRAINT ... FOREIGN KEY or CHECK checks every existing row while holding its lock "
        "(a CHECK: ACCESS EXCLUSIVE, no reads or writes; a FOREIGN KEY: SHARE ROW EXCLUSIVE on both "
        "tables, no writes)",
        "add it with NOT VALID (new rows are checked at once, no scan), then `VALIDATE CONSTRAINT` "
        "in a later migration (or a later statement of a `-- sqlmig:no-transaction` file), which scans "
        "under a lock that lets reads and writes go on; in the same transaction the ADD's lock is held "
        "through the scan",
        example="ALTER TABLE users ADD CONSTRAINT users_team_fk FOREIGN KEY (team_id) REFERENCES teams (id);",
        rewrite=(
            "-- sqlmig:no-transaction\n"
            "ALTER TABLE users ADD CONSTRAINT users_team_fk FOREIGN KEY (team_id) REFERENCES teams (id) NOT VALID;\n"
            "ALTER TABLE users VALIDATE CONSTRAINT users_team_fk;"
        ),
        lock="ShareRowExclusiveLock",
        scans=True,
    ),
    Rule(
        "SM107", "unique-without-index", "locks", "error", True,
        "ADD CONSTRAINT ... UNIQUE or PRIMARY KEY builds its index under an ACCESS EXCLUSIVE lock: "
        "no reads or writes until the index is built",
        "build the index first with `CREATE UNIQUE INDEX CONCURRENTLY i ON t (col)` (its own "
        "no-transaction file), then `ADD CONSTRAINT c UNIQUE USING INDEX i`, which only takes the lock briefly",
        example="ALTER TABLE users ADD CONSTRAINT users_email_key UNIQUE (email);",
        rewrite="ALTER TABLE users ADD CONSTRAINT users_email_key UNIQUE USING INDEX users_email_idx;",
        lock="AccessExclusiveLock",
        scans=True,
        rewrite_setup="CREATE UNIQUE INDEX users_email_idx ON users (email);",
    ),
    Rule(
        "SM108", "add-column-rewrites", "locks", "error", True,
        "ADD COLUMN with serial, GENERATED ... AS IDENTITY or GENERATED ALWAYS AS (...) STORED fills every "
        "existing row: the table is rewritten under an ACCESS EXCLUSIVE lock, no reads or writes until done",
        "add a plain nullable column, backfill it in batches, then attach the sequence or default; "
        "or create the table with the column from the start",
        example="ALTER TABLE users ADD COLUMN seq bigserial;",
        rewrite="ALTER TABLE users ADD COLUMN seq bigint;",
        lock="AccessExclusiveLock",
        rewrites=True,
        scans=True,
    ),
    Rule(
        "SM109", "table-rewrite-command", "locks", "error", True,
        "CLUSTER, VACUUM FULL and ALTER TABLE ... SET TABLESPACE, SET LOGGED, SET UNLOGGED or SET ACCESS "
        "METHOD write the whole table anew under an ACCESS EXCLUSIVE lock: no reads or writes until done",
        "do not run them in a migration; use pg_repack or pg_squeeze, which hold the lock only briefly, "
        "or plain VACUUM",
        example="CLUSTER users USING users_pkey;",
        rewrite="VACUUM users;",
        lock="AccessExclusiveLock",
        rewrites=True,
        rewrite_outside_transaction=True,
        scans=True,
    ),
    Rule(
        "SM110", "refresh-without-concurrently", "locks", "error", True,
        "REFRESH MATERIALIZED VIEW takes an ACCESS EXCLUSIVE lock on the view: no reads of it until done",
        "REFRESH MATERIALIZED VIEW CONCURRENTLY (needs a unique index on the view): reads go on",
        example="REFRESH MATERIALIZED VIEW team_sizes;",
        rewrite="REFRESH MATERIALIZED VIEW CONCURRENTLY team_sizes;",
        lock="AccessExclusiveLock",
        rewrites=True,
        scans=True,
    ),
    Rule(
        "SM111", "lock-table", "locks", "warning", True,
        "LOCK TABLE in a mode that blocks writes (SHARE or stronger; ACCESS EXCLUSIVE when none is named) "
        "holds it until the migration commits",
        "leave the locking to the statements that need it, and keep the migration short; "
        "if the lock is really needed, name the weakest mode that serves and set lock_timeout",
        example="LOCK TABLE users;",
        rewrite="LOCK TABLE users IN SHARE UPDATE EXCLUSIVE MODE;",
        lock="AccessExclusiveLock",
    ),
    Rule(
        "SM112", "no-lock-timeout", "locks", "warning", True,
        "this statement needs an ACCESS EXCLUSIVE lock; with no lock_timeout it waits behind any long "
        "query on the table, and every query that comes after waits behind it: the table stops answering",
        "set a lock_timeout: the lock_timeout setting or --lock-timeout, `-- sqlmig:lock_timeout=5s` "
        "in the file's leading comments, or `SET lock_timeout = '5s';` above it; with lock_retries "
        "sqlmig tries again",
        example="ALTER TABLE users RENAME COLUMN name TO full_name;",
        rewrite="SET lock_timeout = '5s';\nALTER TABLE users RENAME COLUMN name TO full_name;",
        lock="AccessExclusiveLock",
    ),
    Rule(
        "SM113", "index-maintenance-without-concurrently", "locks", "error", True,
        "DROP INDEX takes an ACCESS EXCLUSIVE lock on the index's table (no reads or writes until it "
        "commits); REINDEX takes a SHARE lock on the table (no writes) while it rebuilds",
        "DROP INDEX CONCURRENTLY, or REINDEX ... CONCURRENTLY (PostgreSQL 12+), alone in a file marked "
        "`-- sqlmig:no-transaction`",
        example="REINDEX TABLE users;",
        rewrite="REINDEX TABLE CONCURRENTLY users;",
        lock="ShareLock",
        rewrite_outside_transaction=True,
    ),
    Rule(
        "SM201", "drop-column", "application", "warning", False,
        "DROP COLUMN breaks every running query and INSERT that names the column, until the application "
        "is deployed without it; the data is gone",
        "deploy application code that no longer uses the column first, then drop it in a later migration",
        example="ALTER TABLE users DROP COLUMN name;",
        lock="AccessExclusiveLock",
    ),
    Rule(
        "SM202", "drop-table", "application", "warning", False,
        "DROP TABLE breaks every running query that uses the table; the data is gone",
        "stop using the table in the application first, deploy, then drop it in a later migration",
        example="DROP MATERIALIZED VIEW team_sizes;\nDROP TABLE teams, users;",
        lock="AccessExclusiveLock",
    ),
    Rule(
        "SM203", "rename-table", "application", "warning", False,
        "RENAME of a table breaks every running query that uses the old name",
        "create a view with the old name during the switch, or deploy code that reads both names first; "
        "rename when nothing uses the old one",
        example="ALTER TABLE users RENAME TO members;",
        lock="AccessExclusiveLock",
    ),
    Rule(
        "SM204", "rename-column", "application", "warning", False,
        "RENAME COLUMN breaks every running query and INSERT that uses the old name",
        "add the new column, write to both, backfill, switch readers, then drop the old column",
        example="ALTER TABLE users RENAME COLUMN name TO full_name;",
        lock="AccessExclusiveLock",
    ),
    Rule(
        "SM205", "rename-enum-value", "application", "warning", False,
        "ALTER TYPE ... RENAME VALUE breaks every running query and stored value comparison that uses the "
        "old label",
        "add the new label (ADD VALUE), move rows to it, deploy code that uses it, and keep the old one",
        example="ALTER TYPE mood RENAME VALUE 'sad' TO 'unhappy';",
        rewrite="ALTER TYPE mood ADD VALUE 'unhappy';",
    ),
    Rule(
        "SM206", "drop-default", "application", "warning", False,
        "DROP DEFAULT makes INSERTs that leave the column out write NULL (or fail on a NOT NULL column) "
        "while the running application still relies on the default",
        "deploy code that always gives the column a value first, then drop the default",
        example="ALTER TABLE users ALTER COLUMN status DROP DEFAULT;",
        lock="AccessExclusiveLock",
    ),
    Rule(
        "SM301", "update-without-where", "production", "warning", True,
        "an UPDATE or DELETE of the whole table writes every row in one transaction: every row stays locked "
        "against other writers until commit, and a big table bloats and floods the WAL",
        "backfill in batches of a few thousand rows (`UPDATE ... WHERE id BETWEEN ...`), each committed on "
        "its own, outside the schema migration",
        example="UPDATE users SET status = 'active';",
        rewrite="UPDATE users SET status = 'active' WHERE id BETWEEN 1 AND 1000;",
        scans=True,
    ),
    Rule(
        "SM302", "backfill-with-ddl", "production", "warning", True,
        "this statement writes rows of a table that the same migration also alters: the schema change's "
        "lock (ACCESS EXCLUSIVE for most) is held for the whole backfill, so nobody reads or writes the table",
        "put the backfill in its own migration after the schema change, in batches",
        example="ALTER TABLE users ADD COLUMN score int;\nUPDATE users SET score = 0 WHERE score IS NULL;",
        rewrite="ALTER TABLE users ADD COLUMN score int;",
        lock="AccessExclusiveLock",
        scans=True,
    ),
    Rule(
        "SM303", "enum-value-used-in-same-transaction", "production", "error", False,
        "a label added with ALTER TYPE ... ADD VALUE cannot be used until that transaction commits: "
        "the migration fails with `unsafe use of new value` (checked on PostgreSQL 15, 16 and 18)",
        "add the label in one migration and use it in a later one (or in a file marked "
        "`-- sqlmig:no-transaction`, where each statement commits on its own)",
        example="ALTER TYPE mood ADD VALUE 'calm';\nSELECT 'calm'::mood;",
        rewrite="ALTER TYPE mood ADD VALUE 'calm';",
    ),
    Rule(
        "SM304", "concurrently-with-other-statements", "production", "warning", False,
        "CREATE INDEX CONCURRENTLY in a file with other statements: if it fails it leaves an INVALID "
        "index behind, and the statements before it stay committed, so the file cannot simply run again",
        "put each CREATE INDEX CONCURRENTLY alone in its own no-transaction migration",
        example="-- sqlmig:no-transaction\nCREATE INDEX CONCURRENTLY users_age ON users (age);\nANALYZE users;",
        rewrite="-- sqlmig:no-transaction\nCREATE INDEX CONCURRENTLY users_age ON users (age);",
    ),
    Rule(
        "SM401", "down-cannot-restore-data", "reversibility", "warning", False,
        "this up destroys data (DROP TABLE, DROP COLUMN, TRUNCATE, DELETE) that its down cannot bring back: "
        "the down recreates the structure, empty",
        "say so in the down file (and waive this with the reason), or keep the data: rename or copy it "
        "aside in the up and drop it in a later migration",
        example="ALTER TABLE users DROP COLUMN name;",
    ),
    Rule(
        "SM402", "empty-down", "reversibility", "warning", False,
        "the down file has no statement, but its up changes the schema: `sqlmig down` would record the "
        "migration as reverted and leave everything in place",
        "write the statements that undo the up, or delete the down file to mark the migration irreversible",
    ),
    Rule(
        "SM001", "unknown-waiver-code", "waivers", "error", False,
        "a `-- sqlmig:allow` comment names a code that is not a rule, so it waives nothing",
        "use a code from `sqlmig lint --rules` (SM101 ...)",
    ),
    Rule(
        "SM002", "waiver-without-reason", "waivers", "warning", False,
        "a `-- sqlmig:allow` comment gives no reason: the next reader cannot tell why the risk is accepted",
        "add the reason after the codes: `-- sqlmig:allow SM101 table is empty in every environment`",
    ),
)  # fmt: skip

BY_CODE = {r.code: r for r in RULES}
