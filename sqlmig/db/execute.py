"""Send one migration file to the server, once, and say exactly what happened.

A transactional file goes as ONE pipeline (one round trip): BEGIN, its timeouts, each of its
statements as a separate query, a guard, the history row, COMMIT and DISCARD ALL. Because every
statement is its own query, the server's error names the statement that failed, so a failure is
placed at file:line:column without running anything again. Because Parse accepts one statement
only, the scanner that split the file and the server agree on every boundary, or the file fails.

A `-- sqlmig:no-transaction` file runs statement by statement outside any transaction; the caller
learns how many statements took effect before a failure, so the history can say so.

Either way the session is reset (DISCARD ALL) after each file, so the next file, the history write
and the next run start from the state a new connection has.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import re
import secrets
import selectors
import time
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Literal, NamedTuple

import psycopg
import psycopg.errors
from psycopg import sql
from psycopg.pq import ExecStatus
from psycopg.pq.abc import PGconn

from ..checks import transaction_control
from ..errors import first_line
from ..migrations import SqlFile
from .connect import log as sql_log
from .connect import preview
from .history import FILE_STARTED

if TYPE_CHECKING:
    from ..scanner import Statement
    from ..statements import Piece

Conn = psycopg.Connection[tuple[object, ...]]
Query = tuple[str, Sequence[object] | None]  # libpq placeholders: $1, $2, ...
log = logging.getLogger("sqlmig")

# Marks this file's transaction (or savepoint): a file that ended it loses the mark with it.
_GUARD = "sqlmig.guard"

# Undoes a file's SET ROLE or SET SESSION AUTHORIZATION (back to the login's own default role, if
# it has one): the history row is written, and the next file starts, as a new session would.
_AS_CONNECTED = "SET SESSION AUTHORIZATION DEFAULT"

# What DISCARD ALL does, minus what cannot run inside a transaction block: used between the
# files of one transaction (--single-transaction, seed rehearsals), where DISCARD ALL cannot run.
_RESET_IN_TRANSACTION = (
    _AS_CONNECTED,
    "RESET ALL",
    "CLOSE ALL",
    "UNLISTEN *",
    "DEALLOCATE ALL",
    "DISCARD TEMP",
    "DISCARD SEQUENCES",
)


class Failure(NamedTuple):
    """What the server said about a failed statement, placed in the file."""

    message: str
    sqlstate: str | None = None
    detail: str | None = None
    hint: str = ""
    context: str | None = None
    line: int | None = None
    column: int | None = None
    statement: str | None = None


# Where a file's run stopped: one of its own statements; sqlmig's statements before them; the
# end-of-file guard (the file ended sqlmig's transaction or savepoint); the history row; COMMIT.
Stage = Literal["file", "setup", "guard", "history", "commit"]


class FileFailed(Exception):
    """A file did not complete, at `stage`. `took_effect`: statements of a no-transaction file that
    committed before it stopped; `self_committing`: the failing statement (a DO block or CALL
    outside a transaction) can have committed part of its own work; `lost`: the connection died."""

    def __init__(
        self,
        failure: Failure,
        *,
        stage: Stage = "file",
        took_effect: int = 0,
        lost: bool = False,
        self_committing: bool = False,
    ) -> None:
        super().__init__(failure.message)
        self.failure = failure
        self.stage = stage
        self.took_effect = took_effect
        self.lost = lost
        self.self_committing = self_committing


@functools.cache
def _start_text(lock_timeout: bool, statement_timeout: bool) -> str:
    """The statement that starts a file: its guard mark ($1), its timeouts (like SET LOCAL),
    and when it started. Composed once per shape: it is the same for every file."""
    names = [_GUARD] + ["lock_timeout"] * lock_timeout + ["statement_timeout"] * statement_timeout
    parts = [f"pg_catalog.set_config('{name}', ${i}, true)" for i, name in enumerate(names, start=1)]
    parts.append(f"pg_catalog.set_config('{FILE_STARTED}', pg_catalog.clock_timestamp()::text, true)")
    return "SELECT " + ", ".join(parts)


# After the file: division by zero unless this transaction (or savepoint) still carries its mark
# ($1); the encoding the history row's text is sent in is put back, whatever the file set. Then
# _AS_CONNECTED.
_END = (
    f"SELECT 1 / (pg_catalog.current_setting('{_GUARD}', true) IS NOT DISTINCT FROM $1)::int,"
    " pg_catalog.set_config('client_encoding', 'UTF8', true)"
)


def run_in_transaction(
    conn: Conn,
    file: SqlFile,
    statements: Sequence[Statement | Piece],
    *,
    lock_timeout: str | None = None,
    statement_timeout: str | None = None,
    record: Sequence[Query] = (),
    inside_transaction: bool = False,
) -> float:
    """Run a file and `record` (its history change) in one transaction; the duration in ms.

    inside_transaction: the caller owns an open transaction (--single-transaction, a seed
    rehearsal); the file runs in a savepoint of it, after the in-transaction reset.
    Raises FileFailed; the transaction (or savepoint) is then rolled back and the session reset.
    """
    token = secrets.token_hex(8)
    savepoint = f"sqlmig_file_{token}"  # a name no file can know, so none can release or roll back to it
    start = _start_text(lock_timeout is not None, statement_timeout is not None)
    params = [v for v in (lock_timeout, statement_timeout) if v is not None]
    queries: list[Query] = []
    if inside_transaction:
        queries.append((f"SAVEPOINT {savepoint}", None))
        queries.extend((q, None) for q in _RESET_IN_TRANSACTION)
    else:
        queries.append(("BEGIN", None))
    queries.append((start, [token, *params]))
    first_statement = len(queries)
    queries.extend((s.text, None) for s in statements)
    guard = len(queries)
    queries.append((_END, [token]))
    queries.append((_AS_CONNECTED, None))
    queries.extend(record)
    commit = len(queries)
    if inside_transaction:
        queries.append((f"RELEASE SAVEPOINT {savepoint}", None))
    else:
        queries.append(("COMMIT", None))
        queries.append(("DISCARD ALL", None))  # after COMMIT: the next file starts from a new session's state
    started = time.perf_counter()
    index = _pipeline(conn, queries)
    duration = (time.perf_counter() - started) * 1000
    if index is None:
        log.info("%s: %d statements in one request, %.1f ms", file.path, len(statements), duration)
        return duration
    at, exc = index
    if at > commit and not (conn.closed or conn.broken):
        # Committed; only DISCARD ALL failed. A new connection is the clean session it would give.
        conn.close()
        return duration
    if conn.closed or conn.broken:
        raise FileFailed(_unplaced(exc), lost=True) from None
    _end_failed(conn, savepoint if inside_transaction else None)
    if first_statement <= at < guard:
        raise FileFailed(_placed(exc, file, statements[at - first_statement])) from None
    raise FileFailed(_unplaced(exc), stage=_stage(at, first_statement, guard, commit, inside_transaction)) from None


def _stage(at: int, first_statement: int, guard: int, commit: int, inside_transaction: bool) -> Stage:
    """Which of sqlmig's own statements around the file failed (at: its index in the pipeline)."""
    if at < first_statement:
        return "setup"
    if at == guard or (at == commit and inside_transaction):  # the mark, or the savepoint, is gone
        return "guard"
    if at == commit:
        return "commit"
    return "history"  # writing the row, or returning to the connecting user before it


def _pipeline(conn: Conn, queries: Sequence[Query]) -> tuple[int, psycopg.Error] | None:
    """Send every query in one pipeline; (index, error) of the first that failed, or None.

    Spoken through psycopg's libpq wrapper (psycopg.pq): psycopg's Python-level pipeline costs
    about 30 us of client time per statement, which made a run of small files measurably slower
    than one simple query per file. Placeholders are libpq's ($1, $2, ...). The wait is a select()
    on the socket, so Ctrl-C interrupts it; the connection is then closed (the server rolls back)
    and KeyboardInterrupt goes on. A lost connection is closed too: the caller sees conn.closed.
    """
    pg = conn.pgconn
    encoding = conn.info.encoding
    started = time.perf_counter()
    failed: tuple[int, psycopg.Error] | None = None
    try:
        pg.enter_pipeline_mode()
        for query, params in queries:
            values = [None if p is None else str(p).encode(encoding) for p in params] if params else None
            pg.send_query_params(query.encode(encoding), values)
        pg.pipeline_sync()
        with selectors.DefaultSelector() as waiting:
            waiting.register(pg.socket, selectors.EVENT_READ)
            failed = _results(pg, waiting, encoding)
        pg.exit_pipeline_mode()
    except KeyboardInterrupt:
        with contextlib.suppress(Exception):
            conn.cancel_safe(timeout=2)
        conn.close()
        raise
    except psycopg.Error as exc:
        conn.close()
        failed = failed or (len(queries) - 1, exc)
    if sql_log.isEnabledFor(logging.DEBUG):
        _log_pipeline(queries, failed, (time.perf_counter() - started) * 1000)
    return failed


def _results(pg: PGconn, waiting: selectors.BaseSelector, encoding: str) -> tuple[int, psycopg.Error] | None:
    """Read a pipeline's results up to its Sync; (index, error) of the first query that failed."""
    failed: tuple[int, psycopg.Error] | None = None
    index = 0
    while True:
        if pg.is_busy():
            # Write what is left while reading what has come: a long file's results must not
            # fill the socket while its last statements are still being sent.
            writing = pg.flush() != 0
            waiting.modify(pg.socket, selectors.EVENT_READ | (selectors.EVENT_WRITE if writing else 0))
            waiting.select()
            pg.consume_input()
            continue
        result = pg.get_result()
        if result is None:  # the end of one query's results
            index += 1
            continue
        status = result.status
        if status == ExecStatus.PIPELINE_SYNC:
            return failed
        if failed is None and status == ExecStatus.FATAL_ERROR:
            failed = index, psycopg.errors.error_from_result(result, encoding=encoding)
        elif status in (ExecStatus.COPY_IN, ExecStatus.COPY_OUT, ExecStatus.COPY_BOTH):
            # libpq cannot go on with a COPY in a pipeline: the caller closes the connection
            raise psycopg.ProgrammingError("COPY to or from the client cannot run in a migration file")


def _log_pipeline(queries: Sequence[Query], failed: tuple[int, psycopg.Error] | None, ms: float) -> None:
    """--verbose: each statement of a pipeline with what became of it (the time is the pipeline's)."""
    for i, (query, _) in enumerate(queries):
        if failed is None or i < failed[0]:
            outcome = "ok"
        elif i == failed[0]:
            outcome = f"error {failed[1].diag.sqlstate or type(failed[1]).__name__}"
        else:
            outcome = "not run"
        sql_log.debug("%8.1f ms  %s  %s [pipeline %d/%d]", ms, outcome, preview(query), i + 1, len(queries))


def _end_failed(conn: Conn, savepoint: str | None) -> None:
    """After a failure: roll the file back and give the session back clean. Inside the caller's
    transaction (`savepoint` given), back to the file's savepoint, where a lock-timeout retry
    starts; if that fails, the caller's transaction stays failed and is rolled back by it. A
    session that cannot be cleaned is closed: the next file gets a new connection."""
    if savepoint is not None:
        with contextlib.suppress(psycopg.Error):
            conn.execute(f"ROLLBACK TO SAVEPOINT {savepoint}")
        return
    try:
        reset(conn)
    except psycopg.Error:
        conn.close()


@contextlib.contextmanager
def whole_run(conn: Conn) -> Iterator[None]:
    """--single-transaction: one transaction around every file (each runs in a savepoint of it),
    committed at the end or rolled back on any failure, Ctrl-C included."""
    conn.execute("BEGIN")
    try:
        yield
    except BaseException:
        abandon(conn)
        raise
    try:
        conn.execute("COMMIT")
    except psycopg.Error as exc:  # a deferred constraint or trigger: PostgreSQL rolled it all back
        raise FileFailed(_unplaced(exc), stage="commit", lost=conn.closed or conn.broken) from None


def abandon(conn: Conn) -> None:
    """End whatever transaction a file interrupted by Ctrl-C left (psycopg has cancelled its statement)."""
    if conn.closed or conn.broken:
        return
    with contextlib.suppress(psycopg.Error):
        if conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
            conn.execute("ROLLBACK")


def reset(conn: Conn) -> None:
    """A session as a new connection has it: before a file that follows a failure or a rehearsal."""
    abandon(conn)
    conn.execute("DISCARD ALL")


# First words of statements that leave nothing behind once the file is over: a file that stops
# after them has not been partly applied.
_NO_LASTING_EFFECT = frozenset(
    {"SET", "RESET", "SHOW", "DISCARD", "BEGIN", "START", "COMMIT", "END", "ABORT", "ROLLBACK", "SAVEPOINT", "RELEASE"}
)


def has_lasting_effect(words: Sequence[str]) -> bool:
    """Whether a statement (by its first words) can leave something behind once committed."""
    return bool(words) and words[0] not in _NO_LASTING_EFFECT


class Progress:
    """How far a no-transaction file got, kept current while it runs, so that the caller can tell
    after a Ctrl-C which statement was running and how many had taken effect."""

    def __init__(self) -> None:
        self.took_effect = 0
        self.running: Statement | Piece | None = None


def run_statements(
    conn: Conn,
    file: SqlFile,
    statements: Sequence[Statement | Piece],
    *,
    lock_timeout: str | None = None,
    statement_timeout: str | None = None,
    progress: Progress | None = None,
) -> float:
    """Run a `-- sqlmig:no-transaction` file outside a transaction, one statement per request.

    Raises FileFailed with took_effect. A file that leaves a transaction of its own open (BEGIN
    without COMMIT) fails: its open work is rolled back. The session is reset afterwards.
    """
    done = progress if progress is not None else Progress()
    done.took_effect, done.running = 0, None
    started = time.perf_counter()
    pending = 0  # statements run inside a BEGIN block of the file's own, not yet committed
    opened: Statement | Piece | None = None
    try:
        for name, value in (("lock_timeout", lock_timeout), ("statement_timeout", statement_timeout)):
            if value is not None:
                try:
                    conn.execute(sql.SQL("SET {} = {}").format(sql.Identifier(name), sql.Literal(value)))
                except psycopg.Error as exc:
                    raise FileFailed(_unplaced(exc), stage="setup", lost=conn.closed or conn.broken) from None
        for stmt in statements:
            t0 = time.perf_counter()
            done.running = stmt
            words = stmt.words(2)
            try:
                conn.execute(stmt.text)
            except psycopg.Error as exc:
                raise FileFailed(
                    _placed(exc, file, stmt),
                    took_effect=done.took_effect,
                    lost=conn.closed or conn.broken,
                    # outside a transaction block, a procedure or DO block may COMMIT part of its work
                    self_committing=opened is None and words[:1] in (("DO",), ("CALL",)),
                ) from None
            control = transaction_control(words)
            if control == "rollback":
                pending = 0  # what the block did is undone
            elif has_lasting_effect(words):
                pending += 1
            idle = conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
            if control == "commit" or idle:
                done.took_effect += pending  # COMMIT AND CHAIN commits too, though a block stays open
                pending = 0
            if idle:
                opened = None
            elif opened is None or control in ("commit", "rollback"):  # ... AND CHAIN opens the next
                opened = stmt
            log.info("%s:%d: %.1f ms", file.path, stmt.line, (time.perf_counter() - t0) * 1000)
        if opened is not None:
            raise FileFailed(
                Failure(
                    "the file leaves a transaction open: the BEGIN here has no COMMIT, so its work was rolled back",
                    line=opened.line,
                    column=opened.column,
                    statement=opened.text,
                    hint="end the transaction with COMMIT in the file",
                ),
                took_effect=done.took_effect,
            )
    finally:
        if not (conn.closed or conn.broken):
            try:
                reset(conn)
            except psycopg.Error:
                conn.close()  # a session that cannot be cleaned is not used again
    return (time.perf_counter() - started) * 1000


def _placed(exc: psycopg.Error, file: SqlFile, stmt: Statement | Piece) -> Failure:
    """PostgreSQL's message, detail, hint, SQLSTATE and CONTEXT, placed at file:line:column.

    The server's position is relative to the statement, which was sent alone. An error inside a
    DO block is placed on the file line its CONTEXT names.
    """
    diag = exc.diag
    line, column = _place(file.sql, stmt, _int(diag.statement_position))
    inner = _do_block_line(file.sql, stmt, diag.context)
    if inner is not None:
        line, column = inner
    return Failure(
        first_line(diag.message_primary or str(exc)),
        sqlstate=diag.sqlstate,
        detail=diag.message_detail,
        hint=diag.message_hint or "",
        context=diag.context,
        line=line,
        column=column,
        statement=stmt.text,
    )


def _unplaced(exc: psycopg.Error) -> Failure:
    diag = exc.diag
    return Failure(
        first_line(diag.message_primary or str(exc)),
        sqlstate=diag.sqlstate,
        detail=diag.message_detail,
        hint=diag.message_hint or "",
        context=diag.context,
    )


def _place(sql_text: str, stmt: Statement | Piece, position: int | None) -> tuple[int, int]:
    """File line:column of the server's 1-based position inside `stmt`; its start when there is none."""
    from ..scanner import line_col

    return (stmt.line, stmt.column) if position is None else line_col(sql_text, stmt.start + position - 1)


_INLINE_LINE = re.compile(r"PL/pgSQL function inline_code_block line (\d+)")


def _do_block_line(sql_text: str, stmt: Statement | Piece, context: str | None) -> tuple[int, int] | None:
    """The file line:column of 'inline_code_block line N' in a DO statement's CONTEXT."""
    from ..statements import Piece

    if not context or isinstance(stmt, Piece) or stmt.words(1) != ("DO",):
        return None
    match = _INLINE_LINE.search(context)
    if match is None:
        return None
    from ..scanner import line_col

    tokens = stmt.tokens
    body = next(
        (
            t
            for i, t in enumerate(tokens)
            if t.kind in ("dollar_string", "string") and not (i and tokens[i - 1].text.upper() == "LANGUAGE")
        ),
        None,
    )
    if body is None:
        return None
    opener = body.text[: body.text.index("$", 1) + 1] if body.kind == "dollar_string" else body.text[:1]
    first_line_of_body, _ = line_col(sql_text, body.start + len(opener))
    line = first_line_of_body + int(match.group(1)) - 1
    lines = sql_text.splitlines()
    text = lines[line - 1] if 0 < line <= len(lines) else ""
    return line, len(text) - len(text.lstrip()) + 1


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None
