"""Create and drop what lives beside databases on a server: whole databases (the pytest plugin's
template clones, the scratch databases of verify and drift) and the roles a scratch run made; never
used by a migration run."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

from ..config import scrub
from ..errors import SqlmigError
from .connect import connect


def database_url(server_url: str, dbname: str) -> str:
    """The same server and credentials, another database."""
    return make_conninfo(server_url, dbname=dbname)


def create_database(server_url: str, dbname: str, *, template: str | None = None) -> str:
    """CREATE DATABASE (optionally a copy of `template`, which must have no open connection); returns its URL."""
    statement = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname))
    if template is not None:
        statement = sql.SQL("{} TEMPLATE {}").format(statement, sql.Identifier(template))
    _admin(server_url, statement)
    return database_url(server_url, dbname)


def drop_database(server_url: str, dbname: str) -> None:
    """DROP DATABASE IF EXISTS ... WITH (FORCE): ends sessions a test left open."""
    _admin(server_url, sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(dbname)))


def seal(server_url: str, dbname: str) -> None:
    """No more connections to a template: a stray session would make CREATE DATABASE ... TEMPLATE fail."""
    _admin(server_url, sql.SQL("ALTER DATABASE {} WITH ALLOW_CONNECTIONS false").format(sql.Identifier(dbname)))


def drop_roles(server_url: str, names: Iterable[str]) -> None:
    """DROP ROLE each, as far as the server lets: one still used elsewhere is left alone."""
    if not names:
        return
    with connect(server_url) as conn:
        for name in sorted(names):
            with contextlib.suppress(psycopg.Error):
                conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(name)))


_NEEDS_CREATEDB = (
    "the role needs CREATEDB to create test or scratch databases; verify and drift can use another server"
    " (--scratch-url URL, or 'embedded')"
)


def _admin(server_url: str, statement: sql.Composed) -> None:
    """One statement on its own connection (connect() reports an unreachable server, password redacted)."""
    try:
        with connect(server_url) as conn:
            conn.execute(statement)
    except psycopg.Error as exc:
        raise SqlmigError(
            scrub(exc.diag.message_primary or str(exc), server_url),
            hint=_NEEDS_CREATEDB if exc.diag.sqlstate == "42501" else "",
        ) from None
