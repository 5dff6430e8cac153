"""Helpers shared by the tests (fixtures live in conftest.py)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple
from urllib.parse import quote

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo
from typer.testing import CliRunner

from sqlmig.cli import app
from sqlmig.db.connect import Conn as Conn  # the tests use the alias sqlmig's db/ uses

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Project:
    """A temporary project directory with a migration folder."""

    root: Path
    sql: Path

    def add(self, version: int | str, name: str, up: str, down: str = "") -> tuple[Path, Path]:
        stem = f"{version:04d}_{name}" if isinstance(version, int) else f"{version}_{name}"
        up_path = self.sql / f"{stem}.up.sql"
        down_path = self.sql / f"{stem}.down.sql"
        up_path.write_text(up, encoding="utf-8")
        down_path.write_text(down, encoding="utf-8")
        return up_path, down_path


@dataclass
class Result:
    exit_code: int
    stdout: str
    stderr: str
    pid: int | None = None  # of the process run_process ran (its scratch databases carry it)


@contextmanager
def fresh_database(server_url: str, template: str | None = None) -> Iterator[str]:
    """A new database on the test server (a copy of `template`, else empty), its URL; dropped after,
    whatever sessions are still on it."""
    name = "t_" + uuid.uuid4().hex[:16]
    copy = sql.SQL(" TEMPLATE {}").format(sql.Identifier(template)) if template else sql.SQL("")
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)) + copy)
    try:
        yield make_conninfo(server_url, dbname=name)
    finally:
        with psycopg.connect(server_url, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def git(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=False)


def two_branches(project: Project, base: str, names: tuple[str, str], *new_args: str, pause: float = 0) -> None:
    """A git repository whose `main` has one migration (`base`), and branches `one` and `two` that
    each add one with `sqlmig new [new_args] NAME`, committed; `two` is checked out, ready to merge
    `one`. `pause`: seconds between the branches (timestamp versions that differ)."""
    root = project.root
    for args in (("init", "-q", "-b", "main"), ("config", "user.email", "t@example.com"), ("config", "user.name", "t")):
        git(root, *args)
    assert run_cli("new", base).exit_code == 0
    git(root, "add", "-A")
    git(root, "commit", "-qm", base)
    for branch, name in zip(("one", "two"), names, strict=True):
        git(root, "checkout", "-q", "-b", branch, "main")
        assert run_cli("new", *new_args, name).exit_code == 0
        git(root, "add", "-A")
        git(root, "commit", "-qm", name)
        time.sleep(pause)


def run_cli(*args: str, env: dict[str, str] | None = None) -> Result:
    """Run the CLI in-process (Typer's CliRunner), stdout and stderr kept apart."""
    runner = CliRunner(env={"NO_COLOR": "1", "COLUMNS": "120", **(env or {})})
    result = runner.invoke(app, list(args), catch_exceptions=False)
    return Result(result.exit_code, result.stdout, result.stderr)


def run_process(*args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 60) -> Result:
    """Run `python -m sqlmig` as a real process."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("SQLMIG_") and k != "DATABASE_URL"}
    full_env.update({"NO_COLOR": "1", **(env or {})})
    with subprocess.Popen(
        [sys.executable, "-m", "sqlmig", *args],
        cwd=cwd,
        env=full_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as proc:
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    return Result(proc.returncode, out, err, proc.pid)


def tables(conn: Conn, schema: str = "public") -> set[str]:
    rows = conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = %s", (schema,)).fetchall()
    return {str(r[0]) for r in rows}


def history(conn: Conn, table: str = "public.sqlmig_migrations") -> list[tuple[object, ...]]:
    return conn.execute(f"SELECT version, name, checksum FROM {table} ORDER BY seq").fetchall()


# Examples each property test tried, for `make reliability` (one process: run without xdist).
CASES: dict[str, int] = {}


def count_case(test: str) -> None:
    CASES[test] = CASES.get(test, 0) + 1


# The `cli` fixture: runs `sqlmig ARGS...` in the test's project against its database.
Cli = Callable[..., Result]


def three(project: Project) -> None:
    """Three migrations, b referencing a: the history and integrity tests' common start."""
    project.add(1, "create_a", "CREATE TABLE a (id int PRIMARY KEY);\n", "DROP TABLE a;\n")
    project.add(2, "create_b", "CREATE TABLE b (id int REFERENCES a);\n", "DROP TABLE b;\n")
    project.add(3, "create_c", "CREATE TABLE c (id int);\n", "DROP TABLE c;\n")


# ---- a password that is present, and checked by the server (the `login` fixture, conftest.py) ----

PASSWORD = "S3cr/et#x?y@z"
# The password, its URL encoding, and the pieces a wrong split at '/', '#', '?' or '@' would leave.
SECRETS = (PASSWORD, quote(PASSWORD, safe=""), "S3cr", "et#x", "x?y")
GROUP = "sqlmig_password_login"  # pg_hba.conf checks the passwords of this role's members
HBA = f"local all +{GROUP} scram-sha-256\n"


class Login(NamedTuple):
    """The `login` fixture's role, whose password the server checks, and URLs for it in each form."""

    role: str
    host: str
    dbname: str

    def url(self, form: str, password: str = PASSWORD, dbname: str | None = None) -> str:
        db, host, secret = dbname or self.dbname, quote(self.host, safe=""), quote(password, safe="")
        return {
            "url": f"postgresql://{self.role}:{secret}@/{db}?host={host}",
            "query": f"postgresql:///{db}?host={host}&user={self.role}&password={secret}",
            "kv": make_conninfo("", host=self.host, dbname=db, user=self.role, password=password),
            "raw": f"postgresql://{self.role}:{password}@/{db}?host={host}",
        }[form]


def check_passwords_of_group(server_url: str) -> None:
    """The test server trusts every local connection; make it check the passwords of GROUP's members."""
    if os.environ.get("SQLMIG_TEST_DATABASE_URL"):
        pytest.skip("edits pg_hba.conf: only on a throwaway server")
    with psycopg.connect(server_url, autocommit=True) as admin:
        if admin.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (GROUP,)).fetchone() is None:
            admin.execute(sql.SQL("CREATE ROLE {} NOLOGIN").format(sql.Identifier(GROUP)))
        row = admin.execute("SHOW hba_file").fetchone()
        assert row is not None
        hba = Path(str(row[0]))
        text = hba.read_text()
        if HBA not in text:
            hba.write_text(HBA + text)  # first match wins: before the trust lines
            admin.execute("SELECT pg_reload_conf()")


def shows_no_secret(r: Result, *, verbose: bool = False) -> None:
    """No piece of the password anywhere; no traceback unless -v asked for one in the log."""
    out = r.stdout + r.stderr
    assert verbose or "Traceback" not in out
    for secret in SECRETS:
        assert secret not in out, (secret, out)


def scratch_databases(server_url: str, pid: int | None = None) -> set[str]:
    """The scratch databases of verify and drift on the server now: those of the process `pid`
    (this test's own process by default: tests that run at the same time make theirs too)."""
    with psycopg.connect(server_url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT datname FROM pg_database WHERE starts_with(datname, %s)",
            (f"sqlmig_scratch_{os.getpid() if pid is None else pid}_",),
        ).fetchall()
    return {str(r[0]) for r in rows}


def signalled(
    project: Project, server_url: str, args: list[str], sig: int, *, again_after: float | None = None
) -> tuple[int, str, set[str]]:
    """Run sqlmig ARGS as a process, send `sig` once its scratch database exists (and it is into
    the slow statement), and once more `again_after` seconds later if it still runs: exit code,
    stderr, scratch databases left behind (dropped here). SIGINT is set back to its default in the
    child: a shell's background job would otherwise start Python with SIGINT ignored."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SQLMIG_") and k != "DATABASE_URL"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "sqlmig", *args],
        cwd=project.root,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.monotonic() + 20
    while not scratch_databases(server_url, proc.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert scratch_databases(server_url, proc.pid), "no scratch database was created"
    time.sleep(0.7)  # into pg_sleep
    proc.send_signal(sig)
    if again_after is not None:
        time.sleep(again_after)
        if proc.poll() is None:
            proc.send_signal(sig)
    _, err = proc.communicate(timeout=30)
    left = scratch_databases(server_url, proc.pid)
    with psycopg.connect(server_url, autocommit=True) as conn:
        for name in left:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
    return proc.returncode, err, left
