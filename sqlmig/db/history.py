"""The history table: create it, upgrade it in place, read it, and compose the rows runs write."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal, NamedTuple, cast

import psycopg
from psycopg import sql
from psycopg.rows import class_row

from ..errors import HistoryError, Problem, RefusedError
from ..migrations import Migration
from ..plan import AppliedMigration
from .connect import Conn
from .refusals import server_refused


class _RecordedSql(NamedTuple):
    """What applied_sql() reads: the SQL a migration ran with (None where an older sqlmig kept none)."""

    version: int
    applied_sql: str | None


class _RecordedDown(NamedTuple):
    """What recorded_down() reads: the down SQL recorded with a migration (None before sqlmig kept it)."""

    version: int
    down_sql: str | None


class AppliedRow(NamedTuple):
    """What the history records of a migration as applied: its name, the up SQL it ran with and its
    checksum, and the down SQL of the same release with its checksum (what `down --use-recorded`
    reverts it with once its files are gone). Every INSERT of a row is built from one (insert_row)."""

    version: int
    name: str
    checksum: str
    applied_sql: str
    down_sql: str
    down_checksum: str

    @classmethod
    def of(cls, m: Migration) -> AppliedRow:
        return cls(m.version, m.name, m.checksum, m.up.sql, m.down.sql, m.down_checksum)


# How insert_row writes the values: %s placeholders (psycopg's execute), $1... (libpq's, as the
# executor's pipeline takes them), or the values themselves as literals (SQL to print).
ParamStyle = Literal["format", "numbered", "literal"]

# The columns insert_row writes from an AppliedRow (then error, execution_ms and state), in order.
ROW_COLUMNS = (*AppliedRow._fields, "error")


def insert_row(
    table: sql.Identifier,
    row: AppliedRow,
    *,
    execution_ms: int | sql.Composable | None = None,
    state: Literal["applied", "failed"] = "applied",
    error: str | None = None,
    params: ParamStyle = "format",
) -> tuple[sql.Composed, list[object]]:
    """The one INSERT of a history row, as a composed statement and its parameters: every path that
    records a migration as applied (or failed part-way) writes it. `execution_ms` is a value, or an
    expression the server computes (the file's elapsed time, see _elapsed_ms). With params="literal"
    the values are in the statement (parameters empty): `.as_string(conn)` is SQL to print."""
    values: list[object] = [*row, error]
    columns = [sql.Identifier(c) for c in ROW_COLUMNS]
    if isinstance(execution_ms, sql.Composable):
        timing: sql.Composable = execution_ms
    else:
        columns.append(sql.Identifier("execution_ms"))
        values.append(execution_ms)
        timing = sql.SQL("")
    if params == "literal":
        shown: list[sql.Composable] = [sql.Literal(v) for v in values]
        values = []
    elif params == "numbered":
        shown = [sql.SQL(f"${i}") for i in range(1, len(values) + 1)]
    else:
        shown = [sql.Placeholder() for _ in values]
    if isinstance(execution_ms, sql.Composable):
        columns.append(sql.Identifier("execution_ms"))
        shown.append(timing)
    columns.append(sql.Identifier("state"))
    shown.append(sql.Literal(state))
    query = sql.SQL("INSERT INTO {} ({}) VALUES ({})").format(
        table, sql.SQL(", ").join(columns), sql.SQL(", ").join(shown)
    )
    return query, values


# The table as the first sqlmig created it; never change this statement, add an upgrade instead.
_CREATE = """
CREATE TABLE IF NOT EXISTS {table} (
    version bigint PRIMARY KEY,
    name text NOT NULL,
    checksum text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now(),
    applied_by text NOT NULL DEFAULT current_user,
    execution_ms integer,
    seq bigint GENERATED ALWAYS AS IDENTITY
)
"""

# The columns of the table the first sqlmig created: a table of that name without them is not ours.
CORE_COLUMNS = ("version", "name", "checksum", "applied_at", "applied_by", "execution_ms", "seq")

_KINDS = {
    "v": "a view",
    "m": "a materialized view",
    "f": "a foreign table",
    "S": "a sequence",
    "i": "an index",
    "I": "an index",
    "c": "a composite type",
    "t": "a TOAST table",
}

# Columns later versions added, in order; each is applied with ADD COLUMN IF NOT EXISTS.
UPGRADES: tuple[tuple[str, str], ...] = (
    ("applied_sql", "text"),
    ("state", "text NOT NULL DEFAULT 'applied'"),
    ("error", "text"),
    # the down SQL of the release that applied the migration, and its checksum: NULL in rows an
    # older sqlmig wrote (`down --use-recorded` refuses those; status cannot compare their down)
    ("down_sql", "text"),
    ("down_checksum", "text"),
)

# When a file started, for its execution_ms, computed by the server in the same pipeline as the
# file: a file in its own transaction started with it (now() is the transaction's start); a file in
# a savepoint of a longer transaction (--single-transaction, seed rehearsals) is marked by the
# executor in FILE_STARTED (transaction-locally) when its savepoint starts.
FILE_STARTED = "sqlmig.file_started"
_STARTED = {
    False: "pg_catalog.now()",
    True: f"pg_catalog.current_setting('{FILE_STARTED}')::timestamptz",
}


def ensure_statements(
    ident: sql.Identifier, schema: str, columns: set[str] | None, schema_exists: bool, conn: Conn | None = None
) -> list[str]:
    """The statements ensure() runs for a table with these `columns` (None: no table yet), as text,
    run by nobody here: what `--print-sql` writes before the files."""
    out: list[sql.Composable] = []
    if columns is None:
        if not schema_exists:
            out.append(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
        out.append(sql.SQL(_CREATE).format(table=ident))
        columns = set(CORE_COLUMNS)
    out.extend(
        sql.SQL("ALTER TABLE {} ADD COLUMN IF NOT EXISTS {} " + ddl).format(ident, sql.Identifier(name))
        for name, ddl in UPGRADES
        if name not in columns
    )
    return [s.as_string(conn).strip() for s in out]


def _elapsed_ms(in_savepoint: bool) -> str:
    return f"(extract(epoch FROM pg_catalog.clock_timestamp() - {_STARTED[in_savepoint]}) * 1000)::integer"


class History:
    """Access to one history table, named by schema and table (always quoted identifiers)."""

    def __init__(self, conn: Conn, schema: str, table: str) -> None:
        self.conn = conn
        self.schema = schema
        self.table = table
        self.ident = sql.Identifier(schema, table)
        self._columns: set[str] | None = None
        self._looked = False
        self._insert: dict[bool, str] = {}  # the row statements, composed once per run
        self._delete: str | None = None

    @classmethod
    def builders(cls, schema: str, table: str) -> History:
        """A History without a connection, for its statement builders only (insert_query,
        delete_query): `migrate --print-sql --from-empty` composes a run's SQL with no database."""
        return cls(cast("Conn", None), schema, table)

    def ensure_sql(self) -> list[str]:
        """What ensure() would run now, as text, running nothing (`--print-sql`): the creation of a
        missing table, the columns an older sqlmig's table lacks; nothing for an up-to-date one."""
        cols = self.columns()
        return ensure_statements(self.ident, self.schema, cols, cols is not None or self._schema_exists(), self.conn)

    def columns(self) -> set[str] | None:
        """The table's columns, or None when no relation of that name exists (nothing applied yet).

        Asked once per History: a run holds the migration lock, and only ensure() changes them.
        Raises RefusedError when the name is taken by something that is not sqlmig's history (a
        view, or another tool's table): sqlmig neither reads nor alters it.
        """
        if self._looked:
            return self._columns
        try:
            rows = self.conn.execute(
                "SELECT c.relkind, a.attname FROM pg_catalog.pg_class c"
                " JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
                " LEFT JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0"
                " AND NOT a.attisdropped"
                " WHERE n.nspname = %s AND c.relname = %s ORDER BY a.attnum",
                (self.schema, self.table),
            ).fetchall()
        except psycopg.Error as exc:
            raise server_refused(exc, f"cannot read the history table {self.name}") from None
        self._looked = True
        if not rows:
            self._columns = None
            return None
        kind = str(rows[0][0])
        found = [str(r[1]) for r in rows if r[1] is not None]
        if kind not in ("r", "p"):
            self._not_ours(f"is {_KINDS.get(kind, 'a relation')}, not sqlmig's history table")
        missing = [c for c in CORE_COLUMNS if c not in found]
        if missing:
            self._not_ours(
                f"is not sqlmig's history table: it has columns {', '.join(found) or '(none)'}, "
                f"and not {', '.join(missing)}"
            )
        self._columns = set(found)
        return self._columns

    @property
    def name(self) -> str:
        return f"{self.schema}.{self.table}"

    def _not_ours(self, what: str) -> None:
        raise RefusedError(
            f"{self.name} {what}; sqlmig left it as it is and ran nothing",
            [Problem(self.name, what)],
            hint="it belongs to something else (another migration tool?): give sqlmig a table of its own with "
            "history_table (and history_schema) in sqlmig.toml or SQLMIG_HISTORY_TABLE, e.g. "
            "SQLMIG_HISTORY_TABLE=sqlmig_history",
        )

    def ensure(self) -> None:
        """Create the table (and its schema, only when that is missing: a role with CREATE on the
        schema but not on the database must be able to migrate), or upgrade an older sqlmig's
        table in place; idempotent."""
        cols = self.columns()
        try:
            if cols is None:
                if not self._schema_exists():
                    self.conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(self.schema)))
                self.conn.execute(sql.SQL(_CREATE).format(table=self.ident))
                self._looked = False
                cols = self.columns() or set()
            for name, ddl in UPGRADES:
                if name not in cols:
                    self.conn.execute(
                        sql.SQL("ALTER TABLE {} ADD COLUMN IF NOT EXISTS {} " + ddl).format(
                            self.ident, sql.Identifier(name)
                        )
                    )
                    cols.add(name)
        except psycopg.Error as exc:
            doing = "create" if self._columns is None else "upgrade"
            if doing == "create":
                grant = (
                    f"GRANT CREATE ON SCHEMA {self.schema} TO {self.conn.info.user}, or create the table as its owner"
                )
            else:
                grant = f"run once as the owner of {self.name}: sqlmig adds the columns a newer version needs"
            raise server_refused(exc, f"cannot {doing} the history table {self.name}", privilege_hint=grant) from None
        self._columns = cols

    def _schema_exists(self) -> bool:
        row = self.conn.execute("SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = %s", (self.schema,)).fetchone()
        return row is not None

    def read(self) -> list[AppliedMigration]:
        """Every row (without the stored SQL, which is fetched only for files whose checksum differs)."""
        try:
            return self._read()
        except psycopg.Error as exc:
            grant = f"GRANT SELECT ON {self.name} TO {self.conn.info.user} (as the table's owner)"
            raise server_refused(exc, f"cannot read the history table {self.name}", privilege_hint=grant) from None

    def _read(self) -> list[AppliedMigration]:
        cols = self.columns()
        if cols is None:
            return []
        state = sql.Identifier("state") if "state" in cols else sql.SQL("'applied'")
        error = sql.Identifier("error") if "error" in cols else sql.SQL("NULL")
        down = sql.Identifier("down_checksum") if "down_checksum" in cols else sql.SQL("NULL")
        query = sql.SQL(
            "SELECT version, name, checksum, applied_at, applied_by, execution_ms, seq,"
            " {} AS state, {} AS error, {} AS down_checksum FROM {} ORDER BY seq"
        ).format(state, error, down, self.ident)
        # The columns are named as the record's fields: psycopg builds the records (typed rows).
        with self.conn.cursor(row_factory=class_row(AppliedMigration)) as cur:
            return cur.execute(query).fetchall()

    def applied_sql(self, versions: Iterable[int]) -> dict[int, str | None]:
        """The SQL recorded when these migrations ran (None where an older sqlmig kept none)."""
        wanted = list(versions)
        cols = self.columns()
        if not wanted or cols is None or "applied_sql" not in cols:
            return {v: None for v in wanted}
        query = sql.SQL("SELECT version, applied_sql FROM {} WHERE version = ANY(%s)").format(self.ident)
        with self.conn.cursor(row_factory=class_row(_RecordedSql)) as cur:
            found = {r.version: r.applied_sql for r in cur.execute(query, (wanted,))}
        return {v: found.get(v) for v in wanted}

    def recorded_down(self, versions: Iterable[int]) -> dict[int, str | None]:
        """The down SQL recorded when these migrations were applied (None where none was kept)."""
        wanted = list(versions)
        cols = self.columns()
        if not wanted or cols is None or "down_sql" not in cols:
            return {v: None for v in wanted}
        query = sql.SQL("SELECT version, down_sql FROM {} WHERE version = ANY(%s)").format(self.ident)
        with self.conn.cursor(row_factory=class_row(_RecordedDown)) as cur:
            found = {r.version: r.down_sql for r in cur.execute(query, (wanted,))}
        return {v: found.get(v) for v in wanted}

    def insert_query(self, row: AppliedRow, *, in_savepoint: bool = False) -> tuple[str, list[object]]:
        """The row of an applied migration (insert_row), sent in the same transaction (and pipeline)
        as its SQL; libpq placeholders ($1...), as the executor's pipeline takes them. in_savepoint:
        the file ran in a savepoint of a longer transaction (its start is then the executor's mark)."""
        query, params = insert_row(self.ident, row, execution_ms=sql.SQL(_elapsed_ms(in_savepoint)), params="numbered")
        if in_savepoint not in self._insert:  # the same text for every row of a run: composed once
            self._insert[in_savepoint] = query.as_string(self.conn)
        return self._insert[in_savepoint], params

    def delete_query(self, version: int) -> tuple[str, list[object]]:
        """Removal of a reverted migration's row, sent with its down SQL."""
        if self._delete is None:
            self._delete = sql.SQL("DELETE FROM {} WHERE version = $1").format(self.ident).as_string(self.conn)
        return self._delete, [version]

    def record_failed(self, row: AppliedRow, error: str) -> None:
        """A non-transactional up that stopped part-way: its row says so until a human resolves it
        (its down is recorded already: resolved, it is applied like any other)."""
        query, params = insert_row(self.ident, row, state="failed", error=error)
        self.conn.execute(
            query + sql.SQL(" ON CONFLICT (version) DO UPDATE SET state = 'failed', error = EXCLUDED.error"), params
        )

    def mark_failed(self, version: int, error: str) -> None:
        """A non-transactional down that stopped part-way: the migration is neither applied nor reverted."""
        self.conn.execute(
            sql.SQL("UPDATE {} SET state = 'failed', error = %s WHERE version = %s").format(self.ident),
            (error, version),
        )

    # ---- repair and baseline: each runs inside the caller's transaction, under the lock ----

    def accept(self, row: AppliedRow) -> None:
        """Record a reviewed file as what was applied (repair --accept), with the down beside it."""
        self._one(
            sql.SQL(
                "UPDATE {} SET name = %s, checksum = %s, applied_sql = %s, down_sql = %s, down_checksum = %s"
                " WHERE version = %s AND state = 'applied'"
            ),
            (row.name, row.checksum, row.applied_sql, row.down_sql, row.down_checksum, row.version),
            row.version,
        )

    def resolve(self, version: int) -> None:
        """Mark a failed migration applied once a human has finished it by hand (repair --resolve)."""
        self._one(
            sql.SQL("UPDATE {} SET state = 'applied', error = NULL WHERE version = %s AND state = 'failed'"),
            (version,),
            version,
        )

    def forget(self, version: int) -> None:
        """Delete one history row (repair --forget); the schema objects stay as they are."""
        self._one(sql.SQL("DELETE FROM {} WHERE version = %s"), (version,), version)

    def record(self, row: AppliedRow, execution_ms: int | None = None) -> None:
        """A row written apart from the migration's own request: after a no-transaction file's last
        statement, or by baseline (which runs nothing, so records no execution time)."""
        self.conn.execute(*insert_row(self.ident, row, execution_ms=execution_ms))

    def _one(self, statement: sql.SQL, params: tuple[object, ...], version: int) -> None:
        """Run a statement that must touch exactly one row; anything else means the row changed under us."""
        cur = self.conn.execute(statement.format(self.ident), params)
        if cur.rowcount != 1:
            raise HistoryError(
                f"the history row of version {version} changed while sqlmig was repairing it; nothing was changed",
                [Problem(f"history version {version}", f"expected one row, found {max(cur.rowcount, 0)}")],
                hint="run `sqlmig status` and try again",
            )
