"""Hostile tests of `sqlmig verify`, `drift` and `dump`: false verdicts, sessions left dirty,
lost connections, signals, odd ranges and settings. Each test that is not about a guarantee the
other test files pin was written, failing, for a bug a hostile review found (16 of them, all fixed:
false ok verdicts, drift that was not drift, tracebacks, scratch databases and roles left behind)."""

from __future__ import annotations

import json
import signal
import uuid
from typing import Any

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from .support import Conn, Project, run_cli, run_process, scratch_databases, signalled, tables

pytestmark = pytest.mark.usefixtures("server_url")


def verify_json(server_url: str, *args: str) -> tuple[int, dict[str, Any], str]:
    r = run_cli("--json", "verify", "--scratch-url", server_url, *args)
    return r.exit_code, json.loads(r.stdout), r.stderr


def kinds(doc: dict[str, Any]) -> dict[int, str]:
    return {int(m["version"]): str(m["verdict"]) for m in doc["migrations"]}


def add_all(project: Project, pairs: list[tuple[str, str]]) -> None:
    for version, (up, down) in enumerate(pairs, 1):
        project.add(version, f"m{version}", up, down)


# ---- bugs: false verdicts ----------------------------------------------------------------------


def test_a_down_that_fails_at_commit_on_a_deferred_constraint_is_not_ok(project: Project, server_url: str) -> None:
    add_all(
        project,
        [
            (
                "CREATE TABLE p (id int PRIMARY KEY);\n"
                "CREATE TABLE c (pid int REFERENCES p DEFERRABLE INITIALLY DEFERRED);",
                "DROP TABLE c;\nDROP TABLE p;",
            ),
            # the down forgets the child row: a real `sqlmig down` fails at COMMIT
            ("INSERT INTO p VALUES (2);\nINSERT INTO c VALUES (2);", "DELETE FROM p WHERE id = 2;"),
        ],
    )
    code, doc, _ = verify_json(server_url, "--all")
    assert kinds(doc)[2] == "down fails"
    assert code == 3


# An up that is idempotent (IF NOT EXISTS / OR REPLACE) with a down that forgets what it made:
# the re-up succeeds, so only the snapshot can tell, and it does not list these kinds.
FORGOTTEN_KINDS = {
    "rule": ("CREATE OR REPLACE RULE no_insert AS ON INSERT TO t DO INSTEAD NOTHING;", "SELECT 1;"),
    "statistics": ("CREATE STATISTICS IF NOT EXISTS t_ab ON a, b FROM t;", "SELECT 1;"),
    "collation": ("CREATE COLLATION IF NOT EXISTS c_coll (provider = libc, locale = 'C');", "SELECT 1;"),
}


@pytest.mark.parametrize("kind", sorted(FORGOTTEN_KINDS))
def test_a_forgotten_object_of_a_kind_the_snapshot_lacks_differs(project: Project, server_url: str, kind: str) -> None:
    add_all(project, [("CREATE TABLE t (a int, b int);", "DROP TABLE t;"), FORGOTTEN_KINDS[kind]])
    code, doc, _ = verify_json(server_url, "--all")
    assert kinds(doc) == {1: "ok", 2: "differs"}
    assert code == 3


def test_a_not_null_renamed_only_by_postgresql_after_a_table_rename_is_cosmetic(
    project: Project, server_url: str
) -> None:
    add_all(
        project,
        [
            ("CREATE TABLE t (a int NOT NULL);", "DROP TABLE t;"),
            ("ALTER TABLE t RENAME TO u;", "ALTER TABLE u RENAME TO t;"),
            # down gives the NOT NULL back; PostgreSQL names it u_a_not_null instead of t_a_not_null
            ("ALTER TABLE u ALTER COLUMN a DROP NOT NULL;", "ALTER TABLE u ALTER COLUMN a SET NOT NULL;"),
        ],
    )
    code, doc, _ = verify_json(server_url, "--all")
    # cosmetic on PostgreSQL 18, which names NOT NULL constraints; ok before it
    assert kinds(doc)[3] in ("cosmetic", "ok")
    assert code == 0


def test_verify_leaves_no_role_behind_on_the_targets_server(
    project: Project, server_url: str, database_url: str, db: Conn
) -> None:
    role = "r_" + uuid.uuid4().hex[:10]
    add_all(
        project,
        [
            ("CREATE TABLE t (a int);", "DROP TABLE t;"),
            (
                f"CREATE ROLE {role};\nGRANT SELECT ON t TO {role};",
                f"REVOKE SELECT ON t FROM {role};\nDROP ROLE {role};",
            ),
        ],
    )
    try:
        r = run_cli("--json", "--database-url", database_url, "verify", "--scratch-url", "same")
        assert r.exit_code == 0, r.stdout + r.stderr
        assert db.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone() is None
        r = run_cli("--database-url", database_url, "migrate")
        assert r.exit_code == 0, r.stderr  # fails: role "r_..." already exists
    finally:
        if db.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone() is not None:
            db.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role)))
        with psycopg.connect(server_url, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))


def test_verify_starts_from_what_the_target_ran_not_an_edited_file(
    project: Project, server_url: str, database_url: str
) -> None:
    project.add(1, "a", "CREATE TABLE a (id int);", "DROP TABLE a;")
    assert run_cli("--database-url", database_url, "migrate").exit_code == 0
    (project.sql / "0001_a.up.sql").write_text("CREATE TABLE a (id int, x int);")  # edited after it ran
    project.add(2, "x", "ALTER TABLE a ADD COLUMN x int;", "ALTER TABLE a DROP COLUMN x;")
    r = run_cli("--database-url", database_url, "verify", "--scratch-url", server_url)
    # either judged on the schema the target has (ok), or refused as migrate refuses (modified)
    assert "0002_x: up fails" not in r.stdout, r.stdout


# ---- bugs: failures that are not clear messages ------------------------------------------------


@pytest.mark.parametrize("where", ["up", "down"])
def test_a_lost_scratch_connection_is_a_clear_error(project: Project, server_url: str, where: str) -> None:
    kill = "SELECT pg_terminate_backend(pg_backend_pid());"
    if where == "up":
        add_all(project, [("CREATE TABLE a (id int);", "DROP TABLE a;"), (kill, "SELECT 1;")])
    else:
        add_all(project, [("CREATE TABLE a (id int);", kill)])
    project.add(9, "after", "CREATE TABLE b (id int);", "DROP TABLE b;")
    r = run_process("verify", "--all", "--scratch-url", server_url, cwd=project.root)
    assert scratch_databases(server_url, r.pid) == set()
    assert "Traceback" not in r.stderr, r.stderr[-600:]
    assert r.exit_code in (3, 4)


def test_a_reversed_range_is_refused(project: Project, server_url: str) -> None:
    for v in range(1, 6):
        project.add(v, f"t{v}", f"CREATE TABLE t{v} (a int);", f"DROP TABLE t{v};")
    r = run_cli("verify", "--all", "--from", "5", "--to", "2", "--scratch-url", server_url)
    assert "no migration is all" not in r.stdout
    assert r.exit_code == 2, r.stdout


def test_a_to_before_the_pending_ones_does_not_claim_nothing_is_pending(
    project: Project, server_url: str, database_url: str
) -> None:
    for v in range(1, 6):
        project.add(v, f"t{v}", f"CREATE TABLE t{v} (a int);", f"DROP TABLE t{v};")
    assert run_cli("--database-url", database_url, "migrate", "--to", "3").exit_code == 0
    r = run_cli("--database-url", database_url, "verify", "--to", "2", "--scratch-url", server_url)
    assert "no migration is pending" not in r.stdout  # 4 and 5 are
    assert r.exit_code == 2 and "--to 2: migration 2 is applied, and verify checks the pending ones" in r.stderr


def test_sigterm_leaves_no_scratch_database(project: Project, server_url: str) -> None:
    project.add(1, "slow", "CREATE TABLE a (id int);\nSELECT pg_sleep(30);", "DROP TABLE a;")
    _, _, left = signalled(project, server_url, ["verify", "--all", "--scratch-url", server_url], signal.SIGTERM)
    assert left == set()


def test_dump_into_a_directory_names_that_directory(project: Project, database_url: str, db: Conn) -> None:
    target = project.root / "out"
    target.mkdir()
    r = run_cli("--database-url", database_url, "dump", "-o", str(target))
    assert r.exit_code == 3 and "Traceback" not in r.stderr
    assert ".tmp" not in r.stderr, r.stderr
    assert f"{target}:" in r.stderr or f"{target} " in r.stderr


# ---- bugs: drift that is not drift ----------------------------------------------------------------


def test_a_database_search_path_setting_is_not_drift(
    project: Project, server_url: str, database_url: str, db: Conn
) -> None:
    dbname = str(conninfo_to_dict(database_url)["dbname"])
    db.execute(sql.SQL("ALTER DATABASE {} SET search_path = app, public").format(sql.Identifier(dbname)))
    project.add(
        1,
        "app",
        "CREATE SCHEMA app;\nCREATE TYPE app.mood AS ENUM ('a');\nCREATE TABLE app.t (m app.mood DEFAULT 'a');",
        "DROP SCHEMA app CASCADE;",
    )
    assert run_cli("--database-url", database_url, "migrate").exit_code == 0
    r = run_cli("--database-url", database_url, "drift", "--scratch-url", server_url)
    assert r.exit_code == 0, r.stdout  # 'type app.mood → mood', 'default ... → ...::mood'


def test_the_history_schema_is_not_drift(project: Project, server_url: str, database_url: str) -> None:
    env = {"SQLMIG_HISTORY_SCHEMA": "meta"}
    project.add(1, "a", "CREATE TABLE a (id int);", "DROP TABLE a;")
    assert run_cli("--database-url", database_url, "migrate", env=env).exit_code == 0
    r = run_cli("--database-url", database_url, "drift", "--scratch-url", server_url, env=env)
    assert r.exit_code == 0, r.stdout  # 'schema meta: in the database, not made by the migrations'


def test_drift_names_a_failed_migration_instead_of_calling_its_work_hand_made(
    project: Project, server_url: str, database_url: str
) -> None:
    project.add(1, "a", "CREATE TABLE a (id int);", "DROP TABLE a;")
    up = "-- sqlmig:no-transaction\nCREATE TABLE b (id int);\nCREATE TABLE a (id int);"
    project.add(2, "half", up, "DROP TABLE b;")
    assert run_cli("--database-url", database_url, "migrate").exit_code == 1
    r = run_cli("--database-url", database_url, "drift", "--scratch-url", server_url)
    assert "Traceback" not in r.stderr
    out = r.stdout + r.stderr
    assert "failed" in out and "migration 2" in out, out  # says: table public.b ... not made by the migrations


def test_a_schema_file_that_cannot_be_written_after_migrate_says_the_migration_stays(
    project: Project, database_url: str, db: Conn
) -> None:
    (project.root / "sqlmig.toml").write_text('schema_file = "no/such/dir/schema.sql"\n')
    project.add(1, "a", "CREATE TABLE a (id int);", "DROP TABLE a;")
    r = run_cli("--database-url", database_url, "migrate")
    assert "Traceback" not in r.stderr and "cannot write" in r.stderr
    assert tables(db) == {"a", "sqlmig_migrations"}  # it was applied
    assert "applied" in r.stderr, r.stderr  # says only: cannot write .../.schema.sql.tmp


def test_a_down_that_forgets_an_owner_change_differs(project: Project, server_url: str) -> None:
    role = "o_" + uuid.uuid4().hex[:10]
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE ROLE {}").format(sql.Identifier(role)))
    try:
        project.add(1, "a", "CREATE TABLE a (id int);", "DROP TABLE a;")
        project.add(2, "own", f"ALTER TABLE a OWNER TO {role};", "SELECT 1;")
        code, doc, _ = verify_json(server_url, "--all")
        assert kinds(doc) == {1: "ok", 2: "differs"}
        assert code == 3
    finally:
        with psycopg.connect(server_url, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))


# ---- attacks sqlmig survives ------------------------------------------------------------------------


def test_session_state_a_file_leaves_does_not_reach_the_next(project: Project, server_url: str) -> None:
    """SET search_path, SET ROLE, PREPARE, LISTEN and a temp table in an up and its down: the down's
    PREPARE and temp table do not collide with the re-up's, and the next migration's unqualified
    table lands in public (checked by its down, which names public)."""
    add_all(
        project,
        [
            ("CREATE SCHEMA app;\nCREATE TABLE app.t (a int);", "DROP SCHEMA app CASCADE;"),
            (
                "SET search_path = app;\nCREATE TEMP TABLE tmp (a int);\nPREPARE p AS SELECT 1;\nLISTEN chan;\n"
                "SET ROLE pg_monitor;\nRESET ROLE;\nCREATE TABLE u (a int);",
                "SET search_path = app;\nPREPARE p AS SELECT 1;\nCREATE TEMP TABLE tmp (a int);\nDROP TABLE u;\n"
                "SET ROLE pg_read_all_data;",
            ),
            ("CREATE TABLE w (a int);", "DROP TABLE public.w;"),
        ],
    )
    code, doc, err = verify_json(server_url, "--all")
    assert (code, err) == (0, "")
    assert kinds(doc) == {1: "ok", 2: "ok", 3: "ok"}


def test_quoted_identifiers_overloads_partitions_and_policies(project: Project, server_url: str) -> None:
    add_all(
        project,
        [
            (
                'CREATE SCHEMA "My Sch.ema";\n'
                'CREATE TABLE "My Sch.ema"."Tä ble" ("Col.1" int PRIMARY KEY, "x y" text DEFAULT \'a\');\n'
                'CREATE VIEW "My Sch.ema"."v w" AS SELECT "Col.1", "x y" FROM "My Sch.ema"."Tä ble";',
                'DROP SCHEMA "My Sch.ema" CASCADE;',
            ),
            (
                'ALTER TABLE "My Sch.ema"."Tä ble" RENAME COLUMN "x y" TO "Z";',
                'ALTER TABLE "My Sch.ema"."Tä ble" RENAME COLUMN "Z" TO "x y";',
            ),
            (
                "CREATE SEQUENCE s;\nCREATE TABLE pt (id int DEFAULT nextval('s'), k int) PARTITION BY RANGE (k);\n"
                "CREATE TABLE pt1 PARTITION OF pt FOR VALUES FROM (0) TO (10);\nCREATE INDEX ON pt (k);",
                "DROP TABLE pt;\nDROP SEQUENCE s;",
            ),
            (  # the down forgets the policy
                "ALTER TABLE pt ENABLE ROW LEVEL SECURITY;\nCREATE POLICY p1 ON pt USING (k > 0);",
                "ALTER TABLE pt DISABLE ROW LEVEL SECURITY;",
            ),
            (  # the down forgets one overload
                "CREATE FUNCTION f(int) RETURNS int LANGUAGE sql AS 'SELECT 1';\n"
                "CREATE FUNCTION f(text) RETURNS int LANGUAGE sql AS 'SELECT 2';",
                "DROP FUNCTION f(int);",
            ),
        ],
    )
    code, doc, _ = verify_json(server_url, "--all")
    assert code == 3
    assert kinds(doc) == {1: "ok", 2: "ok", 3: "ok", 4: "differs", 5: "differs"}
    by = {int(m["version"]): m for m in doc["migrations"]}
    assert [(d["kind"], d["name"]) for d in by[4]["after_down"]] == [("policy", "public.pt.p1")]
    assert [(d["kind"], d["name"]) for d in by[5]["after_down"]] == [("function", "public.f(text)")]


def test_an_up_failing_at_commit_and_a_failing_no_transaction_down_get_verdicts(
    project: Project, server_url: str
) -> None:
    add_all(
        project,
        [
            ("CREATE TABLE t (a int);", "DROP TABLE t;"),
            (
                "-- sqlmig:no-transaction\nCREATE INDEX CONCURRENTLY t_a ON t (a);",
                "-- sqlmig:no-transaction\nDROP INDEX CONCURRENTLY nope;",
            ),
            (
                "CREATE TABLE p (id int PRIMARY KEY);\n"
                "CREATE TABLE c (pid int REFERENCES p DEFERRABLE INITIALLY DEFERRED);\nINSERT INTO c VALUES (5);",
                "DROP TABLE c;\nDROP TABLE p;",
            ),
            ("ALTER TABLE t ADD COLUMN b int;", "ALTER TABLE t DROP COLUMN b;"),
        ],
    )
    code, doc, err = verify_json(server_url, "--all")
    assert (code, err) == (3, "")
    assert kinds(doc) == {1: "ok", 2: "down fails", 3: "up fails", 4: "ok"}
    failure = doc["migrations"][1]["failure"]
    assert (failure["step"], failure["line"], failure["column"]) == ("down", 2, 1)
    assert "violates foreign key constraint" in doc["migrations"][2]["failure"]["message"]
    assert scratch_databases(server_url) == set()


def test_ctrl_c_in_the_trial_and_in_drift_leave_no_scratch_database(
    project: Project, server_url: str, database_url: str, db: Conn
) -> None:
    project.add(1, "slow", "CREATE TABLE a (id int);", "SELECT pg_sleep(30);")
    code, err, left = signalled(project, server_url, ["verify", "--all", "--scratch-url", server_url], signal.SIGINT)
    assert (code, left) == (130, set()) and "Traceback" not in err
    assert run_cli("--database-url", database_url, "migrate").exit_code == 0
    # drift builds from the SQL that ran when the file was edited since: make that slow
    db.execute("UPDATE sqlmig_migrations SET applied_sql = 'CREATE TABLE a (id int);\nSELECT pg_sleep(30);'")
    (project.sql / "0001_slow.up.sql").write_text("CREATE TABLE a (id int); -- edited")
    args = ["--database-url", database_url, "drift", "--scratch-url", server_url]
    code, err, left = signalled(project, server_url, args, signal.SIGINT)
    assert (code, left) == (130, set()) and "Traceback" not in err


def test_drift_builds_what_a_no_transaction_file_ran_on_a_clean_session(
    project: Project, server_url: str, database_url: str, db: Conn
) -> None:
    """A no-transaction file's SET search_path must not send the next file's table elsewhere on the
    scratch database than migrate did on the target; with no SQL at hand, a clear error."""
    project.add(1, "app", "CREATE SCHEMA app;", "DROP SCHEMA app;")
    project.add(2, "sp", "-- sqlmig:no-transaction\nSET search_path = app;\nSELECT 1;", "SELECT 1;")
    project.add(3, "w", "CREATE TABLE w (a int);", "DROP TABLE w;")
    assert run_cli("--database-url", database_url, "migrate").exit_code == 0
    r = run_cli("--database-url", database_url, "drift", "--scratch-url", server_url)
    assert r.exit_code == 0, r.stdout
    (project.sql / "0001_app.up.sql").unlink()
    (project.sql / "0001_app.down.sql").unlink()
    db.execute("UPDATE sqlmig_migrations SET applied_sql = NULL WHERE version = 1")
    r = run_cli("--database-url", database_url, "drift", "--scratch-url", server_url)
    assert r.exit_code == 2 and "migration 1 is applied" in r.stderr and "Traceback" not in r.stderr


def test_drift_builds_a_migration_missing_on_disk_from_its_recorded_sql(
    project: Project, server_url: str, database_url: str
) -> None:
    up, down = project.add(1, "a", "CREATE TABLE a (id int);", "DROP TABLE a;")
    project.add(2, "b", "CREATE TABLE b (id int);", "DROP TABLE b;")
    assert run_cli("--database-url", database_url, "migrate").exit_code == 0
    up.unlink()
    down.unlink()
    r = run_cli("--database-url", database_url, "drift", "--scratch-url", server_url)
    assert r.exit_code == 0, r.stderr  # 'neither its file nor the SQL it ran with is at hand'


def test_a_key_value_scratch_url_never_shows_its_password(project: Project) -> None:
    project.add(1, "a", "CREATE TABLE a (id int);", "DROP TABLE a;")
    r = run_cli("verify", "--all", "--scratch-url", "host=127.0.0.1 port=1 user=x password=hunter2")
    assert r.exit_code == 4
    assert "hunter2" not in r.stdout + r.stderr and "Traceback" not in r.stderr


def test_a_range_of_one_applies_the_earlier_ones_first(project: Project, server_url: str) -> None:
    for v in range(1, 6):
        project.add(v, f"t{v}", f"CREATE TABLE t{v} (a int REFERENCES t1 (a));", f"DROP TABLE t{v};")
    (project.sql / "0001_t1.up.sql").write_text("CREATE TABLE t1 (a int PRIMARY KEY);")
    code, doc, _ = verify_json(server_url, "--all", "--from", "3", "--to", "3")
    assert code == 0
    assert (kinds(doc), doc["prepared"]) == ({3: "ok"}, 2)


@pytest.mark.parametrize("gap", [0.01, 0.1])
def test_a_second_ctrl_c_during_the_cleanup_leaves_no_scratch_database(
    project: Project, server_url: str, gap: float
) -> None:
    project.add(1, "slow", "CREATE TABLE a (id int);\nSELECT pg_sleep(30);", "DROP TABLE a;")
    args = ["verify", "--all", "--scratch-url", server_url]
    code, err, left = signalled(project, server_url, args, signal.SIGINT, again_after=gap)
    assert code == 130 and "Traceback" not in err
    assert left == set()
