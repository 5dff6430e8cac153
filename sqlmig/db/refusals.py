"""What the server's refusals of sqlmig's own work mean to a user: one SqlmigError each.

Files' failures are placed in the file by execute.py; this is for everything else sqlmig asks of
the server itself (its history table, its lock, the checks before a run), where the same SQLSTATEs
come back for reasons a user can fix: a privilege, a read-only database, a server going away.
"""

from __future__ import annotations

import psycopg

from ..errors import ConnectionFailed, ServerRefused, SqlmigError, first_line

INSUFFICIENT_PRIVILEGE = "42501"
READ_ONLY = "25006"
# The server ended the connection: an administrator, a shutdown, a crash, a restart in progress.
_GONE = {"57P01", "57P02", "57P03", "57P04", "57P05"}

READ_ONLY_HINT = (
    "the database refuses writes: default_transaction_read_only is on for the database or the role "
    "(ALTER DATABASE ... SET default_transaction_read_only = off), or the server is a standby: "
    "migrate against the primary"
)


def server_refused(exc: psycopg.Error, doing: str, *, privilege_hint: str = "") -> SqlmigError:
    """The error to raise when the server refused `doing` ("cannot read the history table x")."""
    message = first_line(exc.diag.message_primary or str(exc), type(exc).__name__)
    state = exc.diag.sqlstate
    conn_gone = isinstance(exc, psycopg.OperationalError) and state in (None, *_GONE)
    if conn_gone or state in _GONE:
        return ConnectionFailed(
            f"{doing}: the connection was lost: {message}",
            hint="the server ended the session (an administrator, a restart or a shutdown); run again once it is up",
        )
    if state == READ_ONLY:
        return ServerRefused(f"{doing}: the database is read-only ({message})", hint=READ_ONLY_HINT)
    if state == INSUFFICIENT_PRIVILEGE:
        return ServerRefused(f"{doing}: {message}", hint=privilege_hint or "ask the database owner for the privilege")
    return ServerRefused(f"{doing}: {message}", hint=exc.diag.message_hint or "")
