"""The pytest plugin (entry point pytest11): a fresh database migrated to head for each test."""

from __future__ import annotations

import psycopg
import pytest

from sqlmig import Migrator

from .support import tables

COMMERCE = {"currency", "region", "product", "product_variant", "customer", "cart", "cart_item", "orders"}


def test_each_test_gets_this_repo_migrated_to_head(sqlmig_migrator: Migrator, sqlmig_database_url: str) -> None:
    """The fixture reads this repository's settings: sql/ at the rootdir, every migration applied."""
    status = sqlmig_migrator.status()
    assert status.is_head and len(status.entries) >= 5
    with psycopg.connect(sqlmig_database_url) as conn:
        assert tables(conn) >= COMMERCE


def test_example_migrations_round_trip_from_head(sqlmig_migrator: Migrator, sqlmig_database_url: str) -> None:
    reverted = sqlmig_migrator.down(all_applied=True).reverted
    assert [i.version for i in reverted] == sorted((i.version for i in reverted), reverse=True)
    with psycopg.connect(sqlmig_database_url) as conn:
        assert tables(conn) == {"sqlmig_migrations"}
    assert len(sqlmig_migrator.migrate().applied) == len(reverted)
    assert sqlmig_migrator.status().is_head


INNER_TESTS = """
from pathlib import Path

import psycopg


def count(url):
    with psycopg.connect(url, autocommit=True) as conn:
        n = conn.execute("SELECT count(*) FROM item").fetchone()[0]
        conn.execute("INSERT INTO item VALUES (1)")
        return n


def test_one(sqlmig_database_url):
    assert count(sqlmig_database_url) == 0


def test_two(sqlmig_database_url):
    assert count(sqlmig_database_url) == 0  # test_one's row is not here: each test has its own copy


def test_migrator(sqlmig_migrator, sqlmig_template):
    assert sqlmig_migrator.status().is_head
    Path("template-name.txt").write_text(sqlmig_template)
"""


@pytest.fixture
def other_project(pytester: pytest.Pytester, server_url: str, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """A project that uses sqlmig, tested with its own pytest run against this session's server."""
    monkeypatch.setenv("SQLMIG_TEST_DATABASE_URL", server_url)
    for var in ("SQLMIG_DATABASE_URL", "DATABASE_URL", "SQLMIG_DIR"):
        monkeypatch.delenv(var, raising=False)
    pytester.makefile(".toml", sqlmig='dirs = ["db/migrations"]\nhistory_table = "schema_history"\n')
    migrations = pytester.mkdir("db").joinpath("migrations")
    migrations.mkdir()
    (migrations / "0001_item.up.sql").write_text("CREATE TABLE item (id int);\n")
    (migrations / "0001_item.down.sql").write_text("DROP TABLE item;\n")
    pytester.makepyfile(test_items=INNER_TESTS)
    return pytester


def test_plugin_in_another_project(other_project: pytest.Pytester, server_url: str) -> None:
    result = other_project.runpytest_subprocess("-p", "no:cacheprovider", "-q")
    result.assert_outcomes(passed=3)
    template = (other_project.path / "template-name.txt").read_text()
    with psycopg.connect(server_url, autocommit=True) as admin:
        left = admin.execute("SELECT datname FROM pg_database WHERE datname = %s", (template,)).fetchall()
    assert left == []  # the template is dropped when the session ends


def test_plugin_reports_a_failing_migration(other_project: pytest.Pytester) -> None:
    migrations = other_project.path / "db" / "migrations"
    (migrations / "0002_bad.up.sql").write_text("SELECT 1;\nSELECT 1/0;\n")
    (migrations / "0002_bad.down.sql").write_text("")
    result = other_project.runpytest_subprocess("-p", "no:cacheprovider", "-q", "-k", "test_one")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            "*sqlmig could not migrate the test template database: migration failed: division by zero",
            "*at */db/migrations/0002_bad.up.sql:2:1",
            "*SQLSTATE 22012",
        ]
    )
    assert "Traceback" not in result.stdout.str()


def test_the_throwaway_server_runs_the_projects_embedded_version(
    other_project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without SQLMIG_TEST_DATABASE_URL the plugin starts a server of the version the project's
    settings name (embedded_version in sqlmig.toml), so its tests run on production's major."""
    monkeypatch.delenv("SQLMIG_TEST_DATABASE_URL")
    toml = other_project.path / "sqlmig.toml"
    toml.write_text(toml.read_text().rstrip("\n") + "\nembedded_version = 16\n")
    other_project.makepyfile(
        test_version="""
import psycopg


def test_version(sqlmig_database_url):
    with psycopg.connect(sqlmig_database_url) as conn:
        assert conn.info.server_version // 10000 == 16
"""
    )
    result = other_project.runpytest_subprocess("-p", "no:cacheprovider", "-q", "test_version.py")
    result.assert_outcomes(passed=1)
