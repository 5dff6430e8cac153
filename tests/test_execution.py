"""Production-safe execution: no-transaction files, timeouts, lock retries, whole-run transactions, refusals."""

from __future__ import annotations

import json
import threading
import time

import psycopg
import pytest

from .support import Cli, Conn, Project, history, run_cli, tables

# The subset .ci/run also runs on PostgreSQL 16 and the machine's own PostgreSQL (`pytest -m smoke`).
pytestmark = pytest.mark.smoke


def states(db: Conn) -> list[tuple[object, ...]]:
    return db.execute("SELECT version, state, error FROM sqlmig_migrations ORDER BY version").fetchall()


def test_concurrent_index_migration_succeeds(cli: Cli, project: Project, db: Conn) -> None:
    project.add(1, "t", "CREATE TABLE t (id int, v int);\nINSERT INTO t SELECT g, g FROM generate_series(1, 100) g;\n")
    project.add(
        2,
        "idx",
        "-- add an index without blocking writes\n-- sqlmig:no-transaction\n"
        "CREATE INDEX CONCURRENTLY t_v_idx ON t (v);\n",
        "-- sqlmig:no-transaction\nDROP INDEX CONCURRENTLY t_v_idx;\n",
    )
    r = cli("migrate")
    assert r.exit_code == 0, r.stderr
    assert states(db) == [(1, "applied", None), (2, "applied", None)]
    assert db.execute("SELECT indisvalid FROM pg_index WHERE indexrelid = 't_v_idx'::regclass").fetchone() == (True,)
    assert cli("down").exit_code == 0
    assert db.execute("SELECT to_regclass('t_v_idx')").fetchone() == (None,)
    assert [v for v, _, _ in history(db)] == [1]


def test_failed_concurrent_index_leaves_failed_state_and_reports_invalid_index(
    cli: Cli, project: Project, db: Conn
) -> None:
    project.add(1, "t", "CREATE TABLE t (id int, v int);\nINSERT INTO t VALUES (1, 1), (2, 1);\n")
    project.add(
        2,
        "uniq",
        "-- sqlmig:no-transaction\nCREATE TABLE audit (id int);\nCREATE UNIQUE INDEX CONCURRENTLY t_v_key ON t (v);\n",
        "-- sqlmig:no-transaction\nDROP INDEX CONCURRENTLY IF EXISTS t_v_key;\nDROP TABLE audit;\n",
    )
    project.add(3, "later", "CREATE TABLE later (id int);\n")
    r = cli("migrate")
    assert r.exit_code == 1
    assert "sql/0002_uniq.up.sql:3:1" in r.stderr and "could not create unique index" in r.stderr
    assert "repair --resolve 2" in r.stderr
    rows = states(db)
    assert rows[1][:2] == (2, "failed") and "0002_uniq.up.sql:3:1" in str(rows[1][2])
    assert "later" not in tables(db)

    status = cli("status", "--json")
    doc = json.loads(status.stdout)
    assert [m["state"] for m in doc["migrations"]] == ["applied", "failed", "pending"]
    assert any("t_v_key" in w["where"] and "DROP INDEX CONCURRENTLY" in w["hint"] for w in doc["warnings"])
    plain = cli("status")
    assert "index public.t_v_key on t: is INVALID" in plain.stdout

    again = cli("migrate")
    assert again.exit_code == 3
    assert "failed part-way" in again.stderr and "repair --resolve 2" in again.stderr
    assert "later" not in tables(db)


def test_failure_on_first_statement_of_no_transaction_file_leaves_no_state(
    cli: Cli, project: Project, db: Conn
) -> None:
    project.add(1, "x", "-- sqlmig:no-transaction\nCREATE INDEX CONCURRENTLY i ON nosuch (id);\n")
    r = cli("migrate")
    assert r.exit_code == 1
    assert "sql/0001_x.up.sql:2:" in r.stderr
    assert states(db) == []  # nothing took effect: nothing to resolve


def test_unmarked_concurrently_refused_with_marker_hint(cli: Cli, project: Project, db: Conn) -> None:
    project.add(1, "t", "CREATE TABLE t (id int);\n")
    project.add(2, "idx", "SELECT 1;\n\nCREATE INDEX CONCURRENTLY i ON t (id);\n")
    project.add(3, "vac", "VACUUM t;\n")
    r = cli("migrate")
    assert r.exit_code == 3
    assert "sql/0002_idx.up.sql:3:1: CREATE INDEX CONCURRENTLY cannot run inside a transaction block" in r.stderr
    assert "sql/0003_vac.up.sql:1:1: VACUUM cannot run" in r.stderr
    assert "-- sqlmig:no-transaction" in r.stderr
    assert "t" not in tables(db)


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("SELECT 1;\n\\i other.sql\n", "0001_x.up.sql:2: psql meta-command \\i"),
        ("\\set ON_ERROR_STOP on\nSELECT 1;\n", "0001_x.up.sql:1: psql meta-command \\set"),
        ("\\connect other\n", "psql meta-command \\connect"),
        ("  \\copy t FROM 'x.csv'\n", "psql meta-command \\copy"),
        ("CREATE TABLE t (id int);\nCOPY t FROM stdin;\n1\n\\.\n", "0001_x.up.sql:2:1: COPY ... FROM STDIN"),
    ],
)
def test_meta_commands_and_copy_stdin_refused(cli: Cli, project: Project, db: Conn, text: str, needle: str) -> None:
    project.add(1, "x", text)
    r = cli("migrate")
    assert r.exit_code == 3
    assert needle in r.stderr
    assert tables(db) == set()  # refused before anything: not even the history table


def test_backslash_inside_string_is_not_a_meta_command(cli: Cli, project: Project, db: Conn) -> None:
    project.add(1, "x", "CREATE TABLE t (s text);\nINSERT INTO t VALUES ('\n\\i not a command');\n")
    assert cli("migrate").exit_code == 0


def hold_lock(url: str, table: str, ready: threading.Event, release: threading.Event) -> None:
    with psycopg.connect(url) as conn:
        conn.execute(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE")
        ready.set()
        release.wait(30)
        conn.rollback()


def test_lock_timeout_fails_then_lock_retries_succeed(cli: Cli, database_url: str, project: Project, db: Conn) -> None:
    project.add(1, "t", "CREATE TABLE busy (id int);\n")
    assert cli("migrate").exit_code == 0
    project.add(2, "alter", "SELECT 1;\nALTER TABLE busy ADD COLUMN v int;\n")
    ready, release = threading.Event(), threading.Event()
    holder = threading.Thread(target=hold_lock, args=(database_url, "busy", ready, release))
    holder.start()
    try:
        assert ready.wait(10)
        r = cli("migrate", "--lock-timeout", "200ms")
        assert r.exit_code == 1
        assert "lock timeout" in r.stderr and "55P03" in r.stderr
        assert "sql/0002_alter.up.sql:2:1" in r.stderr
        assert [v for v, _, _ in history(db)] == [1]
        threading.Timer(0.8, release.set).start()
        r = cli("migrate", "--lock-timeout", "200ms", "--lock-retries", "5")
        assert r.exit_code == 0, r.stderr
        assert "could not get a lock within lock_timeout (retry 1 of 5" in r.stdout
    finally:
        release.set()
        holder.join()
    assert [v for v, _, _ in history(db)] == [1, 2]


def test_file_directive_overrides_lock_timeout(cli: Cli, database_url: str, project: Project, db: Conn) -> None:
    project.add(1, "t", "CREATE TABLE busy (id int);\n")
    assert cli("migrate").exit_code == 0
    project.add(2, "alter", "-- sqlmig:lock_timeout=100ms\nALTER TABLE busy ADD COLUMN v int;\n")
    ready, release = threading.Event(), threading.Event()
    holder = threading.Thread(target=hold_lock, args=(database_url, "busy", ready, release))
    holder.start()
    try:
        assert ready.wait(10)
        r = run_cli("--database-url", database_url, "migrate", env={"SQLMIG_LOCK_TIMEOUT": "20s"})
        assert r.exit_code == 1 and "55P03" in r.stderr
    finally:
        release.set()
        holder.join()


def test_statement_timeout_names_the_slow_statement(cli: Cli, project: Project, db: Conn) -> None:
    project.add(1, "slow", "CREATE TABLE t (id int);\nSELECT 1;\nSELECT pg_sleep(5);\n")
    r = cli("migrate", "--statement-timeout", "300ms")
    assert r.exit_code == 1
    assert "canceling statement due to statement timeout" in r.stderr
    assert "sql/0001_slow.up.sql:3:1" in r.stderr
    assert tables(db) == {"sqlmig_migrations"}


def test_advisory_lock_wait_names_holder(database_url: str, project: Project, server_url: str) -> None:
    project.add(1, "t", "CREATE TABLE t (id int);\n")
    from sqlmig.db.lock import lock_key

    with psycopg.connect(database_url, autocommit=True, application_name="other-deployer") as other:
        other.execute("SELECT pg_advisory_lock(%s)", (lock_key("public", "sqlmig_migrations"),))
        pid = other.info.backend_pid
        started = time.monotonic()
        r = run_cli("--database-url", database_url, "migrate", "--lock-wait", "0.5")
        assert time.monotonic() - started < 20  # it gave up rather than waiting forever
    assert r.exit_code == 4
    assert "another sqlmig run holds the migration lock" in r.stderr
    assert f"pid {pid}" in r.stderr and "other-deployer" in r.stderr


def test_application_name_is_sqlmig(cli: Cli, project: Project, db: Conn) -> None:
    project.add(
        1, "t", "CREATE TABLE seen AS SELECT application_name FROM pg_stat_activity WHERE pid = pg_backend_pid();\n"
    )
    assert cli("migrate").exit_code == 0
    assert db.execute("SELECT application_name FROM seen").fetchone() == ("sqlmig",)


def test_single_transaction_all_or_nothing(cli: Cli, project: Project, db: Conn) -> None:
    project.add(1, "a", "CREATE TABLE a (id int);\n", "DROP TABLE a;\n")
    project.add(2, "b", "CREATE TABLE b (id int);\n", "DROP TABLE b;\n")
    project.add(3, "bad", "CREATE TABLE c (id int);\nSELECT 1/0;\n", "DROP TABLE c;\n")
    r = cli("migrate", "--single-transaction")
    assert r.exit_code == 1
    assert "sql/0003_bad.up.sql:2:1" in r.stderr
    assert tables(db) == {"sqlmig_migrations"}
    assert history(db) == []
    (project.sql / "0003_bad.up.sql").write_text("CREATE TABLE c (id int);\n")
    assert cli("migrate", "--single-transaction").exit_code == 0
    assert [v for v, _, _ in history(db)] == [1, 2, 3]
    (project.sql / "0001_a.down.sql").write_text("SELECT 1/0;\n")
    r = cli("down", "--all", "--single-transaction")
    assert r.exit_code == 1
    assert [v for v, _, _ in history(db)] == [1, 2, 3]
    assert {"a", "b", "c"} <= tables(db)


def test_single_transaction_refuses_no_transaction_files(cli: Cli, project: Project, db: Conn) -> None:
    project.add(1, "a", "CREATE TABLE a (id int);\n")
    project.add(2, "idx", "-- sqlmig:no-transaction\nCREATE INDEX CONCURRENTLY i ON a (id);\n")
    r = cli("migrate", "--single-transaction")
    assert r.exit_code == 3
    assert "0002_idx.up.sql: marked -- sqlmig:no-transaction" in r.stderr
    assert tables(db) == set()  # refused before anything: not even the history table


def test_bad_timeout_value_is_usage_error(cli: Cli, project: Project) -> None:
    project.add(1, "a", "SELECT 1;\n")
    r = cli("migrate", "--lock-timeout", "soon")
    assert r.exit_code == 2
    assert "invalid value 'soon' for lock_timeout" in r.stderr


def test_failed_state_then_repair_resolve_or_forget(cli: Cli, project: Project, db: Conn) -> None:
    project.add(1, "t", "CREATE TABLE t (id int, v int);\nINSERT INTO t VALUES (1, 1), (2, 1);\n", "DROP TABLE t;\n")
    project.add(
        2,
        "uniq",
        "-- sqlmig:no-transaction\nCREATE TABLE audit (id int);\nCREATE UNIQUE INDEX CONCURRENTLY t_v_key ON t (v);\n",
        "-- sqlmig:no-transaction\nDROP INDEX CONCURRENTLY IF EXISTS t_v_key;\nDROP TABLE audit;\n",
    )
    project.add(3, "later", "CREATE TABLE later (id int);\n", "DROP TABLE later;\n")
    assert cli("migrate").exit_code == 1
    # the operator finishes the migration by hand, then marks it applied
    db.execute("DROP INDEX t_v_key")
    db.execute("UPDATE t SET v = 2 WHERE id = 2")
    db.execute("CREATE UNIQUE INDEX t_v_key ON t (v)")
    r = cli("repair", "--resolve", "2")
    assert r.exit_code == 0, r.stderr
    assert states(db)[1] == (2, "applied", None)
    assert cli("migrate").exit_code == 0
    assert "later" in tables(db)

    # the other way out: undo the partial work, forget the row, and let migrate run it again
    assert cli("down", "--steps", "2").exit_code == 0
    db.execute("UPDATE t SET v = 1")
    assert cli("migrate").exit_code == 1
    assert states(db)[1][:2] == (2, "failed")
    db.execute("DROP INDEX t_v_key")
    db.execute("DROP TABLE audit")
    db.execute("UPDATE t SET v = id")
    r = cli("repair", "--forget", "2")
    assert r.exit_code == 0, r.stderr
    assert [v for v, _, _ in history(db)] == [1]
    assert cli("migrate").exit_code == 0
    assert [row[:2] for row in states(db)] == [(1, "applied"), (2, "applied"), (3, "applied")]


def test_copy_stdin_with_quotes_in_data_still_named(cli: Cli, project: Project) -> None:
    project.add(1, "x", "CREATE TABLE t (s text);\nCOPY t (s) FROM stdin;\nO'Brien\n\\.\nSELECT 1;\n")
    r = cli("migrate")
    assert r.exit_code == 3
    assert "0001_x.up.sql:2:1: COPY ... FROM STDIN" in r.stderr and "unterminated" not in r.stderr


def test_no_transaction_error_inside_a_multiline_statement_is_placed_in_the_file(
    cli: Cli, project: Project, db: Conn
) -> None:
    """Statement by statement, the server's position is inside one statement: it is shown at file:line:column."""
    project.add(
        1,
        "x",
        "-- sqlmig:no-transaction\nCREATE TABLE a (id int);\nSELECT id,\n       nosuch\nFROM a;\n",
        "-- sqlmig:no-transaction\nDROP TABLE a;\n",
    )
    r = cli("migrate")
    assert r.exit_code == 1
    assert "sql/0001_x.up.sql:4:8" in r.stderr
    assert 'column "nosuch" does not exist' in r.stderr
