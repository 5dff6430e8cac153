"""Questions about the database's own catalog that status and validate report on."""

from __future__ import annotations

from dataclasses import dataclass

import psycopg
from psycopg import sql

Conn = psycopg.Connection[tuple[object, ...]]


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
