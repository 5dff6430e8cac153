"""Open connections (optionally waiting for the server), with errors that never show a password."""

from __future__ import annotations

import logging
import math
import re
import time
from collections.abc import Callable
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from ..config import redact_url, scrub, url_problem
from ..errors import ConfigError, ConnectionFailed, first_line

APPLICATION_NAME = "sqlmig"

# Every connection sqlmig opens (one alias for all of db/): rows come back as tuples of unknown
# values, so a reader must check what it takes; a query that wants typed records asks for them with
# a row factory (history reads build AppliedMigration with class_row).
Conn = psycopg.Connection[tuple[object, ...]]


# Told what a wait waits for: (text, again); again is False the first time, True for each reminder.
WaitHandler = Callable[[str, bool], None]


class WaitNotice:
    """Tells a waiter's `on_wait` what is awaited: at once, then again every `every` seconds (with
    the time waited so far), so a long wait shows it is alive without a line per retry."""

    def __init__(self, on_wait: WaitHandler | None, every: float = 5.0) -> None:
        self.on_wait = on_wait
        self.every = every
        self.started = time.monotonic()
        self.last: float | None = None

    def __call__(self, text: str | Callable[[], str]) -> None:
        """Tell `text` if it is time to (a callable is asked only then: it may cost a query)."""
        if self.on_wait is None:
            return
        now = time.monotonic()
        if self.last is not None and now - self.last < self.every:
            return
        said = text() if callable(text) else text
        if self.last is None:
            self.on_wait(said, False)
        else:
            self.on_wait(f"still {said} ({now - self.started:.0f}s so far)", True)
        self.last = now


log = logging.getLogger("sqlmig.sql")


class LoggingCursor(psycopg.Cursor[Any]):
    """Logs every batch sent to the server with its duration (`--verbose`, logger sqlmig.sql at DEBUG)."""

    def execute(
        self, query: Any, params: Any = None, *, prepare: bool | None = None, binary: bool | None = None
    ) -> Any:
        if not log.isEnabledFor(logging.DEBUG):
            return super().execute(query, params, prepare=prepare, binary=binary)
        started = time.perf_counter()
        outcome = "ok"
        try:
            return super().execute(query, params, prepare=prepare, binary=binary)
        except psycopg.Error as exc:
            outcome = f"error {exc.diag.sqlstate or type(exc).__name__}"
            raise
        finally:
            ms = (time.perf_counter() - started) * 1000
            text = query.as_string(self.connection) if isinstance(query, sql.Composable) else str(query)
            log.debug("%8.1f ms  %s  %s", ms, outcome, preview(text))


def preview(text: str, limit: int = 160) -> str:
    """One line of a batch for the log: whitespace collapsed, cut at `limit`, with its size."""
    flat = re.sub(r"\s+", " ", text[: limit * 16]).strip()  # never flatten a 50 MB batch to log 160 chars
    cut = flat if len(flat) <= limit else flat[: limit - 1] + "…"
    return f"{cut} [{len(text)} chars]" if len(flat) > limit else cut


# A killed sqlmig must not leave its backend running a long statement: the server checks every
# second that the client is still there (PostgreSQL 14 and later).
_CHECK_INTERVAL = "client_connection_check_interval"


def connect(
    url: str,
    *,
    wait: float | None = 0.0,
    connect_timeout: int = 10,
    read_only: bool = False,
    files_on: int | None = None,
    on_wait: WaitHandler | None = None,
) -> Conn:
    """An autocommit connection; transactions are opened explicitly around each migration.

    wait: seconds to retry an unreachable server; None retries as long as it takes.
    read_only: the server itself refuses writes on it (validate and diff change nothing).
    on_wait: told what is awaited when the server is not there yet (with `wait`), then every few
    seconds while it lasts: a wait that says nothing looks like a hang.
    files_on: the server version, for a connection that runs migration files. Its settings are
    then startup parameters, the values DISCARD ALL returns to, so each file finds them (the
    client check; the encoding is one for every connection).
    """
    problem = url_problem(url)  # Settings made by hand skip resolve(): libpq would quote the password
    if problem:
        raise ConfigError(f"invalid database URL {redact_url(url)!r}: {problem.what}", hint=problem.hint)
    # Text travels as UTF-8 whatever the database's encoding: the server converts it (and names a
    # character its encoding lacks), and an SQL_ASCII database gives back str, not bytes.
    startup: dict[str, Any] = {"client_encoding": "UTF8"}
    if files_on is not None and files_on >= 140000:
        given = conninfo_to_dict(url).get("options")
        startup["options"] = f"{given or ''} -c {_CHECK_INTERVAL}=1s".strip()
    deadline = math.inf if wait is None else time.monotonic() + wait
    told = WaitNotice(on_wait)
    while True:
        try:
            started = time.perf_counter()
            conn = psycopg.connect(
                url,
                autocommit=True,
                application_name=APPLICATION_NAME,
                connect_timeout=connect_timeout,
                cursor_factory=LoggingCursor,
                # Each query runs once per process: psycopg's bookkeeping for preparing repeated ones
                # (hashing every 1000-line migration) is pure cost here.
                prepare_threshold=None,
                **startup,
            )
            log.debug("%8.1f ms  connected to %s", (time.perf_counter() - started) * 1000, redact_url(url))
            if files_on is None and conn.info.server_version >= 140000:
                conn.execute(f"SET {_CHECK_INTERVAL} = '1s'")
            if read_only:
                conn.execute("SET default_transaction_read_only = on")
            return conn
        except psycopg.ProgrammingError as exc:
            # libpq refuses the string itself: a malformed URL is a configuration error.
            raise ConfigError(
                f"invalid database URL {redact_url(url)!r}: {scrub(str(exc), url)}",
                hint="expected postgresql://user:password@host:port/dbname",
            ) from None
        except UnicodeError as exc:
            # psycopg resolves host names in Python first; a name IDNA cannot encode (an empty or
            # over-long label, a soft hyphen) raises UnicodeError from the resolver, not a psycopg error.
            host = conninfo_to_dict(url).get("host") or ""
            raise ConfigError(
                f"invalid database URL {redact_url(url)!r}: the host name {scrub(repr(host), url)} "
                f"cannot be looked up ({scrub(str(exc), url)})",
                hint="check the host part of the URL (between '@' and ':port')",
            ) from None
        except psycopg.OperationalError as exc:
            reason = scrub(first_line(str(exc), type(exc).__name__), url)
            log.debug("cannot connect yet: %s", reason)
            if time.monotonic() >= deadline:
                waited = f" (waited {wait:g}s)" if wait else ""
                retry = "; --wait SECONDS retries" if not wait else ""
                raise ConnectionFailed(
                    f"cannot connect to {redact_url(url)}{waited}: {reason}",
                    hint=f"check that the server is up and the URL is right{retry}",
                ) from None
            limit = "as long as it takes" if wait is None else f"up to {wait:g}s"
            told(f"waiting for the database at {redact_url(url)} ({limit}): {reason}")
            time.sleep(min(0.5, max(0.0, deadline - time.monotonic())))


# PostgreSQL's server encodings that are not UTF-8, by the name Python's codecs know them by (the
# ones without a Python codec, EUC_TW and MULE_INTERNAL, are left to the server to refuse).
_CODECS = {
    **{f"LATIN{n}": f"iso8859_{iso}" for n, iso in enumerate((1, 2, 3, 4, 9, 10, 13, 14, 15, 16), start=1)},
    **{f"WIN{n}": f"cp{n}" for n in (866, 874, 1250, 1251, 1252, 1253, 1254, 1255, 1256, 1257, 1258)},
    **{f"ISO_8859_{n}": f"iso8859_{n}" for n in (5, 6, 7, 8)},
    "KOI8R": "koi8_r",
    "KOI8U": "koi8_u",
    "EUC_JP": "euc_jp",
    "EUC_CN": "gb2312",
    "EUC_KR": "euc_kr",
    "EUC_JIS_2004": "euc_jis_2004",
}


def narrow_encoding(conn: Conn) -> tuple[str, str] | None:
    """The database's encoding and its Python codec, when some characters have no place in it
    (None for UTF8, for SQL_ASCII, which stores bytes as they come, and for the unknown)."""
    encoding = conn.info.parameter_status("server_encoding") or ""
    codec = _CODECS.get(encoding)
    return (encoding, codec) if codec else None
