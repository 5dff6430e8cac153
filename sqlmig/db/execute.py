"""Send one migration file to the server, once, and say exactly what happened.

A transactional file goes as one part of a pipeline: BEGIN, a savepoint, its timeouts, each of
its statements as a separate query, the savepoint's release (the guard), the history row, COMMIT
and DISCARD ALL. Consecutive transactional files go in ONE pipeline, each in its own transaction,
so the server runs them back to back; a failure makes the server skip the rest. Because every
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
import logging
import re
import secrets
import selectors
import time
from collections.abc import Callable, Container, Iterator, Sequence
from typing import TYPE_CHECKING, Literal, NamedTuple

import psycopg
import psycopg.errors
from psycopg import sql
from psycopg.pq import ExecStatus
from psycopg.pq.abc import PGconn

from ..errors import first_line
from ..file_checks import transaction_control
from ..migrations import SqlFile
from .connect import Conn, preview
from .connect import log as sql_log
from .history import FILE_STARTED

if TYPE_CHECKING:
    from ..scanner import Statement
    from ..statements import Piece

Query = tuple[str, Sequence[object] | None]  # libpq placeholders: $1, $2, ...
log = logging.getLogger("sqlmig")

# Undoes a file's SET ROLE or SET SESSION AUTHORIZATION (back to the login's own default role, if
# it has one): the history row is written, and the next file starts, as a new session would.
_AS_CONNECTED = "SET SESSION AUTHORIZATION DEFAULT"

# The history row's text goes in the encoding the connection was opened with, whatever the file set.
_AS_SENT = "SET LOCAL client_encoding = 'UTF8'"

# What DISCARD ALL resets that a transaction block allows, but prepared statements: the session
# state a file can leave behind (verify's scratch database keeps its own prepared statement).
SESSION_RESET = (
    _AS_CONNECTED,
    "RESET ALL",
    "CLOSE ALL",
    "UNLISTEN *",
    "DISCARD TEMP",
    "DISCARD SEQUENCES",
)

# Between the files of one transaction (--single-transaction, seed rehearsals), where DISCARD ALL
# cannot run: the session state, prepared statements too, and when the next file started.
_RESET_IN_TRANSACTION = (
    *SESSION_RESET,
    "DEALLOCATE ALL",
    # When the file started, for its history row: now() is the whole transaction's start.
    f"SELECT pg_catalog.set_config('{FILE_STARTED}', pg_catalog.clock_timestamp()::text, true)",
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
    outside a transaction) can have committed part of its own work; `lost`: the connection died;
    `job`: which of the files sent together failed (send_in_transactions)."""

    def __init__(
        self,
        failure: Failure,
        *,
        stage: Stage = "file",
        took_effect: int = 0,
        lost: bool = False,
        self_committing: bool = False,
        job: int = 0,
    ) -> None:
        super().__init__(failure.message)
        self.failure = failure
        self.stage = stage
        self.took_effect = took_effect
        self.lost = lost
        self.self_committing = self_committing
        self.job = job


# What a printed script (`--print-sql`) sends where sqlmig sends DISCARD ALL: DISCARD ALL spelled
# out, without its pg_advisory_unlock_all(). sqlmig runs the files on a connection of their own; the
# script runs on the one that holds sqlmig's lock, which DISCARD ALL would release.
SCRIPT_RESET = (*SESSION_RESET, "DEALLOCATE ALL", "DISCARD PLANS")


def around_file(job: Job, *, inside_transaction: bool) -> tuple[list[Query], list[Query]]:
    """sqlmig's own queries before and after a transactional file's statements, exactly as a run
    sends them (`--print-sql`): BEGIN, the savepoint, the timeouts; the guard, the history change,
    COMMIT and the session reset. inside_transaction: a file of a --single-transaction run."""
    queries: list[Query] = []
    span, _ = _file_queries(job, queries, inside_transaction=inside_transaction)
    return queries[: span.first_statement], queries[span.guard :]


def session_timeouts(lock_timeout: str | None, statement_timeout: str | None) -> list[sql.Composed]:
    """The SETs before a no-transaction file (session-wide: it has no transaction to be LOCAL to)."""
    return [
        sql.SQL("SET {} = {}").format(sql.Identifier(name), sql.Literal(value))
        for name, value in (("lock_timeout", lock_timeout), ("statement_timeout", statement_timeout))
        if value is not None
    ]


@contextlib.contextmanager
def rehearsal(conn: Conn) -> Iterator[None]:
    """`migrate --dry-run --execute`: one transaction around the files, always rolled back."""
    conn.execute("BEGIN")
    try:
        yield
    finally:
        abandon(conn)


def _set_local(name: str, value: str) -> Query:
    """SET LOCAL of a validated setting (a duration: digits and a unit, nothing to escape)."""
    return (f"SET LOCAL {name} = '{value.replace(chr(39), chr(39) * 2)}'", None)


class Job(NamedTuple):
    """One transactional file to run: its statements, its timeouts and its history change."""

    file: SqlFile
    statements: Sequence[Statement | Piece]
    lock_timeout: str | None = None
    statement_timeout: str | None = None
    record: Sequence[Query] = ()


class _Span(NamedTuple):
    """Where one file's queries are in a pipeline: its first statement, its guard (the RELEASE of
    its savepoint), its COMMIT (or, in a savepoint, where a COMMIT would be) and its end."""

    first_statement: int
    guard: int
    commit: int
    end: int


def _file_queries(job: Job, queries: list[Query], *, inside_transaction: bool) -> tuple[_Span, str]:
    """Append one file's queries to `queries`; where they are, and the file's savepoint.

    The file runs in a savepoint no file can name (the token is random): releasing it after the
    file fails unless the transaction the file ran in is still the one opened for it, so a file that
    committed, rolled back or chained its way out of it is caught before its history row. The guard
    is all utility statements: a SELECT of set_config() or current_setting() after a file that
    created or dropped functions costs the server a fresh lookup of those names, file after file.
    """
    savepoint = f"sqlmig_file_{secrets.token_hex(8)}"
    if not inside_transaction:
        queries.append(("BEGIN", None))
    queries.append((f"SAVEPOINT {savepoint}", None))
    if inside_transaction:
        queries.extend((q, None) for q in _RESET_IN_TRANSACTION)
    if job.lock_timeout is not None:
        queries.append(_set_local("lock_timeout", job.lock_timeout))
    if job.statement_timeout is not None:
        queries.append(_set_local("statement_timeout", job.statement_timeout))
    first_statement = len(queries)
    queries.extend((s.text, None) for s in job.statements)
    guard = len(queries)
    queries.append((f"RELEASE SAVEPOINT {savepoint}", None))
    queries.append((_AS_SENT, None))
    queries.append((_AS_CONNECTED, None))
    queries.extend(job.record)
    commit = len(queries)
    if not inside_transaction:
        queries.append(("COMMIT", None))
        queries.append(("DISCARD ALL", None))  # after COMMIT: the next file starts from a new session's state
    return _Span(first_statement, guard, commit, len(queries)), savepoint


def send_in_transactions(conn: Conn, jobs: Sequence[Job], committed: Callable[[int, float], None]) -> None:
    """Run each job and its history change in a transaction of its own, one after the other, all
    in ONE pipeline: the server goes from file to file without waiting for the client, which is
    what lets a run of many small files keep up with psql.

    `committed(i, ms)` is called as the result of job i's COMMIT arrives (ms: since the previous
    one's), so progress is told as it happens and an interruption knows what committed. After a
    failure the server skips the rest of the pipeline: the jobs after the failing one never ran.
    Raises FileFailed (its `job`: the index of the failing job); the failed transaction is rolled
    back and the session reset. Returns normally, with fewer jobs committed than given, when only
    a session reset after a COMMIT failed: the connection is then closed, the rest never ran.
    """
    queries: list[Query] = []
    spans = [_file_queries(job, queries, inside_transaction=False)[0] for job in jobs]
    commits = {span.commit: i for i, span in enumerate(spans)}
    count = 0
    last = time.perf_counter()

    def reached(index: int) -> None:
        nonlocal count, last
        i = commits.get(index)
        if i is not None:
            now = time.perf_counter()
            count = i + 1
            log.info("%s: %d statements, %.1f ms", jobs[i].file.path, len(jobs[i].statements), (now - last) * 1000)
            committed(i, (now - last) * 1000)
            last = now

    failed = _pipeline(conn, queries, reached, flush_after=commits)
    if failed is None:
        return
    at, exc = failed
    lost = conn.closed or conn.broken
    if count == len(jobs) or (count and at < spans[count - 1].end):
        # Committed; only the session reset after it failed (or the connection ended there). A new
        # connection is the clean session DISCARD ALL would give.
        conn.close()
        return
    if lost:  # the job in flight is the first not known to have committed
        raise FileFailed(unplaced(exc), lost=True, job=count) from None
    _end_failed(conn, None)
    raise _file_failed(exc, at, jobs[count], spans[count], job_index=count) from None


def send_in_savepoint(conn: Conn, job: Job) -> float:
    """Run a file and its history change in a savepoint of the caller's open transaction
    (--single-transaction, a seed rehearsal), after the in-transaction reset; the duration in ms.
    Raises FileFailed; the savepoint is then rolled back to, where a lock-timeout retry starts."""
    queries: list[Query] = []
    span, savepoint = _file_queries(job, queries, inside_transaction=True)
    started = time.perf_counter()
    failed = _pipeline(conn, queries)
    duration = (time.perf_counter() - started) * 1000
    if failed is None:
        log.info("%s: %d statements in one request, %.1f ms", job.file.path, len(job.statements), duration)
        return duration
    at, exc = failed
    if conn.closed or conn.broken:
        raise FileFailed(unplaced(exc), lost=True) from None
    _end_failed(conn, savepoint)
    raise _file_failed(exc, at, job, span) from None


def _file_failed(exc: psycopg.Error, at: int, job: Job, span: _Span, *, job_index: int = 0) -> FileFailed:
    """The failure of query `at` of a pipeline, in the file `job` whose queries `span` places: one
    of its statements, placed at file:line:column, or one of sqlmig's own around them."""
    if span.first_statement <= at < span.guard:
        return FileFailed(placed(exc, job.file, job.statements[at - span.first_statement]), job=job_index)
    return FileFailed(unplaced(exc), stage=_stage(at, span), job=job_index)


def _stage(at: int, span: _Span) -> Stage:
    """Which of sqlmig's own statements around the file failed (at: its index in the pipeline)."""
    if at < span.first_statement:
        return "setup"
    if at == span.guard:  # the file's savepoint is gone with the transaction it ran in
        return "guard"
    if at == span.commit:
        return "commit"
    return "history"  # writing the row, or returning to the connecting user before it


def _pipeline(
    conn: Conn,
    queries: Sequence[Query],
    reached: Callable[[int], None] | None = None,
    flush_after: Container[int] = (),
) -> tuple[int, psycopg.Error] | None:
    """Send every query in one pipeline; (index, error) of the first that failed, or None.
    `reached(i)` is called as query i completes, while nothing has failed. The server holds its
    results until the end of the pipeline unless asked: it sends them after each query of
    `flush_after` (a file's COMMIT, so a run knows what committed while the next file runs).

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
        for i, (query, params) in enumerate(queries):
            values = [None if p is None else str(p).encode(encoding) for p in params] if params else None
            pg.send_query_params(query.encode(encoding), values)
            if i in flush_after:
                pg.send_flush_request()
        pg.pipeline_sync()
        with selectors.DefaultSelector() as waiting:
            waiting.register(pg.socket, selectors.EVENT_READ)
            failed = _results(pg, waiting, encoding, reached)
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


def _results(
    pg: PGconn, waiting: selectors.BaseSelector, encoding: str, reached: Callable[[int], None] | None
) -> tuple[int, psycopg.Error] | None:
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
            if failed is None and reached is not None:
                reached(index)
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
        raise FileFailed(unplaced(exc), stage="commit", lost=conn.closed or conn.broken) from None


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


def send_statements(
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
        for setting in session_timeouts(lock_timeout, statement_timeout):
            try:
                conn.execute(setting)
            except psycopg.Error as exc:
                raise FileFailed(unplaced(exc), stage="setup", lost=conn.closed or conn.broken) from None
        for stmt in statements:
            t0 = time.perf_counter()
            done.running = stmt
            words = stmt.words(2)
            try:
                conn.execute(stmt.text)
            except psycopg.Error as exc:
                raise FileFailed(
                    placed(exc, file, stmt),
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


def placed(exc: psycopg.Error, file: SqlFile, stmt: Statement | Piece) -> Failure:
    """PostgreSQL's message, detail, hint, SQLSTATE and CONTEXT, placed at file:line:column.

    The server's position is relative to the statement, which was sent alone. An error inside a
    DO block is placed on the file line its CONTEXT names.
    """
    diag = exc.diag
    line, column = _place(file.sql, stmt, _int(diag.statement_position))
    inner = _do_block_line(file.sql, stmt, diag.context)
    if inner is not None:
        line, column = inner
    return unplaced(exc)._replace(line=line, column=column, statement=stmt.text)


def unplaced(exc: psycopg.Error) -> Failure:
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
