"""`sqlmig verify` on a real server: verdicts, differences, failures placed, locks measured, and
the target never touched (nor a scratch database left behind, even on Ctrl-C)."""

from __future__ import annotations

import json
import signal
import uuid
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from .support import Conn, Login, Project, run_cli, scratch_databases, shows_no_secret, signalled, tables

# smoke: the catalog queries and the measured locks are what changes from one PostgreSQL to the next
pytestmark = [pytest.mark.usefixtures("server_url"), pytest.mark.smoke]


def verify(server_url: str, *args: str) -> tuple[int, dict[str, object], str]:
    """verify --json on the test server's scratch databases: exit code, document, stderr."""
    r = run_cli("--json", "verify", "--scratch-url", server_url, *args)
    return r.exit_code, json.loads(r.stdout), r.stderr


def verdicts(doc: dict[str, object]) -> dict[int, dict[str, object]]:
    migrations = doc["migrations"]
    assert isinstance(migrations, list)
    return {int(m["version"]): m for m in migrations}


def items(verdict: dict[str, object], side: str = "after_down") -> list[tuple[object, ...]]:
    found = verdict[side]
    assert isinstance(found, list)
    return [(d["kind"], d["name"], d["attribute"], d["before"], d["after"], d["cosmetic"]) for d in found]


def test_a_correct_pair_is_ok_and_no_scratch_database_is_left(project: Project, server_url: str) -> None:
    project.add(
        1, "users", "CREATE TABLE users (id int PRIMARY KEY, email text NOT NULL DEFAULT '');", "DROP TABLE users;"
    )
    code, doc, err = verify(server_url, "--all")
    assert (code, err) == (0, "")
    assert [(v["version"], v["verdict"]) for v in verdicts(doc).values()] == [(1, "ok")]
    assert doc["ok"] is True and doc["scope"] == "all" and doc["prepared"] == 0
    assert scratch_databases(server_url) == set()


# A down that forgets one thing, and the difference verify must name for it.
FORGOTTEN = {
    "enum type": (
        "CREATE TYPE mood AS ENUM ('sad', 'ok'); CREATE TABLE t (m mood);",
        "DROP TABLE t;",
        ("type", "public.mood", None, None),
    ),
    "function": (
        "CREATE FUNCTION add1(i int) RETURNS int LANGUAGE sql IMMUTABLE AS 'SELECT i + 1';",
        "SELECT 1;",
        ("function", "public.add1(integer)", None, None),
    ),
    "index": (
        "CREATE INDEX base_a ON base (a);",
        "SELECT 1;",
        ("index", "public.base_a", None, None),
    ),
    "default": (
        "ALTER TABLE base ALTER COLUMN a SET DEFAULT 7;",
        "SELECT 1;",
        ("column", "public.base.a", "default", "none"),
    ),
    "not null": (
        "ALTER TABLE base ALTER COLUMN a SET NOT NULL;",
        "SELECT 1;",
        ("column", "public.base.a", "not null", None),
    ),
    "check constraint": (
        "ALTER TABLE base ADD CONSTRAINT a_positive CHECK (a > 0);",
        "SELECT 1;",
        ("constraint", "public.base.a_positive", None, None),
    ),
    "enum label": (
        "ALTER TYPE colour ADD VALUE 'blue';",
        "SELECT 1;",
        ("type", "public.colour", "labels", None),
    ),
}


@pytest.mark.parametrize("case", sorted(FORGOTTEN))
def test_a_down_that_forgets_something_differs_and_names_it(project: Project, server_url: str, case: str) -> None:
    up, down, (kind, name, attribute, _) = FORGOTTEN[case]
    project.add(
        1,
        "base",
        "CREATE TABLE base (a int); CREATE TYPE colour AS ENUM ('red');",
        "DROP TABLE base; DROP TYPE colour;",
    )
    project.add(2, "change", up, down)
    code, doc, _ = verify(server_url, "--all")
    assert code == 3
    v = verdicts(doc)
    assert v[1]["verdict"] == "ok"
    assert v[2]["verdict"] == "differs", v[2]
    found = [(k, n, a) for k, n, a, _, _, cosmetic in items(v[2]) if not cosmetic]
    assert (kind, name, attribute) in found, found


def test_a_lost_default_is_shown_before_and_after(project: Project, server_url: str) -> None:
    project.add(1, "users", "CREATE TABLE user_ (id int, avatar text DEFAULT 'x');", "DROP TABLE user_;")
    project.add(2, "no_default", "ALTER TABLE user_ ALTER avatar DROP DEFAULT;", "SELECT 1;")
    r = run_cli("verify", "--all", "--scratch-url", server_url)
    assert r.exit_code == 3
    assert "0002_no_default: differs" in r.stdout
    assert "column public.user_.avatar: default 'x'::text → none" in r.stdout


def test_a_forgotten_grant_differs(project: Project, server_url: str, db: Conn) -> None:
    role = "reader_" + uuid.uuid4().hex[:8]
    db.execute(sql.SQL("CREATE ROLE {}").format(sql.Identifier(role)))
    try:
        project.add(1, "t", "CREATE TABLE t (a int);", "DROP TABLE t;")
        project.add(2, "grant", f"GRANT SELECT ON t TO {role};", "SELECT 1;")
        code, doc, _ = verify(server_url, "--all")
        assert code == 3
        v = verdicts(doc)[2]
        assert v["verdict"] == "differs"
        assert [(k, n, a) for k, n, a, *_ in items(v)] == [("table", "public.t", "privileges")]
    finally:
        with psycopg.connect(server_url, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))


def test_a_forgotten_type_drop_is_the_cause_not_the_reups_failure(project: Project, server_url: str) -> None:
    """The down forgets DROP TYPE: the second up then fails with 'already exists'; the verdict is
    differs (the cause), with the failure beside it."""
    project.add(1, "mood", "CREATE TYPE mood AS ENUM ('sad');\nCREATE TABLE m (x mood);", "DROP TABLE m;")
    code, doc, _ = verify(server_url, "--all")
    v = verdicts(doc)[1]
    assert code == 3 and v["verdict"] == "differs"
    assert items(v)[0][:3] == ("type", "public.mood", None)
    failure = v["failure"]
    assert isinstance(failure, dict)
    assert (failure["step"], failure["line"], failure["sqlstate"]) == ("re-up", 1, "42710")


def test_column_order_only_is_cosmetic(project: Project, server_url: str) -> None:
    project.add(1, "t", "CREATE TABLE t (a int, b int, c int);", "DROP TABLE t;")
    project.add(2, "drop_b", "ALTER TABLE t DROP COLUMN b;", "ALTER TABLE t ADD COLUMN b int;")
    code, doc, _ = verify(server_url, "--all")
    v = verdicts(doc)[2]
    assert (code, v["verdict"]) == (0, "cosmetic")
    assert all(cosmetic for *_, cosmetic in items(v))


def test_a_failing_down_is_placed_at_file_line_column(project: Project, server_url: str) -> None:
    project.add(1, "t", "CREATE TABLE t (a int);", "DROP TABLE t;")
    project.add(2, "col", "ALTER TABLE t ADD COLUMN b int;", "-- undo\nALTER TABLE t\n  DROP COLUMN bb;")
    r = run_cli("verify", "--all", "--scratch-url", server_url)
    assert r.exit_code == 3
    # the server gives no position for this error: the statement's start, as migrate places it
    assert f"0002_col: down fails; down failed at {Path('sql/0002_col.down.sql')}:2:1:" in r.stdout
    assert 'column "bb" of relation "t" does not exist' in r.stdout


def test_an_empty_down_is_irreversible_and_fails_only_when_strict(project: Project, server_url: str) -> None:
    project.add(1, "t", "CREATE TABLE t (a int);", "-- cannot be undone\n")
    code, doc, _ = verify(server_url, "--all")
    assert (code, verdicts(doc)[1]["verdict"]) == (0, "irreversible")
    code, doc, _ = verify(server_url, "--all", "--strict")
    assert (code, doc["ok"]) == (3, False)


def test_every_migration_of_a_chain_is_judged_when_one_in_the_middle_differs(project: Project, server_url: str) -> None:
    for n in range(1, 9):
        down = f"DROP TABLE t{n};" if n != 4 else "SELECT 1;"
        project.add(n, f"t{n}", f"CREATE TABLE t{n} (a int);", down)
    project.add(9, "bad_down", "CREATE TABLE t9 (a int);", "DROP TABLE nope;")
    project.add(10, "t10", "ALTER TABLE t1 ADD COLUMN b int;", "ALTER TABLE t1 DROP COLUMN b;")
    code, doc, _ = verify(server_url, "--all")
    got = {n: v["verdict"] for n, v in verdicts(doc).items()}
    assert code == 3
    assert got == {**{n: "ok" for n in range(1, 11)}, 4: "differs", 9: "down fails"}
    assert [i[:3] for i in items(verdicts(doc)[4])] == [("table", "public.t4", None)]


def test_locks_on_existing_tables_and_rewrites_are_measured(project: Project, server_url: str) -> None:
    project.add(1, "t", "CREATE TABLE t (id int PRIMARY KEY, a int);", "DROP TABLE t;")
    project.add(
        2,
        "change",
        "CREATE TABLE fresh (id int);\nALTER TABLE fresh ADD COLUMN b int;\n"
        "CREATE INDEX t_a ON t (a);\nALTER TABLE t ALTER COLUMN a TYPE bigint;\n",
        "ALTER TABLE t ALTER COLUMN a TYPE int;\nDROP INDEX t_a;\nDROP TABLE fresh;\n",
    )
    code, doc, _ = verify(server_url, "--all")
    v = verdicts(doc)[2]
    assert (code, v["verdict"]) == (0, "ok")
    locks = v["locks"]
    assert isinstance(locks, dict) and locks["measured"] is True
    up = {e["line"]: e for e in locks["up"]}
    # the new table is nobody's: its locks are not reported
    assert sorted(up) == [3, 4]
    assert up[3]["locks"] == [{"relation": "public.t", "mode": "ShareLock"}]
    assert up[3]["rewrites"] == []
    assert {"relation": "public.t", "mode": "AccessExclusiveLock"} in up[4]["locks"]
    assert up[4]["rewrites"] == ["public.t"]
    down = {e["line"]: e for e in locks["down"]}
    assert down[1]["rewrites"] == ["public.t"]
    # reverting drops `fresh`, which its own up created: what a revert means, not a risk
    assert sorted(down) == [1]
    r = run_cli("verify", "--all", "--scratch-url", server_url)
    path = Path("sql/0002_change.up.sql")
    said = "`ALTER TABLE t ALTER COLUMN a TYPE bigint;` takes ACCESS EXCLUSIVE on public.t and rewrites public.t"
    assert f"up {path}:4: {said}" in r.stdout


def test_the_default_verifies_the_pending_migrations_and_never_touches_the_target(
    project: Project, server_url: str, database_url: str, db: Conn
) -> None:
    project.add(1, "a", "CREATE TABLE a (id int PRIMARY KEY);", "DROP TABLE a;")
    assert run_cli("--database-url", database_url, "migrate").exit_code == 0
    project.add(2, "b", "CREATE TABLE b (id int REFERENCES a (id));", "DROP TABLE b;")
    project.add(3, "c", "ALTER TABLE a ADD COLUMN c int;", "ALTER TABLE a DROP COLUMN c;")
    catalog = db.execute("SELECT count(*) FROM pg_class").fetchone()
    r = run_cli("--json", "--database-url", database_url, "verify", "--scratch-url", server_url)
    doc = json.loads(r.stdout)
    assert r.exit_code == 0, r.stderr
    assert (doc["scope"], doc["prepared"]) == ("pending", 1)
    assert [(v["version"], v["verdict"]) for v in verdicts(doc).values()] == [(2, "ok"), (3, "ok")]
    assert tables(db) == {"a", "sqlmig_migrations"}
    assert db.execute("SELECT count(*) FROM pg_class").fetchone() == catalog
    # nothing pending: nothing to verify, said so
    assert run_cli("--database-url", database_url, "migrate").exit_code == 0
    r = run_cli("--database-url", database_url, "verify", "--scratch-url", server_url)
    assert (r.exit_code, r.stdout) == (0, "nothing to verify: no migration is pending (--all verifies every one)\n")


def test_same_server_puts_the_scratch_database_beside_the_target(
    project: Project, database_url: str, db: Conn, server_url: str
) -> None:
    project.add(1, "a", "CREATE TABLE a (id int);", "DROP TABLE a;")
    r = run_cli("--json", "--database-url", database_url, "verify", "--scratch-url", "same")
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout)["migrations"][0]["verdict"] == "ok"
    assert tables(db) == set()
    assert scratch_databases(server_url) == set()


def test_a_failing_earlier_migration_is_a_placed_error(project: Project, server_url: str, database_url: str) -> None:
    project.add(1, "bad", "CREATE TABLE a (id int);\nCREATE TABLE a (id int);", "DROP TABLE a;")
    project.add(2, "b", "CREATE TABLE b (id int);", "DROP TABLE b;")
    r = run_cli("verify", "--from", "2", "--scratch-url", server_url)
    assert r.exit_code == 1
    assert f"{Path('sql/0001_bad.up.sql')}:2:1" in r.stderr
    assert "nothing was verified" in r.stderr


def test_an_unknown_version_and_an_unreachable_scratch_server_are_clear_errors(project: Project) -> None:
    project.add(1, "a", "CREATE TABLE a (id int);", "DROP TABLE a;")
    r = run_cli("verify", "--all", "--from", "7", "--scratch-url", "postgresql://u:secret@127.0.0.1:1/x")
    assert r.exit_code == 2 and "7" in r.stderr and "Traceback" not in r.stderr
    r = run_cli("verify", "--all", "--scratch-url", "postgresql://u:secret@127.0.0.1:1/x")
    assert r.exit_code == 4, r.stderr
    assert "secret" not in r.stdout + r.stderr and "Traceback" not in r.stderr


def test_ctrl_c_leaves_no_scratch_database(project: Project, server_url: str) -> None:
    project.add(1, "slow", "CREATE TABLE a (id int);\nSELECT pg_sleep(30);", "DROP TABLE a;")
    code, err, left = signalled(project, server_url, ["verify", "--all", "--scratch-url", server_url], signal.SIGINT)
    assert code == 130, err
    assert "Traceback" not in err
    assert left == set()


def test_each_migration_starts_where_a_real_migrate_leaves_it(project: Project, server_url: str) -> None:
    """Down and the second up run in a transaction that is rolled back: an up that inserts a row,
    with a down that leaves it, must not leave two rows for the next migration."""
    project.add(1, "t", "CREATE TABLE t (a int);", "DROP TABLE t;")
    project.add(2, "row", "INSERT INTO t VALUES (1);", "SELECT 1;")
    # (ADD PRIMARY KEY also sets NOT NULL, which dropping the constraint leaves: verify says so)
    down = "ALTER TABLE t DROP CONSTRAINT t_pkey;\nALTER TABLE t ALTER COLUMN a DROP NOT NULL;"
    project.add(3, "pk", "ALTER TABLE t ADD PRIMARY KEY (a);", down)
    code, doc, _ = verify(server_url, "--all")
    assert {n: v["verdict"] for n, v in verdicts(doc).items()} == {1: "ok", 2: "ok", 3: "ok"}
    assert code == 0


def test_a_no_transaction_pair_is_judged_by_running_it_for_real(project: Project, server_url: str) -> None:
    project.add(1, "t", "CREATE TABLE t (a int);", "DROP TABLE t;")
    project.add(
        2,
        "idx",
        "-- sqlmig:no-transaction\nCREATE INDEX CONCURRENTLY t_a ON t (a);",
        "-- sqlmig:no-transaction\nDROP INDEX CONCURRENTLY t_a;",
    )
    project.add(3, "forgets", "-- sqlmig:no-transaction\nCREATE INDEX CONCURRENTLY t_a2 ON t (a);", "SELECT 1;")
    project.add(4, "after", "ALTER TABLE t ADD COLUMN b int;", "ALTER TABLE t DROP COLUMN b;")
    code, doc, _ = verify(server_url, "--all")
    v = verdicts(doc)
    assert code == 3
    assert {n: x["verdict"] for n, x in v.items()} == {1: "ok", 2: "ok", 3: "differs", 4: "ok"}
    locks = v[2]["locks"]
    assert isinstance(locks, dict) and locks["measured"] is False
    assert [i[:3] for i in items(v[3])] == [("index", "public.t_a2", None)]
    failure = v[3]["failure"]
    assert isinstance(failure, dict) and failure["step"] == "re-up"


def test_a_role_without_createdb_is_told_what_to_do(project: Project, login: Login) -> None:
    project.add(1, "a", "CREATE TABLE a (id int);", "DROP TABLE a;")
    r = run_cli("--database-url", login.url("url"), "verify", "--scratch-url", "same")
    assert r.exit_code == 1, r.stderr
    assert "permission denied to create database" in r.stderr
    assert "CREATEDB" in r.stderr and "--scratch-url" in r.stderr
    assert "Traceback" not in r.stderr
    shows_no_secret(r)


# A later file fails if a session state of an earlier one reached it.
_NOTHING_LEAKED = """DO $$ BEGIN
  IF EXISTS (SELECT FROM pg_prepared_statements WHERE name LIKE 'leak%')
    OR current_setting('search_path') LIKE '%nowhere%' OR current_user <> session_user
    OR to_regclass('pg_temp.leak_t') IS NOT NULL THEN RAISE EXCEPTION 'a session state leaked'; END IF;
END $$;
"""


def test_every_file_starts_from_a_clean_session_and_snapshots_survive_what_files_do(
    project: Project, server_url: str
) -> None:
    # snapshots use a prepared statement kept across files: a file's own prepared statements,
    # settings and temporary tables must still not reach the next file, and a file that
    # deallocates everything (the snapshot statement too) must not break the snapshot after it
    project.add(
        1,
        "a",
        "PREPARE leak AS SELECT 1; SET search_path = nowhere; CREATE TEMP TABLE leak_t (a int);"
        " SET ROLE pg_database_owner; RESET ROLE; CREATE TABLE public.a (id int);",
        "DEALLOCATE ALL; PREPARE leak2 AS SELECT 2; CREATE TEMP TABLE leak_t (a int); DROP TABLE public.a;",
    )
    project.add(2, "b", _NOTHING_LEAKED + "DEALLOCATE ALL; CREATE TABLE b (id int);", _NOTHING_LEAKED + "DROP TABLE b;")
    project.add(3, "c", _NOTHING_LEAKED + "CREATE TABLE c (id int);", _NOTHING_LEAKED + "DROP TABLE c;")
    code, doc, err = verify(server_url, "--all")
    assert (code, err) == (0, ""), doc
    assert [(v["version"], v["verdict"]) for v in verdicts(doc).values()] == [(1, "ok"), (2, "ok"), (3, "ok")]
