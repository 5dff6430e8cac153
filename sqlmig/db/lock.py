"""sqlmig's advisory lock: one run at a time per history table, whoever else is migrating."""

from __future__ import annotations

import hashlib
import time
from datetime import datetime

import psycopg

from ..errors import LockTimeout
from .connect import Conn, WaitHandler, WaitNotice
from .refusals import server_refused


def lock_key(schema: str, table: str) -> int:
    """A stable signed 64-bit key derived from the history table's name."""
    digest = hashlib.blake2b(f"sqlmig:{schema}.{table}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def acquire(
    conn: Conn,
    key: int,
    wait: float | None,
    *,
    poll: float = 0.02,
    max_poll: float = 0.5,
    on_wait: WaitHandler | None = None,
) -> None:
    """Take the session-level lock; with `wait`, give up after that many seconds and name the holder.

    The wait is a series of short `pg_try_advisory_lock` calls with pauses between them, never one
    blocked `pg_advisory_lock`: a statement blocked inside that function holds a snapshot, and a
    running CREATE INDEX CONCURRENTLY waits for every older snapshot in the database, so the
    waiter and the running migration would deadlock. Between two tries this session has no snapshot.
    on_wait is told which session holds the lock when the wait starts, and again every few seconds.
    """
    deadline = None if wait is None else time.monotonic() + wait
    pause = poll
    tries = 0
    told = WaitNotice(on_wait)
    limit = "" if wait is None else f", up to {wait:g}s"
    while True:
        try:
            if conn.execute("SELECT pg_catalog.pg_try_advisory_lock(%s)", (key,)).fetchone() == (True,):
                return
        except psycopg.Error as exc:
            doing = "cannot take sqlmig's lock" if tries == 0 else "while waiting for sqlmig's lock"
            grant = (
                "GRANT EXECUTE ON FUNCTION pg_try_advisory_lock(bigint), pg_advisory_unlock(bigint) "
                f"TO {conn.info.user} (as the database owner or a superuser)"
            )
            raise server_refused(exc, doing, privilege_hint=grant) from None
        tries += 1
        left = None if deadline is None else deadline - time.monotonic()
        if left is not None and left <= 0:
            assert wait is not None
            raise LockTimeout(
                f"another sqlmig run holds the migration lock; gave up after {wait:g}s",
                hint=f"held by {describe_holder(conn, key)}; wait for it to finish, or raise --lock-wait",
            )
        told(lambda: f"waiting for sqlmig's lock, held by {describe_holder(conn, key)}{limit}")
        time.sleep(pause if left is None else min(pause, left))
        pause = min(pause * 1.5, max_poll)


def script_lock(key: int, history: str) -> str:
    """The lock as a printed script takes it (`--print-sql`): tried once, an error when another run
    holds it. Not waited for: a statement blocked in pg_advisory_lock holds a snapshot, which a
    running CREATE INDEX CONCURRENTLY would wait for forever (see acquire)."""
    said = f"another sqlmig run holds the migration lock of {history}; this script ran nothing"
    message = said.replace("'", "''").replace("%", "%%")  # a string literal, and RAISE's format
    return (
        "DO $sqlmig_lock$\nBEGIN\n"
        f"    IF NOT pg_catalog.pg_try_advisory_lock({key}) THEN\n"
        f"        RAISE EXCEPTION '{message}'\n"
        "            USING HINT = 'run the script again when that run is over (sqlmig status names it)';\n"
        "    END IF;\nEND\n$sqlmig_lock$;"
    )


def script_unlock(key: int) -> str:
    return f"SELECT pg_catalog.pg_advisory_unlock({key});"


def release(conn: Conn, key: int) -> None:
    conn.execute("SELECT pg_catalog.pg_advisory_unlock(%s)", (key,))


def describe_holder(conn: Conn, key: int) -> str:
    """Who holds the lock (see holder), or that nobody does any more."""
    return holder(conn, key) or "a session that has since let go"


def holder(conn: Conn, key: int) -> str | None:
    """Who holds the lock, from pg_locks and pg_stat_activity (pid, application, client, since);
    None when nobody does. A read: status shows a run in progress with it."""
    classid, objid = (key >> 32) & 0xFFFFFFFF, key & 0xFFFFFFFF
    row = conn.execute(
        "SELECT a.pid, a.application_name, a.client_addr::text, a.backend_start, a.usename"
        " FROM pg_catalog.pg_locks l JOIN pg_catalog.pg_stat_activity a ON a.pid = l.pid"
        " WHERE l.locktype = 'advisory' AND l.granted AND l.classid = %s AND l.objid = %s"
        " AND l.objsubid = 1 AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())",
        (classid, objid),
    ).fetchone()
    if row is None:
        return None
    pid, app, addr, since, user = row
    since_text = since.isoformat(timespec="seconds") if isinstance(since, datetime) else str(since)
    return (
        f"pid {pid} (application_name {app or '-'!s}, user {user}, client {addr or 'local socket'}, "
        f"connected since {since_text})"
    )
