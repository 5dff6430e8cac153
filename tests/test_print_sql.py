"""`migrate --print-sql`, `down --print-sql` and `migrate --dry-run --execute` on a real server.

The round trip is the contract: the printed script, run by psql on one database, leaves the schema
and the history exactly as sqlmig leaves them on another (applied_at, applied_by, execution_ms
and seq aside); printing writes nothing, and a rehearsal leaves nothing.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from sqlmig.db.snapshot import take
from sqlmig.snapshot import compare

from .support import Project, Result, fresh_database, run_cli, tables

pytestmark = pytest.mark.usefixtures("server_url")

HISTORY = "public.sqlmig_migrations"
PSQL = shutil.which("psql")
needs_psql = pytest.mark.skipif(PSQL is None, reason="psql is not installed")

# 0001: a lock_timeout marker, dollar-quoted bodies (one tagged $sqlmig$, the tag the history row's
# text would take), text psql reads apart from SQL (`:foo` in strings, comments and bodies, which
# psql -v foo=... must leave alone; `::` casts; an array slice `1: 2`), a backslash in an E'' string
# after `SET standard_conforming_strings = off` (the history row's text must not change meaning),
# and a last statement with no ';' whose line ends in a comment without a newline.
UP_1 = """-- sqlmig:lock_timeout=3s
CREATE TABLE users (id int PRIMARY KEY, email text NOT NULL DEFAULT 'x:foo', note text);
COMMENT ON TABLE users IS 'psql must not read :foo or :''foo'' here';
/* nor :foo in a block comment */
CREATE FUNCTION lower_email() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.email := lower(NEW.email);  -- :foo in a body
    RETURN NEW;
END
$$;
CREATE TRIGGER users_lower BEFORE INSERT ON users FOR EACH ROW EXECUTE FUNCTION lower_email();
CREATE FUNCTION tagged() RETURNS text LANGUAGE sql IMMUTABLE AS $sqlmig$ SELECT 'a $$ b'::text $sqlmig$;
SET standard_conforming_strings = off;
CREATE TABLE paths (p text DEFAULT E'C:\\\\temp\\\\:foo');
CREATE VIEW firsts AS SELECT (ARRAY[1, 2, 3])[1: 2] AS two  -- no ';' and no newline"""
DOWN_1 = "DROP VIEW firsts; DROP TABLE paths; DROP FUNCTION tagged(); DROP TABLE users; DROP FUNCTION lower_email();\n"
UP_2 = "-- sqlmig:no-transaction\nSELECT pg_sleep(0.05);\nCREATE INDEX CONCURRENTLY users_email ON users (email);\n"
DOWN_2 = "-- sqlmig:no-transaction\nDROP INDEX CONCURRENTLY users_email;\n"
# 0003 checks that sqlmig's lock is still held (by sqlmig's other connection, or by the script's
# session, after the session resets of the files before it).
UP_3 = """DO $$ BEGIN
    IF NOT EXISTS (SELECT FROM pg_locks WHERE locktype = 'advisory' AND granted) THEN
        RAISE EXCEPTION 'sqlmig''s lock is not held';
    END IF;
END $$;
INSERT INTO users VALUES (1, 'A@B', 'it''s');
ALTER TABLE users ADD COLUMN age int CHECK (age > 0);
"""
DOWN_3 = "ALTER TABLE users DROP COLUMN age;\nDELETE FROM users;\n"


@pytest.fixture
def other_url(server_url: str) -> Iterator[str]:
    """A second fresh database: psql runs the script on one, sqlmig runs on the other."""
    with fresh_database(server_url) as url:
        yield url


def psql(url: str, script: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """Run a script as README says, with psql variables set whose names the files use (`:foo`)."""
    assert PSQL is not None
    path = tmp_path / f"script-{uuid.uuid4().hex[:8]}.sql"
    path.write_text(script, encoding="utf-8")
    env = {**os.environ, "PGCLIENTENCODING": "UTF8"}
    args = [PSQL, "-X", "-v", "ON_ERROR_STOP=1", "-v", "foo=INTERPOLATED", "-d", url, "-f", str(path)]
    return subprocess.run(args, env=env, capture_output=True, text=True, timeout=60, check=False)


def sqlmig(url: str | None, *args: str) -> Result:
    return run_cli(*(("--database-url", url) if url else ()), *args)


def rows(url: str) -> list[tuple[object, ...]]:
    """The history as sqlmig wrote it, but for when, by whom, how long and seq."""
    with psycopg.connect(url) as conn:
        return conn.execute(
            "SELECT version, name, checksum, applied_sql, down_sql, down_checksum, state, error"
            f" FROM {HISTORY} ORDER BY version"
        ).fetchall()


def same_state(a: str, b: str) -> None:
    with psycopg.connect(a) as ca, psycopg.connect(b) as cb:
        exclude = [("public", "sqlmig_migrations")]
        assert compare(take(ca, exclude=exclude), take(cb, exclude=exclude)) == []
        data = "SELECT id, email, note FROM users ORDER BY id"
        if "users" in tables(ca):
            assert ca.execute(data).fetchall() == cb.execute(data).fetchall()
    assert rows(a) == rows(b)


def history_exists(url: str) -> bool:
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT to_regclass(%s) IS NOT NULL", (HISTORY,)).fetchone() == (True,)


@needs_psql
def test_printed_scripts_round_trip_through_psql(
    project: Project, database_url: str, other_url: str, tmp_path: Path
) -> None:
    """migrate --print-sql run by psql on one database, migrate on the other: the same schema, data
    and history; then down --print-sql and down the same way (the no-transaction down included)."""
    project.add(1, "users", UP_1, DOWN_1)
    project.add(2, "email_index", UP_2, DOWN_2)
    project.add(3, "age", UP_3, DOWN_3)
    timeouts = ("--statement-timeout", "1min")

    printed = sqlmig(database_url, "migrate", "--print-sql", *timeouts)
    assert (printed.exit_code, printed.stderr) == (0, ""), printed.stderr
    assert not history_exists(database_url) and tables_of(database_url) == set()  # printing wrote nothing
    ran = psql(database_url, printed.stdout, tmp_path)
    assert ran.returncode == 0, ran.stderr
    assert "INTERPOLATED" not in ran.stdout + ran.stderr
    applied = sqlmig(other_url, "migrate", *timeouts)
    assert applied.exit_code == 0, applied.stderr
    same_state(database_url, other_url)
    assert [r[0] for r in rows(database_url)] == [1, 2, 3]
    with psycopg.connect(database_url) as conn:  # the timings the script writes: the server's, under psql
        times = conn.execute(f"SELECT execution_ms FROM {HISTORY} ORDER BY version").fetchall()
    assert all(isinstance(t, int) and t >= 0 for (t,) in times), times
    assert times[1][0] >= 50, times  # the no-transaction file's own time, though its row is written apart
    assert sqlmig(database_url, "status", "--check").exit_code == 0

    again = sqlmig(database_url, "migrate", "--print-sql")  # nothing pending: the lock, and no file
    assert again.exit_code == 0 and "-- nothing to run" in again.stdout and "CREATE TABLE IF" not in again.stdout

    down = sqlmig(database_url, "down", "--print-sql", "--steps", "2", *timeouts)
    assert down.exit_code == 0, down.stderr
    assert "DROP INDEX CONCURRENTLY" in down.stdout and "DELETE FROM" in down.stdout
    ran = psql(database_url, down.stdout, tmp_path)
    assert ran.returncode == 0, ran.stderr
    reverted = sqlmig(other_url, "down", "--steps", "2", *timeouts)
    assert reverted.exit_code == 0, reverted.stderr
    same_state(database_url, other_url)
    assert [r[0] for r in rows(database_url)] == [1]


def tables_of(url: str) -> set[str]:
    with psycopg.connect(url) as conn:
        return tables(conn)


@needs_psql
def test_single_transaction_script_round_trips(
    project: Project, database_url: str, other_url: str, tmp_path: Path
) -> None:
    project.add(1, "users", UP_1, DOWN_1)
    project.add(3, "age", UP_3, DOWN_3)
    printed = sqlmig(database_url, "migrate", "--print-sql", "--single-transaction")
    assert printed.exit_code == 0, printed.stderr
    assert printed.stdout.count("\nBEGIN;") == 1 and printed.stdout.count("\nCOMMIT;") == 1
    ran = psql(database_url, printed.stdout, tmp_path)
    assert ran.returncode == 0, ran.stderr
    assert sqlmig(other_url, "migrate", "--single-transaction").exit_code == 0
    same_state(database_url, other_url)


@needs_psql
def test_from_empty_needs_no_database(project: Project, database_url: str, other_url: str, tmp_path: Path) -> None:
    """No URL at all: every migration, onto an empty database; the history table's creation included."""
    project.add(1, "users", UP_1, DOWN_1)
    project.add(2, "email_index", UP_2, DOWN_2)
    printed = sqlmig(None, "migrate", "--print-sql", "--from-empty")
    assert (printed.exit_code, printed.stderr) == (0, ""), printed.stderr
    assert "-- Database: from empty" in printed.stdout and "CREATE TABLE IF NOT EXISTS" in printed.stdout
    ran = psql(database_url, printed.stdout, tmp_path)
    assert ran.returncode == 0, ran.stderr
    assert sqlmig(other_url, "migrate").exit_code == 0
    same_state(database_url, other_url)


def test_down_print_sql_with_nothing_applied_creates_nothing(project: Project, database_url: str) -> None:
    project.add(1, "users", "CREATE TABLE users (id int);\n", "DROP TABLE users;\n")
    r = sqlmig(database_url, "down", "--print-sql")
    assert r.exit_code == 0, r.stderr
    assert "-- nothing to run" in r.stdout and "CREATE TABLE" not in r.stdout and "DROP TABLE" not in r.stdout
    assert not history_exists(database_url)


def test_print_sql_json_holds_the_script(project: Project, database_url: str) -> None:
    project.add(1, "users", "CREATE TABLE users (id int);\n", "DROP TABLE users;\n")
    r = sqlmig(database_url, "--json", "migrate", "--print-sql")
    assert r.exit_code == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["command"] == "migrate" and doc["from_empty"] is False
    assert [m["version"] for m in doc["migrations"]] == [1]
    assert "CREATE TABLE users (id int);" in doc["script"] and "pg_try_advisory_lock" in doc["script"]
    assert not history_exists(database_url)


def test_text_psql_would_interpolate_is_refused(project: Project, database_url: str) -> None:
    """`:name` outside quotes is a psql variable: refused before anything is printed, at file:line:col."""
    project.add(1, "slice", "CREATE TABLE t (a int[]);\nSELECT a[1:n] FROM t, (SELECT 2 AS n) s;\n")
    r = sqlmig(database_url, "migrate", "--print-sql")
    assert r.exit_code == 3, r.stderr
    assert r.stdout == ""
    assert "sql/0001_slice.up.sql:2:11" in r.stderr and ":n" in r.stderr and "space after the colon" in r.stderr
    assert "Traceback" not in r.stderr
    assert sqlmig(database_url, "migrate").exit_code == 0  # sqlmig itself runs it: only the script is refused


def test_usage_errors(project: Project, database_url: str) -> None:
    project.add(1, "a", "CREATE TABLE a (id int);\n")
    for args in (["--execute"], ["--from-empty"], ["--print-sql", "--dry-run"], ["--print-sql", "--execute"]):
        r = sqlmig(database_url, "migrate", *args)
        assert r.exit_code == 2, (args, r.stderr)
        assert " with --" in r.stderr and "hint:" in r.stderr and "Traceback" not in r.stderr
    assert tables_of(database_url) == set()


def catalog(url: str) -> tuple[object, ...]:
    with psycopg.connect(url) as conn:
        return (take(conn).objects, history_exists(url), tables(conn))


def test_dry_run_execute_places_a_failure_and_leaves_nothing(project: Project, database_url: str) -> None:
    project.add(1, "a", "CREATE TABLE a (id int);\nINSERT INTO a VALUES (1);\n")
    project.add(2, "b", "CREATE TABLE b (id int);\nSELECT 1 /\n  0;\n")
    project.add(3, "c", "CREATE TABLE c (id int);\n")
    before = catalog(database_url)
    r = sqlmig(database_url, "migrate", "--dry-run", "--execute")
    assert r.exit_code == 1, (r.stdout, r.stderr)
    assert "sql/0002_b.up.sql:2:" in r.stderr and "division by zero" in r.stderr
    assert "would apply 0001_a" in r.stdout and "rolled back" in r.stdout
    assert catalog(database_url) == before


def test_dry_run_execute_runs_nothing_from_a_no_transaction_file_on(project: Project, database_url: str) -> None:
    """The first pending file cannot run in the rehearsal's transaction: it, and every file after
    it (which may depend on it), is listed as not rehearsed, with the reason."""
    project.add(1, "a", "CREATE TABLE a (id int);\nINSERT INTO a VALUES (1);\n")
    project.add(2, "idx", "-- sqlmig:no-transaction\nCREATE INDEX CONCURRENTLY a_id ON a (id);\n")
    project.add(3, "c", "CREATE TABLE c (id int);\n")
    project.add(4, "d", "CREATE TABLE d (id int);\n")
    assert sqlmig(database_url, "migrate", "--to", "1").exit_code == 0
    before = catalog(database_url)
    history_before = rows(database_url)
    r = sqlmig(database_url, "--json", "migrate", "--dry-run", "--execute")
    assert r.exit_code == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["dry_run"] is True and doc["executed"] is True
    assert [(m["version"], m["duration_ms"] is not None) for m in doc["applied"]] == [
        (2, False),
        (3, False),
        (4, False),
    ]
    assert [n["version"] for n in doc["not_executed"]] == [2, 3, 4]
    assert "no-transaction" in doc["not_executed"][0]["reason"] and "0002_idx" in doc["not_executed"][1]["reason"]
    assert catalog(database_url) == before and rows(database_url) == history_before


def test_dry_run_execute_runs_every_transactional_file(project: Project, database_url: str) -> None:
    project.add(1, "a", "CREATE TABLE a (id int PRIMARY KEY);\nINSERT INTO a VALUES (1);\n")
    project.add(2, "b", "CREATE TABLE b (id int REFERENCES a);\n")
    project.add(3, "idx", "-- sqlmig:no-transaction\nCREATE INDEX CONCURRENTLY b_id ON b (id);\n")
    before = catalog(database_url)
    r = sqlmig(database_url, "--json", "migrate", "--dry-run", "--execute")
    assert r.exit_code == 0, r.stderr
    doc = json.loads(r.stdout)
    durations = [m["duration_ms"] for m in doc["applied"]]
    assert isinstance(durations[0], float) and isinstance(durations[1], float) and durations[2] is None
    assert [n["version"] for n in doc["not_executed"]] == [3]
    assert catalog(database_url) == before
    plain = sqlmig(database_url, "migrate", "--dry-run", "--execute")
    assert plain.exit_code == 0, plain.stderr
    assert "rehearsed 2 migrations" in plain.stdout and "not rehearsed 0003_idx" in plain.stdout
