"""Run one migration file, and turn a server error into file:line:column."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import psycopg
from psycopg import sql

from ..errors import ConnectionFailed, MigrationFailed, first_line
from ..migrations import SqlFile

if TYPE_CHECKING:  # the scanner is needed only to locate an error; a no-op migrate does not compile it
    from ..scanner import Statement

Conn = psycopg.Connection[tuple[object, ...]]
log = logging.getLogger("sqlmig")

# A file's text ends with this before anything sqlmig appends, so that a last statement
# without ';' or a trailing `--` comment cannot swallow the history row or the COMMIT.
_FILE_END = "\n;\n"


@dataclass(frozen=True)
class Outcome:
    """What a successful run of one file cost, measured on the client."""

    duration_ms: float


@contextlib.contextmanager
def whole_run(conn: Conn) -> Iterator[None]:
    """--single-transaction: one transaction around every file (each runs in a savepoint of it),
    committed at the end or rolled back on any failure, Ctrl-C included."""
    conn.execute("BEGIN")
    try:
        yield
    except BaseException:
        if not (conn.closed or conn.broken):
            conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def abandon(conn: Conn) -> None:
    """End the transaction of a file interrupted by Ctrl-C (psycopg has cancelled its statement)."""
    if not (conn.closed or conn.broken):
        with contextlib.suppress(psycopg.Error):
            conn.execute("ROLLBACK")


def settings_sql(lock_timeout: str | None, statement_timeout: str | None, *, local: bool = True) -> list[sql.Composed]:
    """SET LOCAL (per transaction) or SET (per session, for non-transactional files) of the timeouts."""
    verb = sql.SQL("SET LOCAL" if local else "SET")
    out: list[sql.Composed] = []
    for name, value in (("lock_timeout", lock_timeout), ("statement_timeout", statement_timeout)):
        if value is not None:
            out.append(sql.SQL("{} {} = {}").format(verb, sql.Identifier(name), sql.Literal(value)))
    return out


def run_in_transaction(
    conn: Conn,
    file: SqlFile,
    *,
    version: int,
    before: Sequence[sql.Composable] = (),
    after: Sequence[sql.Composable] = (),
    direction: str = "up",
    commit: bool = True,
    should_locate: Callable[[str | None], bool] = lambda _sqlstate: True,
) -> Outcome:
    """Send BEGIN, `before`, the file, `after` and COMMIT as ONE request (one round trip).

    PostgreSQL parses the whole request first and runs it inside the explicit transaction, so
    either every statement and the history row are committed, or nothing is. With
    commit=False the caller owns the surrounding transaction (whole-run mode) and the file
    runs inside a savepoint, so a failure can still be located before the caller rolls back.
    should_locate(sqlstate) may skip the replay (a lock timeout about to be retried).
    """
    head = "".join(c.as_string(conn) + ";\n" for c in before)
    tail = "".join(c.as_string(conn) + ";\n" for c in after)
    prefix = ("BEGIN;\n" if commit else "SAVEPOINT sqlmig_file;\n") + head
    request = prefix + file.sql + _FILE_END + tail + ("COMMIT;" if commit else "RELEASE SAVEPOINT sqlmig_file;")
    started = time.perf_counter()
    try:
        conn.execute(request)
    except psycopg.Error as exc:
        if conn.closed or conn.broken:
            raise _lost(exc, file) from None
        _rollback(conn, commit)
        replay = should_locate(exc.diag.sqlstate)
        raise locate(
            conn, exc, file, version=version, offset=len(prefix), before=head, direction=direction, replay=replay
        ) from None
    duration = (time.perf_counter() - started) * 1000
    log.info("%s: %d characters in one request, %.1f ms", file.path, len(request), duration)
    return Outcome(duration)


class PartialFailure(Exception):
    """A non-transactional file failed after `completed` of its statements had taken effect."""

    def __init__(self, failure: MigrationFailed, completed: int) -> None:
        super().__init__(failure.message)
        self.failure = failure
        self.completed = completed


def run_statements(
    conn: Conn,
    file: SqlFile,
    *,
    version: int,
    session_settings: Sequence[sql.Composed] = (),
    direction: str = "up",
) -> Outcome:
    """Run a `-- sqlmig:no-transaction` file outside a transaction, one statement per request.

    Timeouts are set for the session (they then hold for each statement) and reset afterwards.
    """
    from ..scanner import split_statements

    statements = split_statements(file.sql)
    started = time.perf_counter()
    for setting in session_settings:
        conn.execute(setting)
    try:
        for index, stmt in enumerate(statements):
            t0 = time.perf_counter()
            try:
                conn.execute(stmt.text)
            except psycopg.Error as exc:
                if conn.closed or conn.broken:
                    raise _lost(exc, file) from None
                if conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
                    conn.execute("ROLLBACK")  # a BEGIN block the file opened itself
                raise PartialFailure(_failure_in(exc, file, stmt, version, direction), index) from None
            log.info("%s:%d: %.1f ms", file.path, stmt.line, (time.perf_counter() - t0) * 1000)
    finally:
        if session_settings and not (conn.closed or conn.broken):
            conn.execute("RESET lock_timeout")
            conn.execute("RESET statement_timeout")
    return Outcome((time.perf_counter() - started) * 1000)


def _failure_in(exc: psycopg.Error, file: SqlFile, stmt: Statement, version: int, direction: str) -> MigrationFailed:
    line, column = _place(file.sql, stmt, _int(exc.diag.statement_position))
    return _failure(exc, file, version, direction, line, column, stmt.text)


def _place(sql_text: str, stmt: Statement, position: int | None) -> tuple[int, int]:
    """File line:column of the server's 1-based position inside `stmt`; its start when there is none."""
    from ..scanner import line_col

    return (stmt.line, stmt.column) if position is None else line_col(sql_text, stmt.start + position - 1)


def _failure(
    exc: psycopg.Error,
    file: SqlFile,
    version: int,
    direction: str,
    line: int | None,
    column: int | None,
    statement: str | None,
) -> MigrationFailed:
    """PostgreSQL's message, detail, hint and SQLSTATE, placed at file:line:column."""
    diag = exc.diag
    return MigrationFailed(
        first_line(diag.message_primary or str(exc)),
        version=version,
        path=str(file.path),
        line=line,
        column=column,
        sqlstate=diag.sqlstate,
        detail=diag.message_detail,
        hint=diag.message_hint or "",
        statement=statement,
        direction=direction,
    )


def _rollback(conn: Conn, commit: bool) -> None:
    if conn.closed or conn.broken:
        return
    conn.execute("ROLLBACK" if commit else "ROLLBACK TO SAVEPOINT sqlmig_file")


def _lost(exc: psycopg.Error, file: SqlFile) -> ConnectionFailed:
    return ConnectionFailed(
        f"the connection was lost while running {file.path}: {first_line(str(exc))}",
        hint="the server rolls back an uncommitted transaction; run `sqlmig status` to see what was recorded",
    )


def locate(
    conn: Conn,
    exc: psycopg.Error,
    file: SqlFile,
    *,
    version: int,
    offset: int,
    before: str,
    direction: str,
    replay: bool = True,
) -> MigrationFailed:
    """Turn a server error into MigrationFailed at file:line:column.

    PostgreSQL gives a position only for errors it finds while parsing and analysing; for a
    runtime error (a division by zero, a constraint violation) the file is replayed statement
    by statement inside a transaction that is always rolled back, to find the one that fails.
    """
    from ..scanner import line_col, split_statements

    diag = exc.diag
    statements = split_statements(file.sql)
    line: int | None = None
    column: int | None = None
    failing: Statement | None = None
    position = _int(diag.statement_position)
    if position is not None and 0 <= position - 1 - offset <= len(file.sql):
        line, column = line_col(file.sql, position - 1 - offset)
        failing = _statement_at(statements, position - 1 - offset)
    elif replay and not (conn.closed or conn.broken):
        failing, line, column = _replay(conn, file.sql, statements, before, diag.sqlstate)
    return _failure(exc, file, version, direction, line, column, failing.text if failing else None)


def _replay(
    conn: Conn, sql_text: str, statements: Sequence[Statement], before: str, sqlstate: str | None
) -> tuple[Statement | None, int | None, int | None]:
    """Find the failing statement by running them one by one in a transaction rolled back at the end."""
    found: tuple[Statement | None, int | None, int | None] = (None, None, None)
    try:
        with conn.transaction(force_rollback=True):
            if before:
                conn.execute(before)
            for stmt in statements:
                try:
                    conn.execute(stmt.text)
                except psycopg.Error as exc:
                    if exc.diag.sqlstate == sqlstate:
                        found = (stmt, *_place(sql_text, stmt, _int(exc.diag.statement_position)))
                    raise _StopReplay from None
    except _StopReplay:
        pass
    except psycopg.Error:
        pass
    return found


class _StopReplay(Exception):
    """Ends the replay at the first failing statement (the transaction is rolled back)."""


def _statement_at(statements: Sequence[Statement], offset: int) -> Statement | None:
    for stmt in statements:
        if stmt.start <= offset < stmt.end + 1:
            return stmt
    return None


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None
