"""What a run talks to: the migration lock, the history, and a clean session for the files.

Two connections, each with one job:
- the control connection takes sqlmig's advisory lock and keeps it, and reads and writes the
  history outside the files' transactions. No migration file ever runs on it, so nothing a file
  does (`pg_advisory_unlock_all()`, `SET ROLE`, a temp table shadowing the history) can reach it;
- the work connection runs the files, opened only when there is a file to run, and reset to a new
  connection's state after each file (see execute.py).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import TypeVar

import psycopg

from ..errors import first_line
from . import lock
from .catalog import InvalidIndex, invalid_indexes
from .connect import connect
from .history import History

Conn = psycopg.Connection[tuple[object, ...]]
T = TypeVar("T")


class HistoryAccessFailed(Exception):
    """The history row could not be written (the reason is the server's message, or a lost connection)."""


class Session:
    """One run's connections; use `open_session`, which releases the lock and closes both."""

    def __init__(self, url: str, *, schema: str, table: str, lock_wait: float | None, connect_wait: float) -> None:
        self.url = url
        self.schema = schema
        self.table = table
        self.lock_wait = lock_wait
        self.connect_wait = connect_wait
        self.key = lock.lock_key(schema, table)
        self.control = self._locked_connection()
        self.history = History(self.control, schema, table)
        self._work: Conn | None = None

    def _locked_connection(self) -> Conn:
        conn = connect(self.url, wait=self.connect_wait)
        try:
            if conn.info.server_version >= 140000:
                # It sits idle while files run: a server's idle_session_timeout must not end it (and the lock).
                conn.execute("SET idle_session_timeout = 0")
            lock.acquire(conn, self.key, self.lock_wait)
        except BaseException:
            conn.close()
            raise
        return conn

    @property
    def work(self) -> Conn:
        """The connection files run on, opened on first use (a run with nothing to do never opens it)."""
        if self._work is None or self._work.closed:
            self._work = connect(self.url, files_on=self.control.info.server_version)
        return self._work

    def lock_held(self) -> bool:
        """Whether the control connection (and with it the lock) is still there; reads what the
        server has sent, without a round trip: a terminated backend has said so and closed."""
        if self.control.closed:
            return False
        pg = self.control.pgconn
        try:
            # The first read takes the server's FATAL message, the second meets the closed socket.
            pg.consume_input()
            pg.consume_input()
        except psycopg.OperationalError:
            return False
        return pg.status == psycopg.pq.ConnStatus.OK

    def drop_work(self) -> None:
        """Close the work connection: the server rolls back whatever transaction it had open,
        whatever state a cancelled statement left it in."""
        if self._work is not None:
            with contextlib.suppress(psycopg.Error):
                self._work.close()
            self._work = None

    def invalid_indexes(self) -> list[InvalidIndex]:
        return self._read(lambda: invalid_indexes(self.control))

    def has_row(self, version: int) -> bool:
        """Whether the history has a row for `version` now (after a lost connection or a Ctrl-C)."""
        return self._read(lambda: version in {r.version for r in History(self.control, self.schema, self.table).read()})

    def _read(self, query: Callable[[], T]) -> T:
        try:
            if self.control.closed or self.control.broken:
                self._revive()
            return query()
        except psycopg.Error as exc:
            raise HistoryAccessFailed(first_line(str(exc))) from None
        except Exception as exc:  # ConnectionFailed, LockTimeout while reconnecting
            raise HistoryAccessFailed(str(exc)) from None

    # ---- history writes outside a file's transaction (no-transaction files) ------------------

    def record_applied(self, version: int, name: str, checksum: str, applied_sql: str, execution_ms: int) -> None:
        self._write(lambda h: h.record(version, name, checksum, applied_sql, execution_ms))

    def record_reverted(self, version: int) -> None:
        self._write(lambda h: h.forget(version))

    def record_failed(self, version: int, name: str, checksum: str, applied_sql: str, error: str, up: bool) -> None:
        if up:
            self._write(lambda h: h.record_failed(version, name, checksum, applied_sql, error))
        else:
            self._write(lambda h: h.mark_failed(version, f"revert: {error}"))

    def _write(self, action: Callable[[History], None]) -> None:
        """Write on the control connection; if it died (a restart, a terminated backend), connect
        again and take the lock again first, so no other run can be between."""
        try:
            if self.control.closed or self.control.broken:
                self._revive()
            action(self.history)
        except psycopg.Error as exc:
            if not (self.control.closed or self.control.broken):
                raise HistoryAccessFailed(first_line(exc.diag.message_primary or str(exc))) from None
            try:
                self._revive()
                action(self.history)
            except psycopg.Error as again:
                raise HistoryAccessFailed(first_line(str(again))) from None
        except Exception as exc:  # ConnectionFailed, LockTimeout while reconnecting
            raise HistoryAccessFailed(str(exc)) from None

    def _revive(self) -> None:
        with contextlib.suppress(psycopg.Error):
            self.control.close()
        self.control = self._locked_connection()
        self.history = History(self.control, self.schema, self.table)

    def close(self) -> None:
        for conn in (self._work, self.control):
            if conn is None or conn.closed:
                continue
            if conn is self.control and not conn.broken:
                with contextlib.suppress(psycopg.Error):
                    lock.release(conn, self.key)
            conn.close()


@contextlib.contextmanager
def open_session(
    url: str, *, schema: str, table: str, lock_wait: float | None, connect_wait: float
) -> Iterator[Session]:
    session = Session(url, schema=schema, table=table, lock_wait=lock_wait, connect_wait=connect_wait)
    try:
        yield session
    finally:
        session.close()
