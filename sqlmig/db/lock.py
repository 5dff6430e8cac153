"""sqlmig's advisory lock: one run at a time per history table, whoever else is migrating."""

from __future__ import annotations

import hashlib
from datetime import datetime

import psycopg
from psycopg import errors as pg_errors

from ..errors import LockTimeout

Conn = psycopg.Connection[tuple[object, ...]]


def lock_key(schema: str, table: str) -> int:
    """A stable signed 64-bit key derived from the history table's name."""
    digest = hashlib.blake2b(f"sqlmig:{schema}.{table}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def acquire(conn: Conn, key: int, wait: float | None) -> None:
    """Take the session-level lock; with `wait`, give up after that many seconds and name the holder."""
    if wait is None:
        conn.execute("SELECT pg_advisory_lock(%s)", (key,))
        return
    if conn.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone() == (True,):
        return
    try:
        conn.execute("SELECT set_config('lock_timeout', %s, false)", (f"{max(1, int(wait * 1000))}ms",))
        conn.execute("SELECT pg_advisory_lock(%s)", (key,))
    except pg_errors.LockNotAvailable:
        raise LockTimeout(
            f"another sqlmig run holds the migration lock; gave up after {wait:g}s",
            hint=f"held by {describe_holder(conn, key)}; wait for it to finish, or raise --lock-wait",
        ) from None
    finally:
        conn.execute("RESET lock_timeout")


def release(conn: Conn, key: int) -> None:
    conn.execute("SELECT pg_advisory_unlock(%s)", (key,))


def describe_holder(conn: Conn, key: int) -> str:
    """Who holds the lock, from pg_locks and pg_stat_activity (pid, application, client, since)."""
    classid, objid = (key >> 32) & 0xFFFFFFFF, key & 0xFFFFFFFF
    row = conn.execute(
        "SELECT a.pid, a.application_name, a.client_addr::text, a.backend_start, a.usename"
        " FROM pg_catalog.pg_locks l JOIN pg_catalog.pg_stat_activity a ON a.pid = l.pid"
        " WHERE l.locktype = 'advisory' AND l.granted AND l.classid = %s AND l.objid = %s"
        " AND l.objsubid = 1 AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())",
        (classid, objid),
    ).fetchone()
    if row is None:
        return "a session that has since let go"
    pid, app, addr, since, user = row
    since_text = since.isoformat(timespec="seconds") if isinstance(since, datetime) else str(since)
    return (
        f"pid {pid} (application_name {app or '-'!s}, user {user}, client {addr or 'local socket'}, "
        f"connected since {since_text})"
    )
