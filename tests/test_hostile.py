"""Hostile and malformed input: each a clear message naming the location, a documented exit code, nothing written."""

from __future__ import annotations

import json
import os

import pytest

from .support import Cli, Conn, Project, Result, history, run_cli, tables

pytestmark = pytest.mark.reliability


def refused(r: Result, *needles: str) -> None:
    assert r.exit_code == 3, (r.stdout, r.stderr)
    for needle in needles:
        assert needle in r.stderr, r.stderr
    assert "Traceback" not in r.stderr + r.stdout


def test_binary_file(cli: Cli, project: Project, db: Conn) -> None:
    project.add(1, "ok", "CREATE TABLE ok (id int);\n")
    (project.sql / "0002_bin.up.sql").write_bytes(b"SELECT 1;\n\x89PNG\r\n\x1a\n\x00\x00\xff\xfe")
    (project.sql / "0002_bin.down.sql").write_text("")
    refused(cli("migrate"), "sql/0002_bin.up.sql:2: not valid UTF-8")
    assert tables(db) == set()


def test_nul_byte_in_utf8_file(cli: Cli, project: Project, db: Conn) -> None:
    project.add(1, "nul", "SELECT 1;\nSELECT 2;\x00\n")
    refused(cli("migrate"), "sql/0001_nul.up.sql:2: contains a NUL byte")
    assert tables(db) == set()


@pytest.mark.parametrize(
    "name",
    ["0001_with space.up.sql", "0001_ünïcode.up.sql", "0001_...up.sql", "0001_UPPER.up.sql", "01_a.b.up.sql"],
)
def test_bad_names(cli: Cli, project: Project, db: Conn, name: str) -> None:
    (project.sql / name).write_text("SELECT 1;\n")
    refused(cli("migrate"), f"{name}: not a migration file name")
    assert tables(db) == set()


def test_symlink_outside_directory(cli: Cli, project: Project, db: Conn) -> None:
    secret = project.root / "outside.sql"
    secret.write_text("DROP TABLE important;\n")
    (project.sql / "0001_x.up.sql").symlink_to(secret)
    (project.sql / "0001_x.down.sql").write_text("")
    refused(cli("migrate"), "0001_x.up.sql: symbolic link pointing outside the migration directory")
    assert tables(db) == set()


def test_symlink_inside_directory_is_fine(cli: Cli, project: Project, db: Conn) -> None:
    shared = project.sql / "shared"
    shared.mkdir()
    (shared / "body.sql").write_text("CREATE TABLE t (id int);\n")
    (project.sql / "0001_x.up.sql").symlink_to(shared / "body.sql")
    (project.sql / "0001_x.down.sql").write_text("DROP TABLE t;\n")
    assert cli("migrate").exit_code == 0


def test_version_overflowing_bigint(cli: Cli, project: Project, db: Conn) -> None:
    project.add("9223372036854775808", "too_big", "SELECT 1;\n")
    refused(cli("migrate"), "9223372036854775808_too_big.up.sql: version 9223372036854775808 does not fit a bigint")
    project2 = project.sql / "9223372036854775808_too_big.up.sql"
    project2.unlink()
    (project.sql / "9223372036854775808_too_big.down.sql").unlink()
    project.add("9223372036854775807", "max", "CREATE TABLE t (id int);\n")
    assert cli("migrate").exit_code == 0
    assert [v for v, _, _ in history(db)] == [9223372036854775807]


def test_fifty_megabyte_file(cli: Cli, project: Project, db: Conn) -> None:
    row = "(" + "'" + "x" * 90 + "'),\n"
    rows = row * (50_000_000 // len(row))
    project.add(1, "big", f"CREATE TABLE big (s text);\nINSERT INTO big VALUES\n{rows}('last');\n", "DROP TABLE big;\n")
    r = cli("migrate")
    assert r.exit_code == 0, r.stderr
    assert db.execute("SELECT count(*) FROM big").fetchone() == (rows.count("\n") + 1,)
    assert cli("down").exit_code == 0
    # the same size with an error on its last line: located without re-reading anything else
    lines = 2 + rows.count("\n")
    project.add(2, "big_bad", f"CREATE TABLE big2 (s text);\nINSERT INTO big2 VALUES\n{rows}('last');\nSELEC 1;\n")
    r = cli("migrate", "--to", "2")
    assert r.exit_code == 1
    assert f"sql/0002_big_bad.up.sql:{lines + 2}:1" in r.stderr


def test_thousands_of_files(cli: Cli, project: Project, db: Conn) -> None:
    n = 1500
    for i in range(1, n + 1):
        project.add(i, f"m{i}", f"CREATE TABLE m{i} (id int);\n" if i % 100 == 0 else "SELECT 1;\n", "")
    r = cli("migrate")
    assert r.exit_code == 0, r.stderr
    assert f"applied {n} migrations" in r.stdout
    doc = json.loads(cli("status", "--json").stdout)
    assert len(doc["migrations"]) == n and doc["at_head"]
    assert cli("down", "--to", "1000").exit_code == 0
    assert len(history(db)) == 1000


def test_empty_and_comment_only_files_are_no_ops(cli: Cli, project: Project, db: Conn) -> None:
    project.add(1, "empty", "", "")
    project.add(2, "comments", "-- nothing yet\n/* still nothing; */\n", "-- nothing to undo\n")
    project.add(3, "whitespace", "\n\n   \n", "")
    assert cli("migrate").exit_code == 0
    assert [v for v, _, _ in history(db)] == [1, 2, 3]
    assert cli("down", "--all").exit_code == 0
    assert history(db) == []


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://user:pw@localhost:notaport/db",
        "postgresql://user:pw@[::1/db",
        "not a url at all",
        "postgresql://user:pw@127.0.0.1:1/db?connect_timeout=2",
    ],
)
def test_bad_database_urls(project: Project, url: str) -> None:
    project.add(1, "x", "SELECT 1;\n")
    r = run_cli("--database-url", url, "status")
    assert r.exit_code in (2, 4), r.stderr
    assert "Traceback" not in r.stderr
    assert ":pw@" not in r.stderr + r.stdout
    assert r.stderr.startswith("error:")


def test_unreadable_history_table_name_is_quoted(project: Project, database_url: str, db: Conn) -> None:
    project.add(1, "x", "CREATE TABLE t (id int);\n")
    env = {"SQLMIG_HISTORY_TABLE": 'x"; DROP TABLE t; --'}
    assert run_cli("--database-url", database_url, "migrate", env=env).exit_code == 0
    assert "t" in tables(db)
    assert len(history(db, '"x""; DROP TABLE t; --"')) == 1


def test_directory_that_is_a_file(project: Project, database_url: str) -> None:
    f = project.root / "afile"
    f.write_text("")
    r = run_cli("--database-url", database_url, "--dir", str(f), "migrate")
    refused(r, "afile: not a directory")


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_unreadable_file(cli: Cli, project: Project) -> None:
    up, _ = project.add(1, "x", "SELECT 1;\n")
    up.chmod(0)
    refused(cli("migrate"), "0001_x.up.sql: cannot read")
