"""What lint asks the target database about the tables its findings name: how big each is, its
columns' types and which columns are already known not to hold NULLs. Read-only, and readable by
any role: pg_class, pg_attribute and pg_constraint need no privilege on the tables themselves.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import NamedTuple

from psycopg import errors, sql

from ..lint.sql import Name
from .connect import Conn

# Enough rows to call a table large; counting stops there, so the count is cheap on any table.
COUNT_LIMIT = 10_000

_NOT_NULL_CHECK = re.compile(r'^CHECK \(+("(?:[^"]|"")+"|[^\s()"]+) IS NOT NULL\)+$')


class TableFacts(NamedTuple):
    """One existing table as the database knows it."""

    qualified: str  # schema.name, quoted where needed
    kind: str  # pg_class.relkind
    rows: int | None  # estimated (reltuples), counted up to COUNT_LIMIT if never analyzed; None: unknown
    heap_bytes: int
    total_bytes: int  # with indexes and TOAST
    types: dict[str, str]  # column -> format_type
    not_null_checked: frozenset[str]  # NOT NULL columns, and columns a validated CHECK (col IS NOT NULL) covers
    rows_counted: bool = False  # `rows` was counted and reached COUNT_LIMIT: at least that many
    schema: str = ""  # as the catalog spells them, unquoted
    relname: str = ""


def server_version(conn: Conn) -> int:
    """The server's major version (16, 18 ...)."""
    return conn.info.server_version // 10000


def current_schema(conn: Conn) -> str:
    """Where an unqualified name is looked up first (what the migrations' own session will use,
    unless they set search_path)."""
    row = conn.execute("SELECT pg_catalog.current_schema()").fetchone()
    return str(row[0]) if row and row[0] is not None else "public"


def read(conn: Conn, names: Sequence[Name]) -> dict[Name, TableFacts]:
    """Facts of each name that is an existing table or materialized view; unqualified names are
    looked up in the connection's search_path, as the migration will."""
    wanted = list(dict.fromkeys(names))
    if not wanted:
        return {}
    rows = conn.execute(
        "SELECT q.i, pg_catalog.quote_ident(n.nspname) || '.' || pg_catalog.quote_ident(c.relname), c.relkind::text,"
        " n.nspname::text, c.relname::text,"
        " c.reltuples::float8, c.relpages::int8, pg_catalog.current_setting('block_size')::int8,"
        " pg_catalog.pg_relation_size(c.oid), pg_catalog.pg_total_relation_size(c.oid),"
        " (SELECT pg_catalog.json_object_agg(a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod))"
        "  FROM pg_catalog.pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped),"
        " ARRAY(SELECT a.attname::text FROM pg_catalog.pg_attribute a"
        "  WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped AND a.attnotnull),"
        " ARRAY(SELECT pg_catalog.pg_get_constraintdef(k.oid) FROM pg_catalog.pg_constraint k"
        "  WHERE k.conrelid = c.oid AND k.contype = 'c' AND k.convalidated)"
        " FROM unnest(%s::text[], %s::text[]) WITH ORDINALITY AS q(sch, rel, i)"
        " JOIN pg_catalog.pg_class c ON c.oid = pg_catalog.to_regclass(CASE WHEN q.sch IS NULL"
        "  THEN pg_catalog.quote_ident(q.rel)"
        "  ELSE pg_catalog.quote_ident(q.sch) || '.' || pg_catalog.quote_ident(q.rel) END)"
        " JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
        " WHERE c.relkind IN ('r', 'p', 'm', 'f')",
        ([n.schema for n in wanted], [n.name for n in wanted]),
    ).fetchall()
    out: dict[Name, TableFacts] = {}
    for i, qualified, kind, schema, relname, reltuples, relpages, block, heap, total, types, not_null, checks in rows:
        column_types = types if isinstance(types, dict) else json.loads(str(types or "{}"))
        checked = {str(c) for c in _items(not_null)}
        for definition in _items(checks):
            match = _NOT_NULL_CHECK.match(str(definition))
            if match:
                word = match.group(1)
                checked.add(word[1:-1].replace('""', '"') if word.startswith('"') else word)
        heap_bytes = int(str(heap))
        rows_known, counted = _rows(
            conn, str(qualified), str(kind), float(str(reltuples)), int(str(relpages)), heap_bytes // int(str(block))
        )
        out[wanted[int(str(i)) - 1]] = TableFacts(
            str(qualified),
            str(kind),
            rows_known,
            heap_bytes,
            int(str(total)),
            {str(k): str(v) for k, v in column_types.items()},
            frozenset(checked),
            counted,
            str(schema),
            str(relname),
        )
    return out


def _rows(
    conn: Conn, qualified: str, kind: str, reltuples: float, relpages: int, pages: int
) -> tuple[int | None, bool]:
    """The table's rows as the planner would estimate them: reltuples scaled to the pages the heap
    has now (ANALYZE's figures go stale as the table grows). With no usable estimate (never
    analyzed, or analyzed empty and grown since) the rows are counted, up to COUNT_LIMIT.
    Returns (rows, whether the count reached the limit); rows None: unknown."""
    if kind not in ("r", "m"):
        return None, False  # a partitioned table's rows are its partitions'
    if pages == 0:
        return 0, False
    if reltuples > 0 and relpages > 0:
        return round(reltuples / relpages * pages), False
    counted = _count(conn, qualified)
    return counted, counted == COUNT_LIMIT


def _items(value: object) -> list[object]:
    return list(value) if isinstance(value, (list, tuple)) else []


def _count(conn: Conn, qualified: str) -> int | None:
    """Rows of a table never analyzed (reltuples -1), counted up to COUNT_LIMIT; None when this
    role may not read it."""
    query = sql.SQL("SELECT count(*) FROM (SELECT FROM {} LIMIT {}) AS s").format(
        sql.SQL(qualified), sql.Literal(COUNT_LIMIT)
    )
    try:
        row = conn.execute(query).fetchone()
    except errors.InsufficientPrivilege:
        return None
    return int(str(row[0])) if row else None
