"""Reverting after a code rollback: the down SQL recorded at apply time (`down --use-recorded`),
every path that records a row, an older history table upgraded in place, and edited down files."""

from __future__ import annotations

import json

import pytest
from psycopg import sql

from sqlmig.db.history import AppliedRow, History, insert_row
from sqlmig.db.snapshot import take
from sqlmig.migrations import checksum
from sqlmig.snapshot import Snapshot

from .support import Cli, Conn, Project, history, tables, three

HISTORY = "public.sqlmig_migrations"

# The history table as the sqlmig before recorded downs created it (applied SQL, state, error).
OLD_TABLE = (
    "CREATE TABLE sqlmig_migrations (version bigint PRIMARY KEY, name text NOT NULL, checksum text NOT NULL,"
    " applied_at timestamptz NOT NULL DEFAULT now(), applied_by text NOT NULL DEFAULT current_user,"
    " execution_ms integer, seq bigint GENERATED ALWAYS AS IDENTITY, applied_sql text,"
    " state text NOT NULL DEFAULT 'applied', error text)"
)

UP3 = "ALTER TABLE a ADD COLUMN note text;\nCREATE TABLE c (id int REFERENCES a);\nCREATE INDEX c_id ON c (id);\n"
DOWN3 = "DROP TABLE c;\nALTER TABLE a DROP COLUMN note;\n"


def schema(db: Conn) -> Snapshot:
    return take(db, exclude=[("public", "sqlmig_migrations")])


def downs(db: Conn) -> list[tuple[object, ...]]:
    return db.execute("SELECT version, down_sql, down_checksum FROM sqlmig_migrations ORDER BY version").fetchall()


def rollback_project(project: Project) -> None:
    project.add(1, "create_a", "CREATE TABLE a (id int PRIMARY KEY);\n", "DROP TABLE a;\n")
    project.add(2, "create_b", "CREATE TABLE b (id int REFERENCES a);\n", "DROP TABLE b;\n")
    project.add(3, "add_c", UP3, DOWN3)


def remove(project: Project, stem: str) -> None:
    (project.sql / f"{stem}.up.sql").unlink()
    (project.sql / f"{stem}.down.sql").unlink()


# ---- the rollback ------------------------------------------------------------------------------


def test_rollback_reverts_a_missing_migration_with_its_recorded_down(cli: Cli, project: Project, db: Conn) -> None:
    rollback_project(project)
    assert cli("migrate", "--to", "2").exit_code == 0
    before = schema(db)
    assert cli("migrate").exit_code == 0
    assert downs(db)[2] == (3, DOWN3, checksum(DOWN3))
    remove(project, "0003_add_c")  # the application went back to the release before 3

    dry = cli("down", "--use-recorded", "--dry-run")
    assert dry.exit_code == 0, dry.stderr
    assert "would revert 3_add_c (3_add_c (recorded down))" in dry.stdout
    assert "3_add_c: its files are gone; reverting it with the down SQL recorded at 20" in dry.stderr
    assert [v for v, *_ in history(db)] == [1, 2, 3]

    r = cli("down", "--use-recorded")
    assert r.exit_code == 0, r.stderr
    assert "3_add_c: its files are gone; reverting it with the down SQL recorded at 20" in r.stderr
    assert "reverted 3_add_c" in r.stdout
    assert [v for v, *_ in history(db)] == [1, 2]
    assert schema(db) == before
    assert cli("status").exit_code == 0  # at head again: the files and the history agree


def test_missing_migration_refused_without_the_flag_names_the_command(cli: Cli, project: Project, db: Conn) -> None:
    rollback_project(project)
    assert cli("migrate").exit_code == 0
    remove(project, "0003_add_c")
    before = schema(db)
    for args in (("down",), ("down", "--steps", "1")):
        r = cli(*args)
        assert r.exit_code == 3
        assert "applied migration 3_add_c has no files on disk" in r.stderr
        assert "its down SQL was recorded when it was applied" in r.stderr
        assert f"`sqlmig {' '.join(args)} --use-recorded`" in r.stderr
        assert "Traceback" not in r.stderr
    m = cli("migrate")
    assert m.exit_code == 3 and "`sqlmig down --use-recorded --to 2`" in m.stderr
    assert schema(db) == before and [v for v, *_ in history(db)] == [1, 2, 3]
    doc = json.loads(cli("status", "--json").stdout)
    missing = doc["migrations"][2]
    assert missing["state"] == "missing" and missing["down_checksum"] == checksum(DOWN3)
    assert missing["down_file_checksum"] is None and missing["down_change"] is None


# ---- an older history table --------------------------------------------------------------------


def test_old_history_table_upgraded_rows_without_a_down_are_refused(cli: Cli, project: Project, db: Conn) -> None:
    three(project)
    db.execute(OLD_TABLE)
    db.execute("CREATE TABLE a (id int PRIMARY KEY); CREATE TABLE b (id int REFERENCES a)")
    for v, name, up in ((1, "create_a", "CREATE TABLE a (id int PRIMARY KEY);\n"),
                        (2, "create_b", "CREATE TABLE b (id int REFERENCES a);\n")):  # fmt: skip
        db.execute(
            "INSERT INTO sqlmig_migrations (version, name, checksum, applied_sql) VALUES (%s, %s, %s, %s)",
            (v, name, checksum(up), up),
        )
    s = cli("status", "--json")  # read-only on the old table: no column is needed, none is added
    assert s.exit_code == 0, s.stderr
    assert [m["down_checksum"] for m in json.loads(s.stdout)["migrations"]] == [None, None, None]
    assert cli("migrate").exit_code == 0  # upgrades the table in place, then records 3's down
    assert downs(db) == [(1, None, None), (2, None, None), (3, "DROP TABLE c;\n", checksum("DROP TABLE c;\n"))]
    assert cli("migrate").exit_code == 0  # idempotent
    remove(project, "0002_create_b")
    remove(project, "0003_create_c")
    r = cli("down", "--use-recorded", "--to", "1")
    assert r.exit_code == 3
    assert "applied migration 2_create_b has no files on disk, and its history row holds no down SQL" in r.stderr
    assert "restore its files" in r.stderr and "repair --forget 2" in r.stderr
    assert "2_create_b: its files are gone" not in r.stderr
    assert [v for v, *_ in history(db)] == [1, 2, 3] and tables(db) == {"a", "b", "c", "sqlmig_migrations"}
    plain = cli("down", "--to", "1")  # without the flag: offered for 3 only; the command as given would not do
    assert plain.exit_code == 3 and "2_create_b has no files on disk, and its history row holds no" in plain.stderr
    assert "3_create_c has no files on disk; its down SQL was recorded" in plain.stderr
    assert "`sqlmig down --to 1 --use-recorded`" not in plain.stderr


# ---- every path that records a row ---------------------------------------------------------------


def test_every_applied_row_records_its_down(cli: Cli, project: Project, db: Conn) -> None:
    no_tx_down = "-- sqlmig:no-transaction\nDROP INDEX CONCURRENTLY a_id;\n"
    project.add(1, "create_a", "CREATE TABLE a (id int);\n", "DROP TABLE a;\n")
    project.add(2, "idx", "-- sqlmig:no-transaction\nCREATE INDEX CONCURRENTLY a_id ON a (id);\n", no_tx_down)
    project.add(3, "create_b", "CREATE TABLE b (id int);\n", "DROP TABLE b;\n")
    assert cli("migrate", "--to", "2").exit_code == 0
    assert cli("migrate", "--single-transaction").exit_code == 0
    expected = [(1, "DROP TABLE a;\n"), (2, no_tx_down), (3, "DROP TABLE b;\n")]
    assert downs(db) == [(v, d, checksum(d)) for v, d in expected]


def test_baseline_accept_and_resolve_record_the_down(cli: Cli, project: Project, db: Conn) -> None:
    three(project)
    db.execute("CREATE TABLE a (id int PRIMARY KEY)")
    assert cli("baseline", "1").exit_code == 0
    assert downs(db) == [(1, "DROP TABLE a;\n", checksum("DROP TABLE a;\n"))]
    project.add(1, "create_a", "CREATE TABLE a (id int PRIMARY KEY); -- edited\nSELECT 1;\n", "DROP TABLE a; -- new\n")
    assert cli("repair", "--accept", "1").exit_code == 0
    assert downs(db) == [(1, "DROP TABLE a; -- new\n", checksum("DROP TABLE a; -- new\n"))]
    project.add(2, "create_b", "-- sqlmig:no-transaction\nCREATE TABLE b (id int);\nSELECT 1/0;\n", "DROP TABLE b;\n")
    assert cli("migrate", "--to", "2").exit_code == 1
    assert db.execute("SELECT state FROM sqlmig_migrations WHERE version = 2").fetchone() == ("failed",)
    assert cli("repair", "--resolve", "2").exit_code == 0
    assert downs(db)[1] == (2, "DROP TABLE b;\n", checksum("DROP TABLE b;\n"))


# ---- a recorded down runs as its file would --------------------------------------------------------


def test_recorded_no_transaction_down(cli: Cli, project: Project, db: Conn) -> None:
    project.add(1, "create_a", "CREATE TABLE a (id int);\n", "DROP TABLE a;\n")
    project.add(
        2,
        "idx",
        "-- sqlmig:no-transaction\nCREATE INDEX CONCURRENTLY a_id ON a (id);\n",
        "-- sqlmig:no-transaction\nDROP INDEX CONCURRENTLY a_id;\n",  # refused inside a transaction block
    )
    assert cli("migrate").exit_code == 0
    remove(project, "0002_idx")
    r = cli("down", "--use-recorded")
    assert r.exit_code == 0, r.stderr
    assert db.execute("SELECT to_regclass('a_id')").fetchone() == (None,)
    assert [v for v, *_ in history(db)] == [1]


def test_failed_recorded_down_rolled_back_and_placed(cli: Cli, project: Project, db: Conn) -> None:
    """Fault: a recorded down that fails leaves the history and the catalog agreeing."""
    project.add(1, "create_a", "CREATE TABLE a (id int);\n", "DROP TABLE a;\n")
    project.add(2, "create_c", "CREATE TABLE c (id int);\n", "DROP TABLE c;\nSELECT   nope;\n")
    assert cli("migrate").exit_code == 0
    remove(project, "0002_create_c")
    r = cli("down", "--use-recorded")
    assert r.exit_code == 1
    assert "error: migration failed (down) 2_create_c (recorded down):2:10:" in r.stderr
    assert 'column "nope" does not exist' in r.stderr
    assert "the revert was rolled back" in r.stderr and "Traceback" not in r.stderr
    assert [v for v, *_ in history(db)] == [1, 2] and "c" in tables(db)  # still applied, still there


def test_failed_recorded_no_transaction_down_marks_failed(cli: Cli, project: Project, db: Conn) -> None:
    """Fault: part of a no-transaction recorded down took effect: the history says failed, and why."""
    project.add(1, "create_a", "CREATE TABLE a (id int);\n", "DROP TABLE a;\n")
    project.add(2, "two", "CREATE TABLE c (id int);\n", "-- sqlmig:no-transaction\nDROP TABLE c;\nDROP TABLE nope;\n")
    assert cli("migrate").exit_code == 0
    remove(project, "0002_two")
    r = cli("down", "--use-recorded")
    assert r.exit_code == 1 and "2_two (recorded down):3:1" in r.stderr
    assert "c" not in tables(db)
    state, error = db.execute("SELECT state, error FROM sqlmig_migrations WHERE version = 2").fetchone() or ("", "")
    assert state == "failed" and "2_two (recorded down):3:1" in str(error)


# ---- an edited down file -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("edited", "change"),
    [("-- reverts c\nDROP   TABLE c;\n", "cosmetic"), ("DROP TABLE c CASCADE;\n", "modified")],
)
def test_edited_down_file_is_a_warning(cli: Cli, project: Project, db: Conn, edited: str, change: str) -> None:
    three(project)
    assert cli("migrate").exit_code == 0
    (project.sql / "0003_create_c.down.sql").write_text(edited, encoding="utf-8")
    s = cli("status")
    assert s.exit_code == 0, s.stderr  # the up is what matters: at head
    said = "changed only in whitespace or comments" if change == "cosmetic" else "was edited after its up was applied"
    assert f"sql/0003_create_c.down.sql: the down file of migration 3 {said}" in s.stdout
    assert "create_c  applied    20" in s.stdout and f"down-edit ({change})" in s.stdout  # the row is marked
    doc = json.loads(cli("status", "--json").stdout)
    entry = doc["migrations"][2]
    assert entry["state"] == "applied" and entry["down_change"] == change
    assert entry["down_checksum"] == checksum("DROP TABLE c;\n") and entry["down_file_checksum"] == checksum(edited)
    assert doc["migrations"][1]["down_change"] is None
    v = cli("validate")
    assert v.exit_code == 0 and f"warning: sql/0003_create_c.down.sql: the down file of migration 3 {said}" in v.stdout
    assert cli("migrate").exit_code == 0 and cli("down").exit_code == 0  # neither refuses
    assert "c" not in tables(db)


def test_accepting_an_edited_down_file_records_it(cli: Cli, project: Project, db: Conn) -> None:
    three(project)
    assert cli("migrate").exit_code == 0
    (project.sql / "0003_create_c.down.sql").write_text("DROP TABLE c CASCADE;\n", encoding="utf-8")
    r = cli("repair", "--accept", "3")
    assert r.exit_code == 0, r.stderr
    assert downs(db)[2] == (3, "DROP TABLE c CASCADE;\n", checksum("DROP TABLE c CASCADE;\n"))
    s = cli("status")
    assert s.exit_code == 0 and "down file" not in s.stdout


# ---- the one INSERT, in each of its renderings -------------------------------------------------------


def test_insert_row_renderings_write_the_same_row(db: Conn) -> None:
    """insert_row is what every path writes, and what `migrate --print-sql` prints: its literal
    rendering is SQL that writes the same row as the parameterized ones."""
    History(db, "public", "sqlmig_migrations").ensure()
    table = sql.Identifier("public", "sqlmig_migrations")
    rows = [AppliedRow(v, f"m{v}", f"sum{v}", "CREATE TABLE t ('%s $1');\n", "DROP TABLE t; -- it's\n", f"d{v}")
            for v in (1, 2, 3)]  # fmt: skip
    query, params = insert_row(table, rows[0], execution_ms=7)
    db.execute(query, params)
    query, params = insert_row(table, rows[1], execution_ms=sql.SQL("8"), params="numbered")
    assert "$7" in query.as_string(db) and len(params) == 7
    db.pgconn.exec_params(query.as_string(db).encode(), [None if p is None else str(p).encode() for p in params])
    query, params = insert_row(table, rows[2], params="literal")
    assert params == [] and "'DROP TABLE t; -- it''s\n'" in query.as_string(db)
    db.execute(query.as_string(db).encode())
    got = db.execute(
        "SELECT version, name, checksum, applied_sql, down_sql, down_checksum, execution_ms, state, error"
        " FROM sqlmig_migrations ORDER BY version"
    ).fetchall()
    assert got == [(*r, ms, "applied", None) for r, ms in zip(rows, (7, 8, None), strict=True)]
