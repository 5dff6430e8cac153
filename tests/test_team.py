"""Team workflows around the files: sqlmig.sum makes two branches' new migrations a merge conflict,
`new --timestamp`, `renumber`, and the checks validate and migrate make of the list."""

from __future__ import annotations

import re
import shutil

import pytest

from .support import Conn, Project, git, run_cli, tables, two_branches

SUM = "sqlmig.sum"


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_two_branches_adding_a_migration_conflict_in_git_and_renumber_then_sum_resolve_it(project: Project) -> None:
    root = project.root
    two_branches(project, "create_customer", ("add_email", "add_phone"))
    merge = git(root, "merge", "one")
    assert merge.returncode != 0 and f"CONFLICT (content): Merge conflict in sql/{SUM}" in merge.stdout
    # both pairs are in the folder now, as 0002; sqlmig says what happened and what to do
    r = run_cli("validate", "--files-only")
    assert r.exit_code == 3
    assert f"sql/{SUM}:" in r.stdout and "merge conflict markers: two branches added migrations" in r.stdout
    assert "`sqlmig renumber 0002_add_phone NEW` moves this pair" in r.stdout
    r = run_cli("renumber", "2", "3")
    assert r.exit_code == 2 and "2 migrations have that version (0002_add_email, 0002_add_phone)" in r.stderr
    r = run_cli("renumber", "0002_add_phone", "3")
    assert r.exit_code == 0, r.stderr
    assert "renamed sql/0002_add_phone.up.sql -> 0003_add_phone.up.sql" in r.stdout
    assert "no database configured: no history was checked" in r.stdout
    assert run_cli("sum").exit_code == 0
    r = run_cli("validate", "--files-only")
    assert r.exit_code == 0, r.stdout
    listed = [line.split()[:2] for line in (project.sql / SUM).read_text().splitlines() if line[:1].isdigit()]
    assert listed == [["0001", "create_customer"], ["0002", "add_email"], ["0003", "add_phone"]]


def test_new_creates_the_list_and_keeps_it(project: Project) -> None:
    project.add(1, "made_by_hand", "CREATE TABLE a (id int);", "DROP TABLE a;")
    assert run_cli("new", "second").exit_code == 0
    text = (project.sql / SUM).read_text()
    assert text.startswith("# sqlmig.sum: every migration in order")
    lines = [line for line in text.splitlines() if not line.startswith("#")]
    assert re.fullmatch(r"total [0-9a-f]{64}", lines[0])
    assert [line.split()[:2] for line in lines[1:]] == [["0001", "made_by_hand"], ["0002", "second"]]
    assert run_cli("validate", "--files-only").exit_code == 0
    assert run_cli("new", "third").exit_code == 0
    assert run_cli("validate", "--files-only").exit_code == 0
    r = run_cli("sum")
    assert (r.exit_code, r.stdout) == (0, "sql/sqlmig.sum is up to date (3 migrations)\n")


def test_validate_and_migrate_name_each_disagreement_with_the_list(
    project: Project, database_url: str, db: Conn
) -> None:
    project.add(1, "a", "CREATE TABLE a (id int);", "DROP TABLE a;")
    project.add(2, "b", "CREATE TABLE b (id int);", "DROP TABLE b;")
    assert run_cli("sum").exit_code == 0
    (project.sql / "0001_a.up.sql").write_text("CREATE TABLE a (id bigint);")  # edited
    project.add(3, "c", "CREATE TABLE c (id int);", "DROP TABLE c;")  # not listed
    (project.sql / "0002_b.up.sql").unlink()
    (project.sql / "0002_b.down.sql").unlink()  # listed, gone
    r = run_cli("validate", "--files-only")
    assert r.exit_code == 3
    # an edit is a warning (new, then write the SQL, is how a migration is made); the rest refuse
    assert "warning: sql/sqlmig.sum:6: 0001_a: 0001_a.up.sql changed since it was listed" in r.stdout
    assert "problem: sql/sqlmig.sum:7: lists 0002_b, which is not in the folder" in r.stdout
    assert "problem: sql/0003_c.up.sql: 0003_c is not listed in sql/sqlmig.sum" in r.stdout
    r = run_cli("--database-url", database_url, "migrate")
    assert r.exit_code == 3 and "2 problems in the migration list; nothing was run" in r.stderr
    assert tables(db) == set()
    assert run_cli("sum").exit_code == 0
    assert run_cli("--database-url", database_url, "migrate").exit_code == 0
    # a total that no longer matches its lines (a hand-resolved merge)
    path = project.sql / SUM
    path.write_text(path.read_text().replace("0003 c ", "0003 c2 "))
    r = run_cli("validate", "--files-only")
    assert "lists version 3 as c2, the folder has 0003_c" in r.stdout
    text = path.read_text().replace("0003 c2 ", "0003 c ")
    path.write_text(re.sub(r"total [0-9a-f]{64}", "total " + "0" * 64, text))
    r = run_cli("validate", "--files-only")
    assert r.exit_code == 3 and "the total line does not match the migration lines" in r.stdout


def test_require_sum_refuses_a_folder_without_the_list(project: Project) -> None:
    project.add(1, "a", "CREATE TABLE a (id int);", "DROP TABLE a;")
    assert run_cli("validate", "--files-only").exit_code == 0  # optional by default
    r = run_cli("validate", "--files-only", env={"SQLMIG_REQUIRE_SUM": "true"})
    assert r.exit_code == 3 and "no migration list: the require_sum setting asks for one" in r.stdout
    r = run_cli("validate", "--files-only", env={"SQLMIG_REQUIRE_SUM": "maybe"})
    assert r.exit_code == 2 and "invalid value 'maybe' for require_sum" in r.stderr


def test_new_with_timestamps_and_in_a_folder_that_mixes_both_schemes(project: Project) -> None:
    assert run_cli("new", "first").exit_code == 0
    r = run_cli("new", "--timestamp", "second")
    assert r.exit_code == 0
    stamped = re.search(r"sql/(\d{14})_second\.up\.sql", r.stdout)
    assert stamped is not None and stamped.group(1).startswith("20")
    r = run_cli("new", "third")  # sequential after a timestamp: still sorts last
    third = re.search(r"sql/(\d+)_third\.up\.sql", r.stdout)
    assert third is not None and int(third.group(1)) == int(stamped.group(1)) + 1
    r = run_cli("new", "fourth", env={"SQLMIG_VERSION_SCHEME": "timestamp"})
    fourth = re.search(r"sql/(\d+)_fourth\.up\.sql", r.stdout)
    assert fourth is not None and int(fourth.group(1)) > int(third.group(1))
    assert run_cli("new", "--sequential", "fifth", env={"SQLMIG_VERSION_SCHEME": "timestamp"}).exit_code == 0
    assert run_cli("validate", "--files-only").exit_code == 0
    r = run_cli("new", "x", env={"SQLMIG_VERSION_SCHEME": "daily"})
    assert r.exit_code == 2 and "expected sequential or timestamp" in r.stderr


def test_renumber_refuses_what_a_history_records(project: Project, database_url: str) -> None:
    project.add(1, "a", "CREATE TABLE a (id int);", "DROP TABLE a;")
    project.add(2, "b", "CREATE TABLE b (id int);", "DROP TABLE b;")
    assert run_cli("sum").exit_code == 0
    assert run_cli("--database-url", database_url, "migrate", "--to", "1").exit_code == 0
    r = run_cli("--database-url", database_url, "renumber", "1", "5")
    assert r.exit_code == 3 and "1_a is recorded in public.sqlmig_migrations (applied)" in r.stderr
    r = run_cli("--database-url", database_url, "renumber", "2", "1")
    assert r.exit_code == 2 and "version 1 is taken by 0001_a" in r.stderr
    r = run_cli("--database-url", database_url, "renumber", "2", "7", "--dry-run")
    assert r.exit_code == 0 and "would rename sql/0002_b.down.sql -> 0007_b.down.sql" in r.stdout
    assert (project.sql / "0002_b.up.sql").is_file()
    r = run_cli("--database-url", database_url, "renumber", "2", "7")
    assert r.exit_code == 0 and "checked against public.sqlmig_migrations: not applied there" in r.stdout
    assert "sqlmig.sum updated" in r.stdout
    assert sorted(p.name for p in project.sql.iterdir()) == [
        "0001_a.down.sql", "0001_a.up.sql", "0007_b.down.sql", "0007_b.up.sql", SUM
    ]  # fmt: skip
    assert run_cli("validate", "--files-only").exit_code == 0
    assert run_cli("--database-url", database_url, "migrate").exit_code == 0
    r = run_cli("renumber", "9", "10")
    assert r.exit_code == 2 and "renumber 9: no migration with that version on disk" in r.stderr


# ---- adopting a database sqlmig has not run on ----------------------------------------------------

CUSTOMER = "CREATE TABLE customer (id int PRIMARY KEY, email text NOT NULL);"
ORDERS = "CREATE TABLE orders (id int PRIMARY KEY, customer_id int REFERENCES customer);"
NOTE = "ALTER TABLE customer ADD COLUMN note text;"


def three(project: Project) -> None:
    project.add(1, "customer", CUSTOMER, "DROP TABLE customer;")
    project.add(2, "orders", ORDERS, "DROP TABLE orders;")
    project.add(3, "note", NOTE, "ALTER TABLE customer DROP COLUMN note;")


def test_migrate_refuses_a_database_that_has_the_tables_but_no_history_and_shows_baseline(
    project: Project, database_url: str, db: Conn, server_url: str
) -> None:
    three(project)
    db.execute(CUSTOMER + ORDERS)  # made before sqlmig: by hand, another tool, a restore
    for args in (("migrate",), ("migrate", "--dry-run"), ("migrate", "--print-sql")):
        r = run_cli("--database-url", database_url, *args)
        assert r.exit_code == 3, (args, r)
        assert "the database already has 2 tables the pending migrations create (customer, orders)" in r.stderr
        assert "0001_customer would fail on them; nothing was run" in r.stderr
        assert "`sqlmig baseline 2` (0002_orders creates the last of those tables;" in r.stderr
    assert tables(db) == {"customer", "orders"}  # no history table either
    r = run_cli("--database-url", database_url, "migrate", "--allow-existing")
    assert r.exit_code == 1 and 'relation "customer" already exists' in r.stderr
    # --check: the schema of migrations up to 1 is not the database's (orders is there too)
    r = run_cli("--database-url", database_url, "baseline", "1", "--check", "--scratch-url", server_url)
    assert r.exit_code == 3, r
    assert "is not the one migrations up to 1 build (1 difference" in r.stderr
    assert "table public.orders: in the database, not made by the migrations" in r.stderr
    assert db.execute("SELECT count(*) FROM sqlmig_migrations").fetchone() == (0,)  # made by --allow-existing
    r = run_cli("--database-url", database_url, "baseline", "2", "--check", "--scratch-url", server_url)
    assert r.exit_code == 0, r.stderr
    r = run_cli("--database-url", database_url, "migrate")
    assert r.exit_code == 0, r.stderr
    assert db.execute("SELECT version FROM sqlmig_migrations ORDER BY version").fetchall() == [(1,), (2,), (3,)]


def test_tables_the_migrations_do_not_create_do_not_stand_in_the_way(
    project: Project, database_url: str, db: Conn
) -> None:
    three(project)
    db.execute("CREATE TABLE other_app_jobs (id int)")
    assert run_cli("--database-url", database_url, "migrate").exit_code == 0


def test_baseline_extend_records_what_the_history_lacks(project: Project, database_url: str, db: Conn) -> None:
    three(project)
    assert run_cli("--database-url", database_url, "migrate", "--to", "1").exit_code == 0
    db.execute(ORDERS)  # applied by hand, on an emergency
    r = run_cli("--database-url", database_url, "baseline", "2")
    assert r.exit_code == 3 and "`sqlmig baseline 2 --extend`" in r.stderr
    r = run_cli("--database-url", database_url, "baseline", "2", "--extend")
    assert r.exit_code == 0, r.stderr
    assert db.execute("SELECT version FROM sqlmig_migrations ORDER BY version").fetchall() == [(1,), (2,)]
    assert run_cli("--database-url", database_url, "migrate").exit_code == 0


def test_the_tour_new_then_edit_then_migrate_works_and_says_to_update_the_list(
    project: Project, database_url: str, db: Conn
) -> None:
    """README's tour: `sqlmig new`, put SQL in the file, `sqlmig migrate`. The edit changes the up
    file's checksum from the one `new` listed: a warning that names `sqlmig sum`, not a refusal."""
    assert run_cli("new", "create_customer").exit_code == 0
    (project.sql / "0001_create_customer.up.sql").write_text("CREATE TABLE customer (id int);\n")
    r = run_cli("validate", "--files-only")
    assert r.exit_code == 0, r.stdout
    assert (
        "warning: sql/sqlmig.sum:6: 0001_create_customer: 0001_create_customer.up.sql changed since it was listed"
        in r.stdout
    )
    r = run_cli("--database-url", database_url, "migrate")
    assert r.exit_code == 0, r.stderr
    assert "changed since it was listed" in r.stderr and "`sqlmig sum`" in r.stderr
    assert tables(db) == {"customer", "sqlmig_migrations"}
    assert run_cli("sum").exit_code == 0
    r = run_cli("--database-url", database_url, "migrate")
    assert (r.exit_code, "changed since" in r.stderr) == (0, False)
