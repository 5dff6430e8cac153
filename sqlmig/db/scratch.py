"""A scratch database for `verify` and the schema drift check: created, used, always dropped.

It lives on a server where sqlmig may create databases (the embedded server, or one the user
names), never in the target database. Files run here statement by statement, so that the locks
and rewrites of each statement can be measured (locks_taken.py), and a failure is placed at
file:line:column as migrate places it (execute.placed).
"""

from __future__ import annotations

import contextlib
import secrets
import time
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, NamedTuple

import psycopg

from ..migrations import SqlFile
from ..results import StatementEffect
from . import admin
from .connect import Conn, connect
from .execute import FileFailed, placed, reset, reset_in_transaction, send_statements, unplaced
from .locks_taken import LockProbe, relations

if TYPE_CHECKING:
    from ..scanner import Statement
    from ..snapshot import Snapshot
    from ..statements import Piece

PREFIX = "sqlmig_scratch_"


class Scratch:
    """One scratch database and one connection to it. Use as a context manager: the database is
    dropped on the way out, whatever happened (Ctrl-C included)."""

    def __init__(self, server_url: str, *, exclude: Sequence[tuple[str, str]] = ()) -> None:
        self.server_url = server_url
        self.exclude = tuple(exclude)
        self.name = PREFIX + secrets.token_hex(6)
        self._conn: Conn | None = None

    def __enter__(self) -> Scratch:
        url = admin.create_database(self.server_url, self.name)
        try:
            self._conn = connect(url)
        except BaseException:
            admin.drop_database(self.server_url, self.name)
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        if self._conn is not None:
            self._conn.close()
        admin.drop_database(self.server_url, self.name)

    @property
    def conn(self) -> Conn:
        assert self._conn is not None, "Scratch is used inside `with`"
        return self._conn

    def snapshot(self) -> Snapshot:
        """The schema now, uncommitted work of an open transaction included."""
        from .snapshot import take

        return take(self.conn, exclude=self.exclude)

    def existing(self) -> frozenset[int]:
        """The relations there are now (OIDs): those whose locks count when a migration is measured."""
        return frozenset(relations(self.conn))

    def apply(
        self, file: SqlFile, statements: Sequence[Statement | Piece], *, measure: frozenset[int] | None = None
    ) -> Applied:
        """Run a file to its end and commit: in a transaction of its own, or statement by statement
        when it is marked no-transaction. Raises FileFailed; a transactional file is then rolled back."""
        if file.directives.no_transaction:
            took = send_statements(self.conn, file, statements)
            return Applied(took, (), False)
        with self._transaction(commit=True):
            return self.run_inside(file, statements, measure=measure)

    @contextlib.contextmanager
    def trial(self) -> Iterator[None]:
        """A transaction that is always rolled back: the database is as before it, whatever ran in it."""
        with self._transaction(commit=False):
            yield

    def run_inside(
        self, file: SqlFile, statements: Sequence[Statement | Piece], *, measure: frozenset[int] | None = None
    ) -> Applied:
        """Run a transactional file's statements in the open transaction, then clean the session
        (its SETs and temporary objects) without ending the transaction. `measure`: the relations
        (OIDs) whose locks and rewrites are recorded, statement by statement (None: none)."""
        conn = self.conn
        probe = None if measure is None else LockProbe(conn, relations(conn), measure)
        effects: list[StatementEffect] = []
        started = time.perf_counter()
        for stmt in statements:
            try:
                conn.execute(stmt.text)
            except psycopg.Error as exc:
                raise FileFailed(placed(exc, file, stmt), lost=conn.closed or conn.broken) from None
            if probe is not None:
                effect = probe.after(stmt.line, stmt.column, stmt.text)
                if effect.locks or effect.rewrites:
                    effects.append(effect)
        took = (time.perf_counter() - started) * 1000
        reset_in_transaction(conn)
        return Applied(took, tuple(effects), measure is not None)

    @contextlib.contextmanager
    def _transaction(self, *, commit: bool) -> Iterator[None]:
        conn = self.conn
        conn.execute("BEGIN")
        try:
            yield
        except BaseException:
            if not (conn.closed or conn.broken):
                reset(conn)  # rolls back, and a clean session for what comes next
            raise
        if commit:
            try:
                conn.execute("COMMIT")  # a deferred constraint is checked only now
            except psycopg.Error as exc:
                reset(conn)
                raise FileFailed(unplaced(exc), stage="commit", lost=conn.closed or conn.broken) from None
        reset(conn)


class Applied(NamedTuple):
    """A file run on the scratch database: how long it took, and what its statements locked
    (`measured` False: it ran outside a transaction, where locks end with each statement)."""

    took_ms: float
    effects: tuple[StatementEffect, ...]
    measured: bool
