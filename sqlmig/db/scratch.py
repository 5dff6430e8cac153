"""A scratch database for `verify` and the schema drift check: created, used, always dropped.

It lives on a server where sqlmig may create databases (the embedded server, or one the user
names), never in the target database. Files run here statement by statement, so that the locks
and rewrites of each statement can be measured (locks_taken.py), and a failure is placed at
file:line:column as migrate places it (execute.placed).

Snapshots run a statement prepared on the server once (PREPARE) and kept, with its plan, for the
whole run: planning it was a third of a snapshot's time. So between files the session is cleaned
as DISCARD ALL cleans it, minus DEALLOCATE ALL and DISCARD PLANS: the file's own prepared
statements are deallocated by name, every other part of a session a file can change (settings,
role, temporary objects, cursors, LISTENs, advisory locks, sequence caches) is reset as before.
A file may still drop the statement (DEALLOCATE ALL): each snapshot checks it is there, as
prepared, and prepares it again if not.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import signal
import threading
import time
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

import psycopg
from psycopg import sql

from ..errors import ConnectionFailed
from ..migrations import SqlFile
from ..results import StatementEffect
from . import admin
from .connect import Conn, connect
from .execute import SESSION_RESET, FileFailed, abandon, placed, send_statements, unplaced
from .locks_taken import LockProbe, Relation, relations

if TYPE_CHECKING:
    from ..scanner import Statement
    from ..snapshot import Snapshot
    from ..statements import Piece

PREFIX = "sqlmig_scratch_"

# A file that may create a role, which outlives the scratch database (roles are the server's). Only
# a committed file can leave one: CREATE ROLE is transactional, and verify's trial is rolled back.
_CREATES_ROLE = re.compile(r"\bcreate\s+(role|user|group)\b", re.IGNORECASE)

# Between files: what DISCARD ALL does but DEALLOCATE ALL and DISCARD PLANS (see above); inside
# a transaction block only the session state (advisory locks of the session go with the block).
_CLEAN = (*SESSION_RESET, "SELECT pg_catalog.pg_advisory_unlock_all()")
_CLEAN_IN_TRANSACTION = SESSION_RESET


@contextlib.contextmanager
def _connection_kept(file: SqlFile | None) -> Iterator[None]:
    """A failure that took the connection with it (a file that terminated its own backend, a server
    gone) ends the whole run, exit 4: there is no scratch database left to judge anything on."""
    try:
        yield
    except FileFailed as exc:
        if not exc.lost:
            raise
        where = f" while {file.path} ran" if file is not None else ""
        raise ConnectionFailed(
            f"the connection to the scratch database was lost{where}: {exc.failure.message}",
            hint="a file that terminates its own backend cannot be verified; otherwise check the scratch server",
        ) from None


def _interrupted(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


class Scratch:
    """One scratch database and one connection to it. Use as a context manager: the database is
    dropped on the way out, whatever happened (Ctrl-C included)."""

    def __init__(self, server_url: str, *, exclude: Sequence[tuple[str, str]] = (), owners: bool = False) -> None:
        """exclude: (schema, table) pairs snapshots leave out; owners: snapshots name each object's
        owner (verify: every object here is made by one role, so an owner that differs is an
        ALTER ... OWNER TO a down forgot; drift compares with a live database, owned otherwise)."""
        self.server_url = server_url
        self.exclude = tuple(exclude)
        self.owners = owners
        # the process in the name: which run a database left behind belongs to (a kill -9) is plain
        self.name = f"{PREFIX}{os.getpid()}_{secrets.token_hex(4)}"
        self._conn: Conn | None = None
        self._made_roles: set[str] = set()
        self._recent: list[tuple[list[Any], Snapshot]] = []
        self._relations: dict[int, Relation] | None = None  # read by existing(), for the next file
        self._sigterm: Any = None
        # a name no file uses (nor guesses): a statement under it is the snapshot's
        self._statement = "sqlmig_snapshot_" + secrets.token_hex(6)
        self._quoted = f"'{self._statement}'"

    def __enter__(self) -> Scratch:
        url = admin.create_database(self.server_url, self.name)
        try:
            self._conn = connect(url)
            # psycopg's own prepared statements are cleared with DEALLOCATE ALL (after a DROP, a
            # ROLLBACK...), which would take the snapshot statement with them: none are made here
            self._conn.prepare_threshold = None
        except BaseException:
            admin.drop_database(self.server_url, self.name)
            raise
        # SIGTERM (a CI job's timeout, `kill`) ends the run as Ctrl-C does, through __exit__, so
        # that the scratch database is dropped rather than left on the server.
        if threading.current_thread() is threading.main_thread():
            self._sigterm = signal.signal(signal.SIGTERM, _interrupted)
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            if self._conn is not None:
                self._conn.close()
            admin.drop_database(self.server_url, self.name)
            # Roles are the server's, not the database's: those a migration made (CREATE ROLE in an up
            # that was committed here) would stay, and make the real migrate fail ("already exists").
            # A role that owns or may use anything in another database is refused by DROP ROLE: kept.
            admin.drop_roles(self.server_url, self._made_roles)
        finally:
            if self._sigterm is not None:
                signal.signal(signal.SIGTERM, self._sigterm)

    @property
    def conn(self) -> Conn:
        assert self._conn is not None, "Scratch is used inside `with`"
        return self._conn

    def snapshot(self) -> Snapshot:
        """The schema now, uncommitted work of an open transaction included: the statement take()
        runs, prepared once (again after a file's DEALLOCATE ALL), read as take() reads it."""
        from .snapshot import from_rows, pinned_search_path, statement

        conn = self.conn
        self._relations = None  # a file has run since existing() read them
        with pinned_search_path(conn):  # the plan is made, and kept, under the pinned search_path
            there = conn.execute(
                "SELECT FROM pg_catalog.pg_prepared_statements WHERE name = %s", (self._statement,)
            ).fetchone()
            if there is None:  # the first snapshot, or a file's DEALLOCATE ALL
                query = statement(conn, exclude=self.exclude, owners=self.owners)
                conn.execute(f"PREPARE {self._statement} AS {query}")
            rows = conn.cursor(binary=True).execute(f"EXECUTE {self._statement}").fetchall()
        # After a down that undid its up exactly, the rows are those of a recent snapshot (the
        # same objects, OIDs and all): that Snapshot is reused instead of built again.
        for seen, snapshot in self._recent:
            if seen == rows:
                return snapshot
        snapshot = from_rows(rows, self.exclude)
        self._recent = [(rows, snapshot), *self._recent[:2]]
        return snapshot

    def check_deferred(self) -> None:
        """What COMMIT would check of the open transaction's deferred constraints, without
        committing (verify's trial is rolled back, so COMMIT never comes): raises FileFailed as a
        failed COMMIT would. The savepoint rolled back puts the constraints' timing back."""
        conn = self.conn
        try:  # one round trip: a simple query of three statements
            conn.execute(
                "SAVEPOINT sqlmig_deferred; SET CONSTRAINTS ALL IMMEDIATE; ROLLBACK TO SAVEPOINT sqlmig_deferred"
            )
        except psycopg.Error as exc:
            lost = conn.closed or conn.broken
            if not lost:
                conn.execute("ROLLBACK TO SAVEPOINT sqlmig_deferred")
            with _connection_kept(None):
                raise FileFailed(unplaced(exc), stage="commit", lost=lost) from None

    def _clean(self, *, in_transaction: bool = False) -> None:
        """A session as a new connection has it (but for the snapshot statement): after a file, or
        inside the transaction block verify runs a down and its up again in."""
        conn = self.conn
        if not in_transaction:
            abandon(conn)
        cursor = conn.execute(
            "; ".join(
                [
                    *(_CLEAN_IN_TRANSACTION if in_transaction else _CLEAN),
                    "SELECT name FROM pg_catalog.pg_prepared_statements WHERE name <> " + self._quoted,
                ]
            )
        )
        while cursor.nextset():
            pass
        names = [str(name) for (name,) in cursor.fetchall()]
        if names:
            conn.execute("; ".join(sql.SQL("DEALLOCATE {}").format(sql.Identifier(n)).as_string(conn) for n in names))

    def existing(self) -> frozenset[int]:
        """The relations there are now (OIDs): those whose locks count when a migration is measured.
        The next measured file, run before anything else, starts from the same reading."""
        self._relations = relations(self.conn)
        return frozenset(self._relations)

    def apply(
        self, file: SqlFile, statements: Sequence[Statement | Piece], *, measure: frozenset[int] | None = None
    ) -> Applied:
        with _connection_kept(file):
            return self._apply(file, statements, measure=measure)

    def _apply(
        self, file: SqlFile, statements: Sequence[Statement | Piece], *, measure: frozenset[int] | None
    ) -> Applied:
        """Run a file to its end and commit: in a transaction of its own, or statement by statement
        when it is marked no-transaction. Raises FileFailed; a transactional file is then rolled back."""
        makes_roles = _CREATES_ROLE.search(file.sql) is not None
        before = self._role_names() if makes_roles else frozenset()
        try:
            if file.directives.no_transaction:
                self._relations = None  # not measured, and what it changes makes the reading old
                took = send_statements(self.conn, file, statements)
                return Applied(took, (), False)
            with self._transaction(commit=True):
                return self.run_inside(file, statements, measure=measure)
        finally:
            if makes_roles and not (self.conn.closed or self.conn.broken):
                self._made_roles |= self._role_names() - before

    def _role_names(self) -> frozenset[str]:
        rows = self.conn.execute("SELECT rolname FROM pg_catalog.pg_roles").fetchall()
        return frozenset(str(r[0]) for r in rows)

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
        now, self._relations = self._relations, None
        probe = None if measure is None else LockProbe(conn, now if now is not None else relations(conn), measure)
        effects: list[StatementEffect] = []
        started = time.perf_counter()
        for stmt in statements:
            try:
                conn.execute(stmt.text)
            except psycopg.Error as exc:
                with _connection_kept(file):
                    raise FileFailed(placed(exc, file, stmt), lost=conn.closed or conn.broken) from None
            if probe is not None:
                effect = probe.after(stmt.line, stmt.column, stmt.text)
                if effect.locks or effect.rewrites:
                    effects.append(effect)
        took = (time.perf_counter() - started) * 1000
        self._clean(in_transaction=True)
        return Applied(took, tuple(effects), measure is not None)

    @contextlib.contextmanager
    def _transaction(self, *, commit: bool) -> Iterator[None]:
        conn = self.conn
        conn.execute("BEGIN")
        try:
            yield
        except BaseException:
            if not (conn.closed or conn.broken):
                self._clean()  # rolls back, and a clean session for what comes next
            raise
        if commit:
            try:
                conn.execute("COMMIT")  # a deferred constraint is checked only now
            except psycopg.Error as exc:
                self._clean()
                raise FileFailed(unplaced(exc), stage="commit", lost=conn.closed or conn.broken) from None
        self._clean()


class Applied(NamedTuple):
    """A file run on the scratch database: how long it took, and what its statements locked
    (`measured` False: it ran outside a transaction, where locks end with each statement)."""

    took_ms: float
    effects: tuple[StatementEffect, ...]
    measured: bool
