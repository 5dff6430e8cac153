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
from collections.abc import Callable
from typing import TypeVar

import psycopg

from ..errors import ServerRefused, SqlmigError, first_line
from . import lock
from .catalog import InvalidIndex, invalid_indexes, lock_holders
from .connect import Conn, WaitHandler, connect
from .history import AppliedRow, History
from .refusals import READ_ONLY_HINT

T = TypeVar("T")


class HistoryAccessFailed(Exception):
    """The history could not be read or written on the control connection (the server's message,
    or why it could not be reached again)."""


def _refuse_read_only(conn: Conn) -> None:
    """A run writes (files, history): on a database or server that refuses writes, say so before
    anything, rather than as the failure of the first file or of creating the history table."""
    row = conn.execute(
        "SELECT pg_catalog.current_setting('transaction_read_only'), pg_catalog.pg_is_in_recovery()"
    ).fetchone()
    if row is None:
        return
    read_only, standby = row
    if standby:
        raise ServerRefused(
            "the server is a standby (in recovery) and cannot be migrated; nothing was run",
            hint="run against the primary",
        )
    if read_only == "on":
        raise ServerRefused(
            "the database is read-only (transaction_read_only is on); nothing was run", hint=READ_ONLY_HINT
        )


class Session:
    """One run's connections; as a context manager, it releases the lock and closes both at the end."""

    def __init__(
        self,
        url: str,
        *,
        schema: str,
        table: str,
        lock_wait: float | None,
        connect_wait: float | None,
        on_wait: WaitHandler | None = None,
    ) -> None:
        self.url = url
        self.on_wait = on_wait
        self.schema = schema
        self.table = table
        self.lock_wait = lock_wait
        self.connect_wait = connect_wait
        self.key = lock.lock_key(schema, table)
        self.control = self._locked_connection()
        self.history = History(self.control, schema, table)
        self._work: Conn | None = None

    def _locked_connection(self) -> Conn:
        conn = connect(self.url, wait=self.connect_wait, on_wait=self.on_wait)
        try:
            if conn.info.server_version >= 140000:
                # It sits idle while files run: a server's idle_session_timeout must not end it (and the lock).
                conn.execute("SET idle_session_timeout = 0")
            _refuse_read_only(conn)
            lock.acquire(conn, self.key, self.lock_wait, on_wait=self.on_wait)
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
        return self._on_control(lambda: invalid_indexes(self.control))

    def lock_holders(self, relations: set[str]) -> list[str]:
        """Other sessions holding locks on tables of these names (see catalog.lock_holders)."""
        ours = {self.control.info.backend_pid}
        if self._work is not None and not self._work.closed:
            ours.add(self._work.info.backend_pid)
        return self._on_control(lambda: lock_holders(self.control, relations, besides=ours))

    def has_row(self, version: int) -> bool:
        """Whether the history has a row for `version` now (after a lost connection or a Ctrl-C)."""
        return self._on_control(lambda: version in {r.version for r in self.history.read()})

    # ---- history writes outside a file's transaction (no-transaction files) ------------------

    def record_applied(self, row: AppliedRow, execution_ms: int) -> None:
        self._on_control(lambda: self.history.record(row, execution_ms))

    def record_reverted(self, version: int) -> None:
        self._on_control(lambda: self.history.forget(version))

    def record_failed(self, row: AppliedRow, error: str, up: bool) -> None:
        if up:
            self._on_control(lambda: self.history.record_failed(row, error))
        else:
            self._on_control(lambda: self.history.mark_failed(row.version, f"revert: {error}"))

    def _on_control(self, action: Callable[[], T]) -> T:
        """Run `action` on the control connection. If that connection died (a restart, a terminated
        backend), connect again and take the lock again first, so that no other run is in between,
        then run it once more. Any failure is HistoryAccessFailed."""
        try:
            if self.control.closed or self.control.broken:
                self._revive()
            try:
                return action()
            except psycopg.Error as exc:
                if not (self.control.closed or self.control.broken):
                    raise HistoryAccessFailed(first_line(exc.diag.message_primary or str(exc))) from None
            self._revive()
            return action()
        except psycopg.Error as exc:
            raise HistoryAccessFailed(first_line(exc.diag.message_primary or str(exc))) from None
        except SqlmigError as exc:  # ConnectionFailed, LockTimeout while reconnecting
            raise HistoryAccessFailed(exc.message) from None

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

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
