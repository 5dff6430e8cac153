"""What each statement of a migration really locked and rewrote, measured on the scratch database.

Static linters guess which lock a statement takes; the server knows. Inside a transaction every
lock a statement takes is held until the end, so after each statement one query of `pg_locks`
(for this backend only) shows what it added, and `pg_class.relfilenode` shows whether a table got
new storage (a rewrite: ALTER COLUMN TYPE, a volatile DEFAULT, VACUUM FULL, CLUSTER, TRUNCATE).
Only relations that existed before the migration began count: locking a table the migration
itself created blocks nobody.

A lock is attributed to the statement that first took it in the transaction; a later statement
that needs the same lock finds it held and adds nothing (nobody else could have been blocked by
then). Statements outside a transaction (no-transaction files) release their locks when they end,
so they are not measured.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import NamedTuple

from psycopg import sql

from ..results import StatementEffect
from .connect import Conn

# OIDs below this are the system catalogs' (FirstNormalObjectId): the probe's own catalog reads
# lock them, and no migration's table is one of them.
_FIRST_USER_OID = 16384

# What a lock is reported on: tables, partitioned and foreign tables, views, materialized views,
# sequences. An index is locked with its table (the table's lock is the one that blocks).
_LOCKABLE_KINDS = ("r", "p", "f", "v", "m", "S")

# Storage kinds whose new relfilenode means the table was written anew: tables and materialized
# views (an index's rebuild goes with its table's rewrite, or is a REINDEX, whose lock shows).
_TABLE_KINDS = ("r", "m")


class Relation(NamedTuple):
    """A relation as it was before a migration began."""

    name: str  # schema-qualified, quoted where needed
    kind: str  # pg_class.relkind
    filenode: int


def relations(conn: Conn) -> dict[int, Relation]:
    """Every user relation now (by OID): the 'before' a migration's statements are measured against."""
    rows = conn.execute(
        "SELECT c.oid::int8, pg_catalog.quote_ident(n.nspname) || '.' || pg_catalog.quote_ident(c.relname),"
        " c.relkind::text, c.relfilenode::int8"
        " FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
        " WHERE c.oid >= %s AND n.nspname <> 'information_schema' AND n.nspname NOT LIKE 'pg\\_%%'",
        (_FIRST_USER_OID,),
    ).fetchall()
    return {int(str(oid)): Relation(str(name), str(kind), int(str(node))) for oid, name, kind, node in rows}


class LockProbe:
    """Follows one transaction statement by statement: call `after` once per statement."""

    _QUERY = sql.SQL(
        "SELECT l.relation::int8, l.mode, c.relfilenode::int8 FROM pg_catalog.pg_locks l"
        " LEFT JOIN pg_catalog.pg_class c ON c.oid = l.relation"
        " WHERE l.pid = pg_catalog.pg_backend_pid() AND l.locktype = 'relation' AND l.granted"
        " AND l.relation >= {}"
    ).format(sql.Literal(_FIRST_USER_OID))

    def __init__(self, conn: Conn, before: Mapping[int, Relation], counted: Collection[int]) -> None:
        """`before`: every relation as the statements find it; `counted`: those whose locks and
        rewrites are recorded (the relations that existed before the migration's up: a down's
        locks on the tables its own up created are what reverting means, not a risk)."""
        self.conn = conn
        self.before = {oid: r for oid, r in before.items() if oid in counted}
        self.held: set[tuple[int, str]] = set()
        self.filenode = {oid: r.filenode for oid, r in before.items()}

    def after(self, line: int, column: int, text: str) -> StatementEffect:
        """What the statement just run added (the transaction must still be open)."""
        rows = self.conn.execute(self._QUERY).fetchall()
        locks: list[tuple[str, str]] = []
        rewrites: list[str] = []
        for oid_value, mode_value, node_value in rows:
            oid, mode = int(str(oid_value)), str(mode_value)
            relation = self.before.get(oid)
            if relation is None or relation.kind not in _LOCKABLE_KINDS:
                continue  # created by this migration (locking it blocks nobody), or an index
            if (oid, mode) not in self.held:
                self.held.add((oid, mode))
                locks.append((relation.name, mode))
            if node_value is not None and relation.kind in _TABLE_KINDS:
                node = int(str(node_value))
                if node != self.filenode.get(oid):
                    self.filenode[oid] = node
                    rewrites.append(relation.name)
        first = text.strip().splitlines()[0] if text.strip() else ""
        return StatementEffect(line, column, first, tuple(sorted(locks)), tuple(sorted(rewrites)))
