"""Questions about the database's own catalog that status and validate report on."""

from __future__ import annotations

from dataclasses import dataclass

from psycopg import sql

from .connect import Conn


@dataclass(frozen=True)
class InvalidIndex:
    """An index left INVALID, typically by a failed CREATE INDEX CONCURRENTLY."""

    schema: str
    name: str
    table: str

    @property
    def drop_statement(self) -> str:
        return f"DROP INDEX CONCURRENTLY {sql.Identifier(self.schema, self.name).as_string(None)};"


def invalid_indexes(conn: Conn) -> list[InvalidIndex]:
    rows = conn.execute(
        "SELECT n.nspname, c.relname, t.relname FROM pg_catalog.pg_index i"
        " JOIN pg_catalog.pg_class c ON c.oid = i.indexrelid"
        " JOIN pg_catalog.pg_class t ON t.oid = i.indrelid"
        " JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
        " WHERE NOT i.indisvalid ORDER BY 1, 2"
    ).fetchall()
    return [InvalidIndex(str(r[0]), str(r[1]), str(r[2])) for r in rows]


def lock_holders(conn: Conn, relations: set[str], *, besides: set[int]) -> list[str]:
    """Other sessions holding locks on tables of these names (lowercase, unqualified), one line
    each: what a migration that hit lock_timeout waited for, named when it is retried. `besides`:
    sqlmig's own backends."""
    if not relations:
        return []
    rows = conn.execute(
        "SELECT DISTINCT ON (a.pid, c.relname) c.relname, a.pid, a.application_name, a.usename, a.state,"
        " a.xact_start FROM pg_catalog.pg_locks l"
        " JOIN pg_catalog.pg_class c ON c.oid = l.relation"
        " JOIN pg_catalog.pg_stat_activity a ON a.pid = l.pid"
        " WHERE l.granted AND l.locktype = 'relation' AND l.pid <> ALL(%s)"
        " AND l.database = (SELECT oid FROM pg_catalog.pg_database WHERE datname = current_database())"
        " AND lower(c.relname) = ANY(%s) ORDER BY a.pid, c.relname LIMIT 5",
        (sorted(besides), sorted(relations)),
    ).fetchall()
    return [
        f"pid {pid} (application_name {app or '-'!s}, user {user}, {state or 'unknown state'}, "
        f"transaction since {since.isoformat(timespec='seconds') if hasattr(since, 'isoformat') else since}) "
        f"holds a lock on {rel}"
        for rel, pid, app, user, state, since in rows
    ]


def existing_tables(conn: Conn, names: list[tuple[str | None, str]]) -> list[str | None]:
    """For each (schema or None, name): the table it names now, looked up as the migrations' session
    would (an unqualified name by the search_path), or None where there is none."""
    if not names:
        return []
    rows = conn.execute(
        "SELECT q.i, pg_catalog.to_regclass(CASE WHEN q.sch IS NULL THEN pg_catalog.quote_ident(q.rel)"
        " ELSE pg_catalog.quote_ident(q.sch) || '.' || pg_catalog.quote_ident(q.rel) END)::text"
        " FROM unnest(%s::text[], %s::text[]) WITH ORDINALITY AS q(sch, rel, i) ORDER BY q.i",
        ([n[0] for n in names], [n[1] for n in names]),
    ).fetchall()
    return [None if found is None else str(found) for _, found in rows]
