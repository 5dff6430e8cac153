"""Seed loading: read the catalog, check values with the server's input functions, bulk-load with COPY."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterator, Sequence

import psycopg
from psycopg import sql
from psycopg.rows import args_row

from ..errors import ConnectionFailed, SeedFailed, first_line
from ..events import EventHandler, RowsLoaded, SeedStarted, TableDone, TableStarted
from ..results import SeedTableResult
from ..seed.catalog import Column, TableInfo
from ..seed.file import SeedTable
from ..seed.problems import Problems
from ..seed.rows import PreparedTable, RowGroup, invalid_value, keyless, keyless_problem
from ..seed.values import valid_by_construction

Conn = psycopg.Connection[tuple[object, ...]]
log = logging.getLogger("sqlmig")

PROGRESS_EVERY = 5_000  # rows between progress events while a table loads
_STAGE_NAME = "sqlmig_seed_stage"  # a temporary table: private to the session
_STAGE = sql.Identifier(_STAGE_NAME)

# An unqualified name resolves like PostgreSQL resolves it: the first schema of the search_path that has it.
_FIND = """
SELECT c.oid, n.nspname, c.relname, c.relkind
FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE c.relname = %(name)s
  AND CASE WHEN %(schema)s::text IS NULL THEN n.nspname = ANY (pg_catalog.current_schemas(false))
           ELSE n.nspname = %(schema)s END
ORDER BY pg_catalog.array_position(pg_catalog.current_schemas(false), n.nspname)
LIMIT 1
"""

# A domain is looked through to its base type, so a domain over jsonb takes JSON values.
_COLUMNS = """
SELECT a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod), a.attnotnull,
       a.atthasdef OR a.attidentity <> '' OR a.attgenerated <> '' OR t.typdefault IS NOT NULL,
       a.attidentity::text, a.attgenerated <> '',
       b.oid IN (114, 3802), b.typcategory = 'A', b.typelem IN (114, 3802),
       pg_catalog.pg_get_serial_sequence(
           pg_catalog.quote_ident(n.nspname) || '.' || pg_catalog.quote_ident(c.relname), a.attname)
FROM pg_catalog.pg_attribute a
JOIN pg_catalog.pg_class c ON c.oid = a.attrelid
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
JOIN pg_catalog.pg_type b ON b.oid = CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE t.oid END
WHERE a.attrelid = %s AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attnum
"""

# Unique indexes ON CONFLICT can infer from a column list: no predicate, no expressions.
_UNIQUE = """
SELECT i.indisprimary,
       ARRAY(SELECT a.attname::text
             FROM unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord)
             JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
             WHERE k.ord <= i.indnkeyatts ORDER BY k.ord)
FROM pg_catalog.pg_index i
WHERE i.indrelid = %s AND i.indisunique AND i.indisvalid AND i.indpred IS NULL AND i.indexprs IS NULL
ORDER BY i.indisprimary DESC, i.indexrelid
"""

# The values travel as a binary array: four times faster to build than the text form. The detail
# says why ("\u0000 cannot be converted to text"); OFFSET 0 keeps the error info computed once a value.
_INVALID = """
SELECT s.v, (s.e).message, (s.e).detail
FROM (SELECT u.v, pg_catalog.pg_input_error_info(u.v, %(type)s) AS e
      FROM unnest(%(values)b::text[]) AS u(v)
      WHERE NOT pg_catalog.pg_input_is_valid(u.v, %(type)s) OFFSET 0) AS s
"""

# Moves an owned sequence (serial, identity) past the values a seed gave, never backwards.
_BUMP = """
SELECT pg_catalog.setval(q.seqrelid, m.v)
FROM pg_catalog.pg_sequence q, (SELECT max({column})::bigint AS v FROM {table}) AS m
WHERE q.seqrelid = %s::regclass AND q.seqincrement > 0 AND m.v IS NOT NULL
  AND m.v >= COALESCE(pg_catalog.pg_sequence_last_value(q.seqrelid) + 1, q.seqstart)
"""


def read_catalog(conn: Conn, tables: Sequence[SeedTable]) -> list[TableInfo | None]:
    """The relation each seed table names (None when there is none), with columns and unique keys."""
    found: list[TableInfo | None] = []
    for table in tables:
        if "\x00" in table.table:  # no identifier holds NUL, and psycopg refuses to send it
            found.append(None)
            continue
        row = conn.execute(_FIND, {"name": table.name, "schema": table.schema}).fetchone()
        if row is None:
            found.append(None)
            continue
        oid, schema, name, relkind = row
        columns = tuple(
            Column(
                name=str(r[0]),
                type=str(r[1]),
                kind="json" if r[6] else "array" if r[7] else "scalar",
                element_json=bool(r[8]),
                not_null=bool(r[2]),
                has_default=bool(r[3]),
                identity=str(r[4] or ""),
                generated=bool(r[5]),
                sequence=None if r[9] is None else str(r[9]),
            )
            for r in conn.execute(_COLUMNS, (oid,)).fetchall()
        )
        primary: tuple[str, ...] = ()
        unique: list[frozenset[str]] = []
        with conn.cursor(row_factory=args_row(_unique_key)) as cur:
            keys = cur.execute(_UNIQUE, (oid,)).fetchall()
        for is_primary, cols in keys:
            if is_primary:
                primary = cols
            unique.append(frozenset(cols))
        found.append(TableInfo(str(schema), str(name), str(relkind), columns, primary, tuple(unique)))
    return found


def check_values(conn: Conn, prepared: Sequence[PreparedTable], problems: Problems) -> None:
    """Ask each column type's input function about every distinct value (PostgreSQL 16+).

    Called after a load failed, or when the file already does not fit the catalog, so that every
    bad value is reported at once; a load that succeeds needs no asking.

    Older servers have no pg_input_is_valid; there a bad value fails the load instead (exit 1,
    with its table and row). A type whose input function cannot fail softly is skipped the same way.
    """
    if conn.info.server_version < 160000:
        return
    for table in prepared:
        for column in table.info.columns:
            certain = valid_by_construction(column)
            given = [(row, text) for row, text in table.values(column.name) if certain is None or not certain(text)]
            if not given:
                continue
            distinct = list(dict.fromkeys(text for _, text in given))
            try:
                with conn.transaction():  # a savepoint: a hard error aborts only this check
                    rows = conn.execute(_INVALID, {"type": column.type, "values": distinct}).fetchall()
            except psycopg.Error:
                if conn.closed or conn.broken:
                    raise
                log.info("cannot check values of %s.%s softly; the load will", table.label, column.name)
                continue
            bad = {str(v): ": ".join(str(part) for part in (m, d) if part) or None for v, m, d in rows}
            if bad:
                for row, text in given:
                    if text in bad:
                        problems.add(invalid_value(table, row, column.name, bad[text]))


def check_reruns(conn: Conn, prepared: Sequence[PreparedTable], problems: Problems) -> None:
    """Rows that give no key (on_conflict error) load only into an empty table: a second seed
    would insert them again (see seed.rows.keyless). A table this role cannot read counts as not empty."""
    for table in prepared:
        found = keyless(table)
        if found is None:
            continue
        target = sql.Identifier(table.info.schema, table.info.name)
        try:
            with conn.transaction():  # a savepoint: a denied SELECT aborts only this question
                row = conn.execute(sql.SQL("SELECT EXISTS (SELECT FROM {})").format(target)).fetchone()
        except psycopg.errors.InsufficientPrivilege as exc:
            problems.add(keyless_problem(table, *found, denied=first_line(exc.diag.message_primary or str(exc))))
            continue
        if row is not None and row[0]:
            problems.add(keyless_problem(table, *found))


@contextlib.contextmanager
def transaction(conn: Conn, *, rollback: bool = False) -> Iterator[None]:
    """The seed's one transaction; rolled back with --dry-run. Server errors become SeedFailed."""
    body_done = False
    try:
        # Text travels as UTF-8 whatever the database's encoding: a character it cannot hold is then
        # the server's error (SQLSTATE 22P05, located by COPY), not an encoding error in the client.
        conn.execute("SET client_encoding TO 'UTF8'")
        with conn.transaction(force_rollback=rollback):
            yield
            body_done = True
    except psycopg.Error as exc:
        if conn.closed or conn.broken:
            raise _lost(exc) from None
        diag = exc.diag
        stage = "at commit" if body_done else "while checking the seed against the database"
        raise SeedFailed(
            f"{stage}: {first_line(diag.message_primary or str(exc))}",
            where="(transaction)",
            sqlstate=diag.sqlstate,
            detail=diag.message_detail,
            hint=diag.message_hint or "",
        ) from None


def load_tables(
    conn: Conn,
    prepared: Sequence[PreparedTable],
    emit: EventHandler,
    *,
    dry_run: bool = False,
) -> list[SeedTableResult]:
    """Load every table, in order, inside the caller's transaction; the first failure names its row."""
    total = len(prepared)
    emit(SeedStarted(total, sum(t.row_count for t in prepared), dry_run))
    results: list[SeedTableResult] = []
    for index, table in enumerate(prepared, start=1):
        emit(TableStarted(table.label, index, total, table.row_count))

        def progress(done: int, table: PreparedTable = table, index: int = index) -> None:
            emit(RowsLoaded(table.label, index, total, table.row_count, done))

        started = time.perf_counter()
        try:
            with conn.transaction():  # a savepoint, so a failure can be replayed to find its row
                inserted, skipped, updated = _load_table(conn, table, progress)
        except _GroupFailed as failed:
            raise _failure(conn, table, failed) from None
        result = SeedTableResult(
            table.label,
            table.row_count,
            inserted,
            skipped,
            updated,
            (time.perf_counter() - started) * 1000,
        )
        log.info("seed %s: %d rows in %.1f ms", table.label, table.row_count, result.duration_ms)
        results.append(result)
        emit(TableDone(table.label, index, total, result, dry_run))
    if not dry_run:  # setval is not transactional: a rolled-back dry run must not move sequences
        for table in prepared:
            _bump(conn, table)
    return results


class _GroupFailed(Exception):
    """A server error while loading one group of rows, with what is needed to find the failing row."""

    def __init__(self, error: psycopg.Error, group: RowGroup, copied_into: str) -> None:
        super().__init__(str(error))
        self.error = error
        self.group = group
        self.copied_into = copied_into


def _load_table(
    conn: Conn, table: PreparedTable, progress: Callable[[int], None], *, limit: int | None = None
) -> tuple[int, int, int]:
    """Load the table's rows (the first `limit` only, when replaying); returns inserted, skipped, updated."""
    target = sql.Identifier(table.info.schema, table.info.name)
    inserted = skipped = updated = 0
    for group in table.groups:
        rows = group.rows if limit is None else group.rows[: max(0, limit - group.start)]
        if not rows:
            break
        try:
            if not table.source.upserts:
                if group.columns:
                    _copy(conn, target, group.columns, rows, progress, offset=group.start)
                else:  # rows of {} only: every column takes its default
                    conn.execute(
                        sql.SQL("INSERT INTO {} SELECT FROM generate_series(1, %s)").format(target), (len(rows),)
                    )
                inserted += len(rows)
            else:
                fresh, changed = _upsert(conn, table, target, group, rows, progress)
                inserted += fresh
                updated += changed
                skipped += len(rows) - fresh - changed
        except psycopg.Error as exc:
            copied_into = _STAGE_NAME if table.source.upserts else table.info.name
            raise _GroupFailed(exc, group, copied_into) from None
        progress(group.start + len(rows))
    return inserted, skipped, updated


def _copy(
    conn: Conn,
    target: sql.Identifier,
    columns: Sequence[str],
    rows: Sequence[tuple[str | None, ...]],
    progress: Callable[[int], None],
    *,
    offset: int = 0,
) -> None:
    statement = sql.SQL("COPY {} ({}) FROM STDIN").format(target, sql.SQL(", ").join(map(sql.Identifier, columns)))
    with conn.cursor() as cur, cur.copy(statement) as copy:
        for done, row in enumerate(rows, start=1):
            copy.write_row(row)
            if done % PROGRESS_EVERY == 0:
                progress(offset + done)


def _upsert(
    conn: Conn,
    table: PreparedTable,
    target: sql.Identifier,
    group: RowGroup,
    rows: Sequence[tuple[str | None, ...]],
    progress: Callable[[int], None],
) -> tuple[int, int]:
    """COPY into a temporary table, then INSERT ... ON CONFLICT from it; returns (inserted, updated).

    `update` changes only rows whose values differ (compared as text, which every type has), so a
    re-run touches nothing and counts those rows as skipped.
    """
    cols = sql.SQL(", ").join(map(sql.Identifier, group.columns))
    conn.execute(
        sql.SQL("CREATE TEMPORARY TABLE {} ON COMMIT DROP AS SELECT {} FROM {} WITH NO DATA").format(
            _STAGE, cols, target
        )
    )
    _copy(conn, _STAGE, group.columns, rows, progress, offset=group.start)
    always = any(table.column(c).identity == "a" for c in group.columns)
    overriding = sql.SQL(" OVERRIDING SYSTEM VALUE") if always else sql.SQL("")
    key = sql.SQL(", ").join(map(sql.Identifier, table.key))
    changing = [c for c in group.columns if c not in table.key and table.column(c).identity != "a"]
    action: sql.Composable
    if table.source.on_conflict == "skip" or not changing:
        action = sql.SQL("DO NOTHING")
    else:
        action = sql.SQL("DO UPDATE SET {} WHERE ROW({}) IS DISTINCT FROM ROW({})").format(
            sql.SQL(", ").join(
                sql.SQL("{} = EXCLUDED.{}").format(sql.Identifier(c), sql.Identifier(c)) for c in changing
            ),
            sql.SQL(", ").join(sql.SQL("t.{}::text").format(sql.Identifier(c)) for c in changing),
            sql.SQL(", ").join(sql.SQL("EXCLUDED.{}::text").format(sql.Identifier(c)) for c in changing),
        )
    statement = sql.SQL(
        "WITH ins AS (INSERT INTO {target} AS t ({cols}){overriding} SELECT {cols} FROM {stage}"
        " ON CONFLICT ({key}) {action} RETURNING (t.xmax = 0) AS fresh)"
        " SELECT count(*) FILTER (WHERE fresh), count(*) FILTER (WHERE NOT fresh) FROM ins"
    ).format(target=target, cols=cols, overriding=overriding, stage=_STAGE, key=key, action=action)
    with conn.cursor(row_factory=args_row(_counts)) as cur:
        counts = cur.execute(statement).fetchone()
    conn.execute(sql.SQL("DROP TABLE {}").format(_STAGE))
    assert counts is not None
    return counts


def _unique_key(is_primary: bool, names: list[str]) -> tuple[bool, tuple[str, ...]]:
    """A row of _UNIQUE, typed: whether the key is the primary one, and its columns."""
    return is_primary, tuple(names)


def _counts(inserted: int, updated: int) -> tuple[int, int]:
    """The upsert's one row, typed: rows inserted and rows updated (bigint counts)."""
    return inserted, updated


def _bump(conn: Conn, table: PreparedTable) -> None:
    target = sql.Identifier(table.info.schema, table.info.name)
    given = {c for group in table.groups if group.rows for c in group.columns}
    for column in table.info.columns:
        if column.sequence and column.name in given:
            conn.execute(
                sql.SQL(_BUMP).format(column=sql.Identifier(column.name), table=target),
                (column.sequence,),
            )


def _failure(conn: Conn, table: PreparedTable, failed: _GroupFailed) -> SeedFailed | ConnectionFailed:
    """SeedFailed at the row that failed: from COPY's context line, else by replaying prefixes."""
    exc = failed.error
    if conn.closed or conn.broken:
        return _lost(exc)
    row = _copy_line_row(exc, failed)
    if row is None:
        row = _bisect(conn, table)
    diag = exc.diag
    where = table.source.pointer + (f"/rows/{row}" if row is not None else "")
    return SeedFailed(
        f"{where} ({table.label}): {first_line(diag.message_primary or str(exc))}",
        where=where,
        table=table.label,
        row=row,
        sqlstate=diag.sqlstate,
        detail=diag.message_detail,
        hint=diag.message_hint or "",
    )


def _copy_line_row(exc: psycopg.Error, failed: _GroupFailed) -> int | None:
    """COPY's error context reads 'COPY name, line N[, column c]: ...'; line N is the group's Nth row."""
    prefix = f"COPY {failed.copied_into}, line "
    for line in (exc.diag.context or "").splitlines():
        if line.startswith(prefix):
            digits = line[len(prefix) :].split(",", 1)[0].split(":", 1)[0]
            if digits.isdigit() and 1 <= int(digits) <= len(failed.group.rows):
                return failed.group.start + int(digits) - 1
    return None


def _bisect(conn: Conn, table: PreparedTable) -> int | None:
    """The first row whose prefix fails, by loading prefixes in savepoints that are rolled back.

    Used for errors COPY's context does not place (a foreign key checked at the end of the
    statement, a conflict in INSERT ... ON CONFLICT): about log2(rows) attempts.
    """

    def fails(limit: int) -> bool:
        try:
            with conn.transaction(force_rollback=True):
                _load_table(conn, table, lambda _n: None, limit=limit)
        except _GroupFailed:
            return True
        return False

    low, high = 0, table.row_count
    if conn.closed or conn.broken or not fails(high):
        return None
    while high - low > 1:
        middle = (low + high) // 2
        if fails(middle):
            high = middle
        else:
            low = middle
    return high - 1


def _lost(exc: psycopg.Error) -> ConnectionFailed:
    return ConnectionFailed(
        f"the connection was lost while seeding: {first_line(str(exc))}",
        hint="the server rolls back an uncommitted transaction: nothing of the seed was loaded",
    )
