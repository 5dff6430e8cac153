"""Open connections (optionally waiting for the server), with errors that never show a password."""

from __future__ import annotations

import time

import psycopg

from ..config import redact_url, scrub
from ..errors import ConfigError, ConnectionFailed

APPLICATION_NAME = "sqlmig"


def connect(url: str, *, wait: float = 0.0, connect_timeout: int = 10) -> psycopg.Connection[tuple[object, ...]]:
    """An autocommit connection; transactions are opened explicitly around each migration."""
    deadline = time.monotonic() + wait
    while True:
        try:
            conn = psycopg.connect(
                url,
                autocommit=True,
                application_name=APPLICATION_NAME,
                connect_timeout=connect_timeout,
            )
            if conn.info.server_version >= 140000:
                # A killed sqlmig must not leave its backend running a long statement while it holds
                # the migration lock: the server checks the client is still there every second.
                conn.execute("SET client_connection_check_interval = '1s'")
            return conn
        except psycopg.ProgrammingError as exc:
            # libpq refuses the string itself: a malformed URL is a configuration error.
            raise ConfigError(
                f"invalid database URL {redact_url(url)!r}: {scrub(str(exc), url)}",
                hint="expected postgresql://user:password@host:port/dbname",
            ) from None
        except psycopg.OperationalError as exc:
            if time.monotonic() >= deadline:
                waited = f" (waited {wait:g}s)" if wait else ""
                raise ConnectionFailed(
                    f"cannot connect to {redact_url(url)}{waited}: {scrub(_first_line(exc), url)}",
                    hint="check that the server is up and the URL is right; --wait SECONDS retries",
                ) from None
            time.sleep(min(0.5, max(0.0, deadline - time.monotonic())))


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
