"""migrate / down / status / new against a real PostgreSQL, through the CLI and the library."""

from __future__ import annotations

import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from sqlmig import Migrator
from sqlmig.errors import MigrationFailed
from sqlmig.migrations import discover

from .support import Cli, Conn, Project, Result, history, run_cli, run_process, tables, three

# The subset .ci/run also runs on PostgreSQL 16 and the machine's own PostgreSQL (`pytest -m smoke`).
pytestmark = pytest.mark.smoke


def test_migrate_applies_in_order_and_records_history(cli: Cli, project: Project, db: Conn) -> None:
    three(project)
    r = cli("migrate")
    assert r.exit_code == 0, r.stderr
    assert "applied 0001_create_a" in r.stdout and "applied 3 migrations" in r.stdout
    assert tables(db) == {"a", "b", "c", "sqlmig_migrations"}
    rows = history(db)
    assert [(v, n) for v, n, _ in rows] == [(1, "create_a"), (2, "create_b"), (3, "create_c")]
    row = db.execute(
        "SELECT applied_by = current_user, execution_ms >= 0, applied_at <= now(), applied_sql"
        " FROM sqlmig_migrations WHERE version = 1"
    ).fetchone()
    assert row == (True, True, True, "CREATE TABLE a (id int PRIMARY KEY);\n")
    again = cli("migrate")
    assert again.exit_code == 0
    assert "nothing to apply" in again.stdout


def test_migrate_to_and_dry_run(cli: Cli, project: Project, db: Conn) -> None:
    three(project)
    dry = cli("migrate", "--dry-run")
    assert dry.exit_code == 0
    assert "would apply 0001_create_a" in dry.stdout and "would apply 0003_create_c" in dry.stdout
    assert tables(db) == set()  # dry-run creates nothing, not even the history table
    assert cli("migrate", "--to", "2").exit_code == 0
    assert tables(db) == {"a", "b", "sqlmig_migrations"}
    bad = cli("migrate", "--to", "7")
    assert bad.exit_code == 2 and "no migration with that version" in bad.stderr


def test_down_variants_follow_applied_order(cli: Cli, project: Project, db: Conn) -> None:
    three(project)
    assert cli("migrate").exit_code == 0
    r = cli("down")
    assert r.exit_code == 0 and "reverted 0003_create_c" in r.stdout
    assert tables(db) == {"a", "b", "sqlmig_migrations"}
    assert cli("migrate").exit_code == 0
    r = cli("down", "--steps", "2")
    assert r.exit_code == 0
    assert "reverted 0003_create_c" in r.stdout and "reverted 0002_create_b" in r.stdout
    assert [v for v, _, _ in history(db)] == [1]
    assert cli("migrate").exit_code == 0
    assert cli("revert", "--to", "1").exit_code == 0
    assert [v for v, _, _ in history(db)] == [1]
    r = cli("down", "--all")
    assert r.exit_code == 0
    assert tables(db) == {"sqlmig_migrations"}
    nothing = cli("down")
    assert nothing.exit_code == 0 and "nothing to revert" in nothing.stdout
    assert cli("down", "--steps", "1", "--all").exit_code == 2


def test_down_dry_run_changes_nothing(cli: Cli, project: Project, db: Conn) -> None:
    three(project)
    cli("migrate")
    r = cli("down", "--all", "--dry-run")
    assert r.exit_code == 0 and "would revert 0003_create_c" in r.stdout
    assert len(history(db)) == 3


def test_status_plain_and_json(cli: Cli, project: Project, db: Conn) -> None:
    three(project)
    before = cli("status", "--json")
    assert before.exit_code == 0
    assert tables(db) == set()  # status is read-only: no history table created
    cli("migrate", "--to", "1")
    plain = cli("status")
    assert plain.exit_code == 0
    lines = plain.stdout.splitlines()
    assert lines[0].split() == ["VERSION", "NAME", "STATE", "APPLIED", "AT"]
    assert lines[1].split()[:3] == ["1", "create_a", "applied"]
    assert lines[2].split() == ["2", "create_b", "pending"]
    assert "\x1b[" not in plain.stdout  # plain output when stdout is not a terminal
    doc = json.loads(cli("status", "--json").stdout)
    first = doc["migrations"][0]
    assert {k: first[k] for k in ("version", "name", "state")} == {"version": 1, "name": "create_a", "state": "applied"}
    assert first["applied_at"] and len(first["checksum"]) == 64
    assert [m["state"] for m in doc["migrations"]] == ["applied", "pending", "pending"]


def test_global_options_before_or_after_command(database_url: str, project: Project) -> None:
    three(project)
    after = run_cli("status", "--json", "--database-url", database_url)
    before = run_cli("--json", "--database-url", database_url, "status")
    assert after.exit_code == before.exit_code == 0
    assert json.loads(after.stdout) == json.loads(before.stdout)


def test_url_from_environment(database_url: str, project: Project) -> None:
    three(project)
    assert run_cli("status", env={"SQLMIG_DATABASE_URL": database_url}).exit_code == 0
    assert run_cli("status", env={"DATABASE_URL": database_url}).exit_code == 0


def test_no_url_is_exit_2_with_advice(project: Project) -> None:
    r = run_cli("status")
    assert r.exit_code == 2
    assert "no database URL" in r.stderr and "SQLMIG_DATABASE_URL" in r.stderr and "--database-url" in r.stderr
    assert "Traceback" not in r.stderr + r.stdout


def test_failure_mid_run_rolls_back_that_file_only(cli: Cli, project: Project, db: Conn) -> None:
    project.add(1, "ok", "CREATE TABLE ok (id int);\n", "DROP TABLE ok;\n")
    project.add(
        2,
        "broken",
        "CREATE TABLE half (id int);\nINSERT INTO half VALUES (1);\nSELECT 1/0;\nCREATE TABLE never (id int);\n",
        "DROP TABLE half;\n",
    )
    project.add(3, "later", "CREATE TABLE later (id int);\n", "DROP TABLE later;\n")
    r = cli("migrate")
    assert r.exit_code == 1
    assert "sql/0002_broken.up.sql:3:1" in r.stderr
    assert "division by zero" in r.stderr and "22012" in r.stderr
    assert "Traceback" not in r.stderr
    assert tables(db) == {"ok", "sqlmig_migrations"}
    assert [v for v, _, _ in history(db)] == [1]


def test_syntax_error_position_after_dollar_quotes_and_comments(cli: Cli, project: Project, db: Conn) -> None:
    up = (
        "-- a comment; with a semicolon\n"
        "CREATE FUNCTION f() RETURNS int LANGUAGE plpgsql AS $body$\n"
        "BEGIN\n"
        "  PERFORM 1; -- ; inside\n"
        "  RETURN 1;\n"
        "END;\n"
        "$body$;\n"
        "/* block ; comment\n"
        "   spanning lines */\n"
        "CREATE TABLE t (id int);\n"
        "SELEC oops FROM t;\n"
    )
    project.add(1, "syntax", up)
    r = cli("migrate")
    assert r.exit_code == 1
    assert "sql/0001_syntax.up.sql:11:1" in r.stderr
    assert "syntax error" in r.stderr
    assert tables(db) == {"sqlmig_migrations"}


def test_runtime_error_located_after_function_body(cli: Cli, project: Project, db: Conn) -> None:
    up = (
        "CREATE TABLE t (id int PRIMARY KEY);\n"
        "CREATE FUNCTION g() RETURNS int LANGUAGE plpgsql AS $$\n"
        "BEGIN RETURN 1; END;\n"
        "$$;\n"
        "INSERT INTO t VALUES (1);\n"
        "  INSERT INTO t VALUES (1);\n"
        "SELECT 2;\n"
    )
    project.add(1, "dup", up)
    r = cli("migrate")
    assert r.exit_code == 1
    assert "sql/0001_dup.up.sql:6:3" in r.stderr
    assert "duplicate key" in r.stderr and "DETAIL" in r.stderr
    assert tables(db) == {"sqlmig_migrations"}


def test_unknown_table_error_points_at_line_and_column(cli: Cli, project: Project) -> None:
    project.add(1, "x", "SELECT 1;\n\nSELECT * FROM   nosuch;\n")
    r = cli("migrate")
    assert r.exit_code == 1
    assert "sql/0001_x.up.sql:3:17" in r.stderr
    assert 'relation "nosuch" does not exist' in r.stderr


def test_last_statement_without_semicolon_and_trailing_comment(cli: Cli, project: Project, db: Conn) -> None:
    project.add(1, "x", "CREATE TABLE t (id int) -- no semicolon, comment at end")
    project.add(2, "empty", "-- nothing to do\n", "")
    r = cli("migrate")
    assert r.exit_code == 0, r.stderr
    assert "t" in tables(db)
    assert [v for v, _, _ in history(db)] == [1, 2]
    assert cli("down", "--all").exit_code == 0


def test_transaction_control_in_file_is_refused(cli: Cli, project: Project, db: Conn) -> None:
    project.add(1, "x", "CREATE TABLE t (id int);\nCOMMIT;\n")
    r = cli("migrate")
    assert r.exit_code == 3
    assert "sql/0001_x.up.sql:2:1" in r.stderr and "transaction control" in r.stderr
    assert tables(db) == set()  # refused before anything: not even the history table


def test_unterminated_quote_refused_before_running(cli: Cli, project: Project, db: Conn) -> None:
    project.add(1, "ok", "CREATE TABLE ok (id int);\n")
    project.add(2, "x", "SELECT 1;\nSELECT 'never closed;\n")
    r = cli("migrate")
    assert r.exit_code == 3
    assert "sql/0002_x.up.sql:2:8" in r.stderr and "unterminated" in r.stderr
    assert "ok" not in tables(db)


def test_discovery_problems_exit_3_and_nothing_runs(cli: Cli, project: Project, db: Conn) -> None:
    project.add(1, "ok", "CREATE TABLE ok (id int);\n")
    (project.sql / "0002_lonely.up.sql").write_text("SELECT 1;\n")
    r = cli("migrate")
    assert r.exit_code == 3
    assert "0002_lonely.up.sql: has no down file" in r.stderr
    assert tables(db) == set()


def test_new_creates_next_pair(cli: Cli, project: Project) -> None:
    r = cli("new", "create_things")
    assert r.exit_code == 0
    assert (project.sql / "0001_create_things.up.sql").is_file()
    assert (project.sql / "0001_create_things.down.sql").is_file()
    assert "created sql/0001_create_things.up.sql" in r.stdout
    project.add("000041", "wide", "SELECT 1;\n")
    assert cli("new", "next_one").exit_code == 0
    assert (project.sql / "000042_next_one.up.sql").is_file()
    bad = cli("new", "Bad Name")
    assert bad.exit_code == 2 and "invalid migration name" in bad.stderr


def test_new_creates_missing_directory(project: Project) -> None:
    r = run_cli("--dir", "migrations", "new", "first")
    assert r.exit_code == 0, r.stderr
    assert (project.root / "migrations" / "0001_first.up.sql").is_file()


def test_password_never_printed(project: Project) -> None:
    three(project)
    url = "postgresql://alice:s3cr3t-pw@127.0.0.1:1/db?connect_timeout=2"
    r = run_cli("--database-url", url, "migrate")
    assert r.exit_code == 4
    assert "s3cr3t-pw" not in r.stdout + r.stderr
    assert "alice:***@127.0.0.1" in r.stderr
    j = run_cli("--database-url", url, "--json", "status")
    assert j.exit_code == 4 and "s3cr3t-pw" not in j.stdout + j.stderr
    assert json.loads(j.stdout)["exit_code"] == 4


def test_malformed_url_is_usage_error(project: Project) -> None:
    r = run_cli("--database-url", "host=x bogus_option=1 password=hunter2", "status")
    assert r.exit_code == 2
    assert "hunter2" not in r.stderr + r.stdout


def test_library_api(database_url: str, project: Project) -> None:
    three(project)
    events: list[str] = []
    m = Migrator(database_url, dirs=[project.sql], on_event=lambda e: events.append(type(e).__name__))
    result = m.migrate(to=2)
    assert [i.version for i in result.applied] == [1, 2]
    assert events[0] == "RunStarted" and events.count("MigrationDone") == 2
    assert [e.state for e in m.status().entries] == ["applied", "applied", "pending"]
    assert [i.version for i in m.down(all_applied=True).reverted] == [2, 1]
    project.add(4, "bad", "SELECT 1/0;\n")
    with pytest.raises(MigrationFailed) as info:
        m.migrate()
    assert info.value.line == 1 and info.value.sqlstate == "22012" and info.value.stayed == (1, 2, 3)


def test_history_upgraded_in_place_from_first_version(cli: Cli, project: Project, db: Conn) -> None:
    """A table created by the first sqlmig (no applied_sql/state/error) keeps working."""
    three(project)
    db.execute(
        "CREATE TABLE sqlmig_migrations (version bigint PRIMARY KEY, name text NOT NULL, checksum text NOT NULL,"
        " applied_at timestamptz NOT NULL DEFAULT now(), applied_by text NOT NULL DEFAULT current_user,"
        " execution_ms integer, seq bigint GENERATED ALWAYS AS IDENTITY)"
    )
    db.execute("CREATE TABLE a (id int PRIMARY KEY)")
    first = discover([project.sql])[0]
    db.execute("INSERT INTO sqlmig_migrations (version, name, checksum) VALUES (1, 'create_a', %s)", (first.checksum,))
    status = cli("status", "--json")
    assert status.exit_code == 0
    assert [m["state"] for m in json.loads(status.stdout)["migrations"]] == ["applied", "pending", "pending"]
    assert cli("migrate").exit_code == 0
    assert cli("migrate").exit_code == 0  # idempotent upgrade
    cols = {
        r[0]
        for r in db.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'sqlmig_migrations'"
        ).fetchall()
    }
    assert {"applied_sql", "state", "error", "seq"} <= cols
    assert [v for v, _, _ in history(db)] == [1, 2, 3]


def test_custom_history_table(database_url: str, project: Project, db: Conn) -> None:
    three(project)
    env = {"SQLMIG_HISTORY_SCHEMA": "Meta Data", "SQLMIG_HISTORY_TABLE": 'odd"name'}
    r = run_cli("--database-url", database_url, "migrate", env=env)
    assert r.exit_code == 0, r.stderr
    assert len(history(db, '"Meta Data"."odd""name"')) == 3


def test_parallel_migrate_processes(database_url: str, project: Project, db: Conn) -> None:
    for i in range(1, 7):
        project.add(i, f"m{i}", f"CREATE TABLE t{i} (id int);\nSELECT pg_sleep(0.05);\n", f"DROP TABLE t{i};\n")

    def one(_: int) -> Result:
        return run_process("--database-url", database_url, "migrate", cwd=project.root)

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(one, range(8)))
    assert [r.exit_code for r in results] == [0] * 8, [r.stderr for r in results]
    assert [v for v, _, _ in history(db)] == [1, 2, 3, 4, 5, 6]
    applied_lines = sum(r.stdout.count("applied 00") for r in results)
    assert applied_lines == 6  # each migration applied by exactly one process


def test_python_dash_m_and_version(project: Project) -> None:
    r = subprocess.run([sys.executable, "-m", "sqlmig", "--version"], capture_output=True, text=True, check=False)
    assert r.returncode == 0 and r.stdout.startswith("sqlmig ")


def test_example_sql_directory_round_trips(database_url: str, db: Conn) -> None:
    root = Path(__file__).resolve().parent.parent
    m = Migrator(database_url, dirs=[root / "sql"])
    assert len(m.migrate().applied) >= 5
    assert {"currency", "region", "product", "product_variant", "customer", "cart", "cart_item", "orders"} <= tables(db)
    m.down(all_applied=True)
    assert tables(db) == {"sqlmig_migrations"}
    leftovers = db.execute(
        "SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'public'"
    ).fetchone()
    assert leftovers == (0,)
