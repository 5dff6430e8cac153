"""The executor's promises (issue 12): each file in a clean session, no replay, a transaction the file
cannot end unnoticed, no-transaction files whose history tells what happened, output that tells the truth.

Each test runs on a real server and checks the history against the catalog afterwards.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
import uuid
from collections.abc import Iterator
from typing import NamedTuple

import psycopg
import pytest

from .support import Cli, Conn, Project, history, tables

# The subset .ci/run also runs on PostgreSQL 16 and the machine's own PostgreSQL (`pytest -m smoke`).
pytestmark = [pytest.mark.reliability, pytest.mark.smoke]


def states(db: Conn) -> list[tuple[object, ...]]:
    return db.execute("SELECT version, state FROM sqlmig_migrations ORDER BY version").fetchall()


def one(db: Conn, query: str) -> object:
    row = db.execute(query).fetchone()
    assert row is not None
    return row[0]


@contextlib.contextmanager
def busy_locked(url: str, db: Conn, *, release_after: float | None = None) -> Iterator[None]:
    """Table `busy` exists and another session holds it ACCESS EXCLUSIVE: for the whole block, or
    for `release_after` seconds of it (what a lock timeout and its retries meet)."""
    db.execute("CREATE TABLE busy (id int)")
    with psycopg.connect(url) as holder:
        holder.execute("LOCK TABLE busy IN ACCESS EXCLUSIVE MODE")
        timer = threading.Timer(release_after, holder.rollback) if release_after is not None else None
        if timer:
            timer.start()
        try:
            yield
        finally:
            if timer:
                timer.cancel()
                timer.join()
            holder.rollback()


# ---- 1. every file starts from the same clean session ------------------------------------------

MAPPING = [
    "CREATE TABLE mapping (old_id int, new_id int);\n",
    "CREATE TEMP TABLE mapping AS SELECT 1 AS old_id, 1 AS new_id;\n",
    "INSERT INTO mapping VALUES (10, 20), (11, 21);\n",
]


@pytest.mark.parametrize("runs", [["migrate"], ["migrate --to 1", "migrate --to 2", "migrate"]])
def test_temp_table_of_one_file_does_not_shadow_the_next(cli: Cli, project: Project, db: Conn, runs: list[str]) -> None:
    for i, text in enumerate(MAPPING, start=1):
        project.add(i, f"m{i}", text)
    for run in runs:
        r = cli(*run.split())
        assert r.exit_code == 0, r.stderr
    assert one(db, "SELECT count(*) FROM public.mapping") == 2  # the same in one run or several
    assert [v for v, _, _ in history(db)] == [1, 2, 3]


def test_session_replication_role_does_not_switch_off_the_next_files_foreign_keys(
    cli: Cli, project: Project, db: Conn
) -> None:
    project.add(1, "parent", "CREATE TABLE parent (id int PRIMARY KEY);\nSET session_replication_role = replica;\n")
    project.add(2, "child", "CREATE TABLE child (pid int REFERENCES parent);\nINSERT INTO child VALUES (42);\n")
    r = cli("migrate")
    assert r.exit_code == 1
    assert "23503" in r.stderr and "0002_child.up.sql:2:1" in r.stderr
    assert [v for v, _, _ in history(db)] == [1]
    assert "child" not in tables(db)


def test_search_path_of_one_file_does_not_move_the_next_files_tables(cli: Cli, project: Project, db: Conn) -> None:
    project.add(1, "app", "CREATE SCHEMA app;\nSET search_path = app;\n", "DROP SCHEMA app;\n")
    project.add(2, "t2", "CREATE TABLE t2 (id int);\n", "DROP TABLE t2;\n")
    assert cli("migrate").exit_code == 0
    assert "t2" in tables(db) and "t2" not in tables(db, "app")
    r = cli("down", "--all")
    assert r.exit_code == 0, r.stderr
    assert history(db) == [] and "t2" not in tables(db)


@pytest.fixture
def role(server_url: str, db: Conn) -> Iterator[str]:
    name = "r_" + uuid.uuid4().hex[:10]
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(f"CREATE ROLE {name} NOLOGIN")
    try:
        yield name
    finally:
        db.execute(f"DROP OWNED BY {name}")  # what it owns in the test's database, whatever the test reached
        with psycopg.connect(server_url, autocommit=True) as admin:
            admin.execute(f"DROP ROLE IF EXISTS {name}")


def test_role_set_by_a_file_reaches_neither_its_history_row_nor_the_next_file(
    cli: Cli, project: Project, db: Conn, role: str
) -> None:
    project.add(1, "role", f"GRANT ALL ON SCHEMA public TO {role};\nSET ROLE {role};\nCREATE TABLE owned (id int);\n")
    project.add(2, "who", "CREATE TABLE who AS SELECT current_user::text AS u, session_user::text AS s;\n")
    project.add(3, "auth", f"SET SESSION AUTHORIZATION {role};\nCREATE TABLE owned3 (id int);\n")
    r = cli("migrate")
    assert r.exit_code == 0, r.stderr
    me = one(db, "SELECT current_user")
    assert one(db, "SELECT tableowner FROM pg_tables WHERE tablename = 'owned'") == role
    assert one(db, "SELECT u FROM who") == me and one(db, "SELECT s FROM who") == me
    assert {str(r[0]) for r in db.execute("SELECT applied_by FROM sqlmig_migrations").fetchall()} == {me}


def test_prepared_statements_cursors_listen_and_strings_are_reset(cli: Cli, project: Project, db: Conn) -> None:
    project.add(
        1,
        "leave",
        "PREPARE p AS SELECT 1;\nDECLARE c CURSOR WITH HOLD FOR SELECT 1;\nLISTEN sqlmig_test;\n"
        "SET standard_conforming_strings = off;\nSET timezone = 'Pacific/Chatham';\n",
    )
    project.add(
        2,
        "find",
        "PREPARE p AS SELECT 2;\nDECLARE c CURSOR WITH HOLD FOR SELECT 2;\n"
        "CREATE TABLE seen AS SELECT (SELECT count(*) FROM pg_listening_channels()) AS listening,"
        " length('a\\nb') AS len, current_setting('timezone') AS tz;\n",
    )
    r = cli("migrate")
    assert r.exit_code == 0, r.stderr
    row = db.execute("SELECT listening, len, tz FROM seen").fetchone()
    assert row is not None and row[:2] == (0, 4) and row[2] != "Pacific/Chatham"


def test_a_file_cannot_release_sqlmigs_lock(cli: Cli, project: Project, db: Conn) -> None:
    """The lock lives on a connection no file runs on: pg_advisory_unlock_all() in a file leaves it held."""
    project.add(1, "unlock", "SELECT pg_advisory_unlock_all();\nSELECT pg_sleep(0.2);\n")
    project.add(
        2,
        "check",
        "CREATE TABLE held AS SELECT count(*) AS n FROM pg_locks"
        " WHERE locktype = 'advisory' AND granted AND pid <> pg_backend_pid();\n",
    )
    assert cli("migrate").exit_code == 0
    assert one(db, "SELECT n FROM held") == 1


# ---- 3. a file runs once: no replay to find the failing line -------------------------------------


def test_runtime_error_is_placed_without_running_the_file_again(cli: Cli, project: Project, db: Conn) -> None:
    db.execute("CREATE SEQUENCE calls")
    project.add(1, "x", "SELECT nextval('calls');\nSELECT pg_sleep(1);\nSELECT 1/0;\n")
    started = time.monotonic()
    r = cli("migrate")
    elapsed = time.monotonic() - started
    assert r.exit_code == 1
    assert "sql/0001_x.up.sql:3:1: division by zero" in r.stderr
    assert one(db, "SELECT last_value FROM calls") == 1  # nextval ran once: the file ran once
    assert elapsed < 1.9, f"{elapsed:.1f}s: the file's own time is about 1s"
    assert history(db) == []


def test_cancelled_migration_is_not_started_again(cli: Cli, project: Project, db: Conn, database_url: str) -> None:
    db.execute("CREATE SEQUENCE calls")
    project.add(1, "slow", "CREATE TABLE t (id int);\nSELECT nextval('calls');\nSELECT pg_sleep(30);\n")

    def cancel() -> None:
        with psycopg.connect(database_url, autocommit=True) as other:
            for _ in range(200):
                row = other.execute(
                    "SELECT pg_cancel_backend(pid) FROM pg_stat_activity"
                    " WHERE application_name = 'sqlmig' AND query LIKE '%pg_sleep(30)%' AND state = 'active'"
                ).fetchone()
                if row:
                    return
                time.sleep(0.05)

    canceller = threading.Thread(target=cancel)
    canceller.start()
    started = time.monotonic()
    r = cli("migrate")
    canceller.join()
    assert r.exit_code == 1
    assert time.monotonic() - started < 10
    assert "canceling statement due to user request" in r.stderr and "0001_slow.up.sql:3:1" in r.stderr
    assert one(db, "SELECT last_value FROM calls") == 1
    assert history(db) == [] and "t" not in tables(db)


def test_failing_statement_is_shown_whole(cli: Cli, project: Project) -> None:
    project.add(1, "x", "SELECT 1;\nCREATE TABLE x (\n  id int,\n  v nosuchtype\n);\n")
    r = cli("migrate")
    assert r.exit_code == 1
    assert "0001_x.up.sql:4:5" in r.stderr
    for line in ("CREATE TABLE x (", "  id int,", "  v nosuchtype", ");"):
        assert line in r.stderr


def test_error_inside_a_do_block_names_its_line_and_context(cli: Cli, project: Project) -> None:
    project.add(
        1,
        "do",
        "CREATE TABLE t (id int);\nDO $$\nBEGIN\n  PERFORM 1;\n  PERFORM 1/0;\nEND\n$$;\n",
    )
    r = cli("migrate")
    assert r.exit_code == 1
    assert "0001_do.up.sql:5:3: division by zero" in r.stderr
    assert "CONTEXT:" in r.stderr and "inline_code_block line 4 at PERFORM" in r.stderr


def test_lock_timeout_retry_runs_each_attempt_once(cli: Cli, database_url: str, project: Project, db: Conn) -> None:
    """A transactional file rolled back by lock_timeout is retried from the start (nothing stayed)."""
    db.execute("CREATE SEQUENCE calls")
    project.add(1, "alter", "SELECT nextval('calls');\nALTER TABLE busy ADD COLUMN v int;\n")
    with busy_locked(database_url, db, release_after=1.2):
        r = cli("migrate", "--lock-timeout", "200ms", "--lock-retries", "4")
    assert r.exit_code == 0, r.stderr
    assert "retry 1 of 4" in r.stdout
    # the retry line names the session whose lock the file waited for (issue 13)
    assert "(retry 1 of 4 in 0.5s); pid " in r.stdout and "holds a lock on busy" in r.stdout, r.stdout
    assert [v for v, _, _ in history(db)] == [1]


# ---- 4. the file cannot end sqlmig's transaction unnoticed -------------------------------------------


def test_commit_hidden_from_the_scanner_leaves_nothing_behind(cli: Cli, project: Project, db: Conn) -> None:
    project.add(
        1,
        "fn",
        "CREATE TABLE kept (id int);\n"
        "CREATE FUNCTION begin() RETURNS int LANGUAGE sql AS 'SELECT 1';\n"
        "COMMIT;\n"
        "CREATE TABLE after_commit (id int);\n",
    )
    r = cli("migrate")
    assert r.exit_code in (1, 3), r.stderr
    assert "Traceback" not in r.stderr
    assert tables(db) <= {"sqlmig_migrations"}
    assert history(db) == []


def test_rollback_to_sqlmigs_savepoint_is_detected(cli: Cli, project: Project, db: Conn) -> None:
    project.add(1, "a", "CREATE TABLE a (id int);\n")
    project.add(2, "b", "CREATE TABLE b (id int);\nROLLBACK TO SAVEPOINT sqlmig_file;\n")
    r = cli("migrate", "--single-transaction")
    assert r.exit_code == 1
    assert "savepoint" in r.stderr and "0002_b.up.sql" in r.stderr
    assert "applied 0001" not in r.stdout
    assert tables(db) <= {"sqlmig_migrations"} and history(db) == []


def test_transaction_ended_by_the_file_is_recorded_as_failed(
    cli: Cli, project: Project, db: Conn, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whatever the checks believe: with them switched off, a COMMIT in a file is caught at its end."""
    import sqlmig.file_checks

    monkeypatch.setattr(sqlmig.file_checks, "files_problems", lambda files: [])
    project.add(1, "commit", "CREATE TABLE a1 (id int);\nCOMMIT;\nCREATE TABLE a2 (id int);\n")
    r = cli("migrate")
    assert r.exit_code == 1
    assert "ended the transaction sqlmig opened for it" in r.stderr
    assert "the history marks 1 as failed" in r.stderr
    assert states(db) == [(1, "failed")]
    assert "a1" in tables(db)  # committed by the file itself: the history says failed, not pending
    again = cli("migrate")
    assert again.exit_code == 3 and "repair --resolve 1" in again.stderr


# ---- 6. output tells the truth; 7. COPY TO STDOUT ----------------------------------------------------


def test_single_transaction_failure_prints_nothing_as_applied(cli: Cli, project: Project, db: Conn) -> None:
    project.add(1, "a", "CREATE TABLE a (id int);\n")
    project.add(2, "b", "CREATE TABLE b (id int);\n")
    project.add(3, "bad", "SELECT 1/0;\n")
    r = cli("migrate", "--single-transaction")
    assert r.exit_code == 1
    assert "applied" not in r.stdout
    assert "no migration of this run stays applied" in r.stderr
    assert "rolled back" in r.stderr
    doc = json.loads(cli("migrate", "--single-transaction", "--json").stdout)
    assert doc["ran"] == [1, 2] and doc["stayed"] == []
    assert tables(db) == {"sqlmig_migrations"}


def test_json_error_lists_what_this_run_applied_and_what_stayed(cli: Cli, project: Project) -> None:
    project.add(1, "a", "CREATE TABLE a (id int);\n")
    project.add(2, "bad", "CREATE TABLE b (id int);\nSELECT 1/0;\n")
    r = cli("migrate", "--json")
    assert r.exit_code == 1
    doc = json.loads(r.stdout)
    assert doc["ran"] == [1] and doc["stayed"] == [1]
    assert doc["outcome"] == "the migration was rolled back"
    assert doc["line"] == 2 and doc["statement"] == "SELECT 1/0;"


def test_copy_to_stdout_is_refused_before_running(cli: Cli, project: Project, db: Conn) -> None:
    project.add(1, "t", "CREATE TABLE t (id int);\n")
    project.add(
        2, "out", "INSERT INTO t VALUES (1);\nCOPY t TO STDOUT;\nCOPY (SELECT 1) TO stdout WITH (FORMAT csv);\n"
    )
    r = cli("migrate")
    assert r.exit_code == 3
    assert "0002_out.up.sql:2:1: COPY ... TO STDOUT" in r.stderr and "0002_out.up.sql:3:1" in r.stderr
    assert tables(db) == set()  # refused before anything: not even the history table


# ---- 5. no-transaction files: the history tells what happened -----------------------------------------

NT = "-- sqlmig:no-transaction\n"


def test_leading_set_does_not_make_a_failed_file_partial(cli: Cli, project: Project, db: Conn) -> None:
    project.add(1, "x", NT + "SET lock_timeout = '1s';\nCREATE INDEX CONCURRENTLY i ON nosuch (id);\n")
    r = cli("migrate")
    assert r.exit_code == 1
    assert "nothing of it took effect" in r.stderr and "rolled back" not in r.stderr
    assert states(db) == []


def test_failed_single_concurrent_index_is_named_with_its_drop(cli: Cli, project: Project, db: Conn) -> None:
    project.add(1, "t", "CREATE TABLE t (id int, v int);\nINSERT INTO t VALUES (1, 1), (2, 1);\n")
    project.add(2, "uniq", NT + "CREATE UNIQUE INDEX CONCURRENTLY t_v_key ON t (v);\n")
    r = cli("migrate")
    assert r.exit_code == 1
    assert "it left index public.t_v_key on t INVALID" in r.stderr
    assert 'DROP INDEX CONCURRENTLY "public"."t_v_key"' in r.stderr
    assert "rolled back" not in r.stderr
    assert states(db) == [(1, "applied"), (2, "failed")]
    assert one(db, "SELECT indisvalid FROM pg_index WHERE indexrelid = 't_v_key'::regclass") is False
    for command in ("status", "validate"):
        out = cli(command)
        assert "index public.t_v_key on t: is INVALID" in out.stdout + out.stderr, command
        assert "DROP INDEX CONCURRENTLY" in out.stdout + out.stderr, command


def test_lock_retries_never_run_a_statement_that_took_effect_again(
    cli: Cli, database_url: str, project: Project, db: Conn
) -> None:
    db.execute("CREATE TABLE counter (n int)")
    db.execute("INSERT INTO counter VALUES (0)")
    project.add(1, "nt", NT + "UPDATE counter SET n = n + 1;\nALTER TABLE busy ADD COLUMN v int;\n")
    with busy_locked(database_url, db):
        r = cli("migrate", "--lock-timeout", "100ms", "--lock-retries", "3")
    assert r.exit_code == 1
    assert "retry" not in r.stdout
    assert one(db, "SELECT n FROM counter") == 1
    assert "1 statement before it took effect and stays" in r.stderr
    assert states(db) == [(1, "failed")]


def test_lock_retries_retry_a_no_transaction_file_while_nothing_took_effect(
    cli: Cli, database_url: str, project: Project, db: Conn
) -> None:
    project.add(1, "nt", NT + "SET lock_timeout = '100ms';\nALTER TABLE busy ADD COLUMN v int;\n")
    with busy_locked(database_url, db, release_after=0.8):
        r = cli("migrate", "--lock-retries", "4")
    assert r.exit_code == 0, r.stderr
    assert "retry 1 of 4" in r.stdout
    assert states(db) == [(1, "applied")]


def test_begin_without_commit_is_refused(cli: Cli, project: Project, db: Conn) -> None:
    project.add(1, "open", NT + "CREATE TABLE t0 (id int);\nBEGIN;\nCREATE TABLE t1 (id int);\n")
    r = cli("migrate")
    assert r.exit_code == 3
    assert "0001_open.up.sql:3:1: this BEGIN is never ended" in r.stderr
    assert tables(db) == set()  # refused before anything: not even the history table
    project.add(2, "closed", NT + "BEGIN;\nCREATE TABLE t2 (id int);\nCOMMIT;\n")
    (project.sql / "0001_open.up.sql").unlink()
    (project.sql / "0001_open.down.sql").unlink()
    assert cli("migrate").exit_code == 0
    assert states(db) == [(2, "applied")]


def test_transaction_left_open_is_detected_at_run_time(
    cli: Cli, project: Project, db: Conn, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sqlmig.file_checks

    monkeypatch.setattr(sqlmig.file_checks, "files_problems", lambda files: [])
    project.add(1, "open", NT + "CREATE TABLE t0 (id int);\nBEGIN;\nCREATE TABLE t1 (id int);\n")
    r = cli("migrate")
    assert r.exit_code == 1
    assert "0001_open.up.sql:3:1: the file leaves a transaction open" in r.stderr
    assert "applied" not in r.stdout
    assert states(db) == [(1, "failed")]
    assert "t0" in tables(db) and "t1" not in tables(db)


def test_history_write_denied_after_the_file_ran_is_recorded_as_failed(cli: Cli, project: Project, db: Conn) -> None:
    project.add(
        1,
        "deny",
        "CREATE FUNCTION deny() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN IF NEW.version = 2 AND NEW.state = "
        "'applied' THEN RAISE EXCEPTION 'history write denied'; END IF; RETURN NEW; END$$;\n"
        "CREATE TRIGGER deny BEFORE INSERT ON sqlmig_migrations FOR EACH ROW EXECUTE FUNCTION deny();\n",
    )
    project.add(2, "nt", NT + "CREATE TABLE t2 (id int);\n")
    r = cli("migrate")
    assert r.exit_code == 1
    assert "ran to its end, but the history could not record it as applied: history write denied" in r.stderr
    assert "the history marks 2 as failed" in r.stderr
    assert states(db) == [(1, "applied"), (2, "failed")]
    assert "t2" in tables(db)


class Logins(NamedTuple):
    """A login role (deployer) that is a member of a NOLOGIN role (owner), and its URL."""

    deployer: str
    owner: str
    url: str


@pytest.fixture(params=[False])
def logins(request: pytest.FixtureRequest, database_url: str, db: Conn, server_url: str) -> Iterator[Logins]:
    """Roles for least-privilege tests; with param True, the deployer's default role is the owner
    (ALTER ROLE deployer SET role = owner). Both may create in the database and in public."""
    from psycopg.conninfo import make_conninfo

    suffix = uuid.uuid4().hex[:8]
    deployer, owner = f"dep_{suffix}", f"own_{suffix}"
    dbname = one(db, "SELECT current_database()")
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(f"CREATE ROLE {owner} NOLOGIN")
        admin.execute(f"CREATE ROLE {deployer} LOGIN IN ROLE {owner}")
        if request.param:
            admin.execute(f"ALTER ROLE {deployer} SET role = '{owner}'")
        admin.execute(f'GRANT CREATE ON DATABASE "{dbname}" TO {deployer}, {owner}')
    db.execute(f"GRANT CREATE, USAGE ON SCHEMA public TO {deployer}, {owner}")
    try:
        yield Logins(deployer, owner, make_conninfo(database_url, user=deployer))
    finally:
        db.execute(f"DROP OWNED BY {deployer}, {owner}")
        with psycopg.connect(server_url, autocommit=True) as admin:
            admin.execute(f"DROP OWNED BY {deployer}, {owner}")
            admin.execute(f'REVOKE ALL ON DATABASE "{dbname}" FROM {deployer}, {owner}')
            admin.execute(f"DROP ROLE {deployer}")
            admin.execute(f"DROP ROLE {owner}")


def test_a_role_without_superuser_runs_files_that_switch_roles(project: Project, db: Conn, logins: Logins) -> None:
    """The reset between files and the history write as the connecting user need no privilege."""
    from .support import run_cli

    project.add(1, "owned", f"SET ROLE {logins.owner};\nCREATE TABLE owned (id int);\n", "DROP TABLE owned;\n")
    project.add(2, "temp", "CREATE TEMP TABLE scratch (id int);\n", "SELECT 1;\n")
    r = run_cli("--database-url", logins.url, "migrate")
    assert r.exit_code == 0, r.stderr
    assert one(db, "SELECT tableowner FROM pg_tables WHERE tablename = 'owned'") == logins.owner
    assert {str(r[0]) for r in db.execute("SELECT applied_by FROM sqlmig_migrations").fetchall()} == {logins.deployer}
    assert run_cli("--database-url", logins.url, "down", "--all").exit_code == 0
    assert history(db) == []


def test_lock_timeout_retry_inside_a_single_transaction(
    cli: Cli, database_url: str, project: Project, db: Conn
) -> None:
    project.add(1, "a", "CREATE TABLE a (id int);\n")
    project.add(2, "alter", "ALTER TABLE busy ADD COLUMN v int;\n")
    with busy_locked(database_url, db, release_after=0.8):
        r = cli("migrate", "--single-transaction", "--lock-timeout", "100ms", "--lock-retries", "4")
    assert r.exit_code == 0, r.stderr
    assert "retry 1 of 4" in r.stdout
    assert [v for v, _, _ in history(db)] == [1, 2] and "a" in tables(db)


DEFERRED = (
    "CREATE TABLE p (id int PRIMARY KEY);\n"
    "CREATE TABLE c (pid int REFERENCES p DEFERRABLE INITIALLY DEFERRED);\n"
    "INSERT INTO c VALUES (1);\n"
)


@pytest.mark.parametrize("flags", [[], ["--single-transaction"]])
def test_deferred_constraint_failing_at_commit(cli: Cli, project: Project, db: Conn, flags: list[str]) -> None:
    project.add(1, "a", "CREATE TABLE a (id int);\n")
    project.add(2, "deferred", DEFERRED)
    r = cli("migrate", *flags)
    assert r.exit_code == 1, r.stderr
    assert "COMMIT" in r.stderr and "23503" in r.stderr and "Traceback" not in r.stderr
    assert "p" not in tables(db) and "applied 0002" not in r.stdout
    expected = [] if flags else [1]
    assert [v for v, _, _ in history(db)] == expected


# ---- found by a hostile review ----------------------------------------------------------------------


@pytest.mark.parametrize("logins", [True], indirect=True)
def test_a_logins_default_role_writes_the_history_as_before(project: Project, db: Conn, logins: Logins) -> None:
    """ALTER ROLE deployer SET role = owner: files and history rows run as owner, as a new session would."""
    from .support import run_cli

    project.add(1, "a", "CREATE TABLE a (id int);\n", "DROP TABLE a;\n")
    project.add(2, "b", f"SET ROLE {logins.deployer};\nSELECT 1;\n", "SELECT 1;\n")
    r = run_cli("--database-url", logins.url, "migrate")
    assert r.exit_code == 0, r.stderr
    assert {str(r[0]) for r in db.execute("SELECT applied_by FROM sqlmig_migrations").fetchall()} == {logins.owner}


KILL_CONTROL = (
    "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity WHERE application_name = 'sqlmig'"
    " AND pid <> pg_backend_pid() AND datname = current_database();\n"
)


def test_run_stops_when_the_lock_holding_connection_is_gone(cli: Cli, project: Project, db: Conn) -> None:
    project.add(1, "kill", KILL_CONTROL)
    project.add(2, "t2", NT + "CREATE TABLE t2 (id int);\n")
    r = cli("migrate")
    assert r.exit_code == 4, r.stderr
    assert "the connection holding sqlmig's lock was lost before sql/0002_t2.up.sql" in r.stderr
    assert [v for v, _, _ in history(db)] == [1] and "t2" not in tables(db)


def test_a_lock_lost_during_a_batch_fails_the_run_and_the_history_holds(cli: Cli, project: Project, db: Conn) -> None:
    # Transactional files run back to back in one pipeline: the loss is seen after them, and
    # what they did is recorded with them.
    project.add(1, "kill", KILL_CONTROL)
    project.add(2, "t2", "CREATE TABLE t2 (id int);\n")
    r = cli("migrate")
    assert r.exit_code == 4, r.stderr
    assert "the connection holding sqlmig's lock was lost during this run (after sql/0002_t2.up.sql)" in r.stderr
    assert [v for v, _, _ in history(db)] == [1, 2] and "t2" in tables(db)
    again = cli("migrate")
    assert again.exit_code == 0 and "nothing to apply" in again.stdout.lower(), again.stdout + again.stderr


def test_idle_session_timeout_does_not_end_the_lock(project: Project, database_url: str, db: Conn) -> None:
    from psycopg.conninfo import make_conninfo

    from .support import run_cli

    project.add(1, "slow", "SELECT pg_sleep(1.2);\n")
    project.add(2, "t2", "CREATE TABLE t2 (id int);\n")
    url = make_conninfo(database_url, options="-c idle_session_timeout=300")
    r = run_cli("--database-url", url, "migrate")
    assert r.exit_code == 0, r.stderr
    assert [v for v, _, _ in history(db)] == [1, 2]


def test_commit_and_chain_counts_what_it_committed(cli: Cli, project: Project, db: Conn) -> None:
    project.add(1, "chain", NT + "BEGIN;\nCREATE TABLE chained (id int);\nCOMMIT AND CHAIN;\nSELECT 1/0;\nCOMMIT;\n")
    r = cli("migrate")
    assert r.exit_code == 1
    assert "1 statement before it took effect and stays" in r.stderr
    assert states(db) == [(1, "failed")] and "chained" in tables(db)


def test_rolled_back_block_in_a_no_transaction_file_took_no_effect(cli: Cli, project: Project, db: Conn) -> None:
    project.add(1, "rb", NT + "BEGIN;\nCREATE TABLE rolled (id int);\nROLLBACK;\nSELECT 1/0;\n")
    r = cli("migrate")
    assert r.exit_code == 1
    assert "nothing of it took effect" in r.stderr
    assert states(db) == [] and "rolled" not in tables(db)


def test_do_block_that_commits_is_never_retried(cli: Cli, database_url: str, project: Project, db: Conn) -> None:
    db.execute("CREATE TABLE log (n int)")
    project.add(1, "do", NT + "DO $$\nBEGIN\n  INSERT INTO log VALUES (1);\n  COMMIT;\n  LOCK TABLE busy;\nEND\n$$;\n")
    with busy_locked(database_url, db):
        r = cli("migrate", "--lock-timeout", "100ms", "--lock-retries", "3")
    assert r.exit_code == 1
    assert "retry" not in r.stdout
    assert one(db, "SELECT count(*) FROM log") == 1
    assert "may have committed part of its own work" in r.stderr
    assert states(db) == [(1, "failed")]


def test_a_file_cannot_reach_sqlmigs_savepoint(cli: Cli, database_url: str, project: Project, db: Conn) -> None:
    db.execute("CREATE TABLE log (n int)")
    project.add(
        1,
        "sp",
        "INSERT INTO log VALUES (1);\nRELEASE SAVEPOINT sqlmig_file;\nSAVEPOINT sqlmig_file;\nLOCK TABLE busy;\n",
    )
    with busy_locked(database_url, db):
        r = cli("migrate", "--single-transaction", "--lock-timeout", "100ms", "--lock-retries", "3")
    assert r.exit_code == 1
    assert "0001_sp.up.sql:2:1" in r.stderr and "retry" not in r.stdout
    assert one(db, "SELECT count(*) FROM log") == 0 and history(db) == []


def test_client_encoding_set_by_a_file_does_not_garble_its_history_row(cli: Cli, project: Project, db: Conn) -> None:
    up, _ = project.add(1, "enc", "-- café, naïve, 10 €\nSET client_encoding = 'LATIN1';\nCREATE TABLE t (id int);\n")
    assert cli("migrate").exit_code == 0
    assert one(db, "SELECT applied_sql FROM sqlmig_migrations") == up.read_text(encoding="utf-8")
    assert "identical" in cli("diff", "1").stdout or cli("diff", "1").exit_code == 0


def test_a_timeout_the_server_refuses_is_a_clean_error(cli: Cli, project: Project, db: Conn) -> None:
    project.add(1, "nt", NT + "CREATE TABLE t (id int);\n")
    r = cli("migrate", "--lock-timeout", "99999999999ms")
    assert r.exit_code == 2, r.stderr  # refused with the settings, before connecting (test_hostile_settings)
    assert "Traceback" not in r.stderr and "for lock_timeout (from flag)" in r.stderr
    assert tables(db) == set()  # not even the history table


def test_do_block_with_a_language_clause_is_placed_on_its_line(cli: Cli, project: Project) -> None:
    project.add(1, "do", "DO LANGUAGE 'plpgsql'\n$$\nBEGIN\n  RAISE NOTICE 'one';\n  PERFORM 1/0;\nEND\n$$;\n")
    r = cli("migrate")
    assert r.exit_code == 1
    assert "0001_do.up.sql:5:3: division by zero" in r.stderr


def test_one_migration_stays_in_the_singular(cli: Cli, project: Project) -> None:
    project.add(1, "a", "CREATE TABLE a (id int);\n")
    project.add(2, "bad", "SELECT 1/0;\n")
    r = cli("migrate")
    assert "1 migration of this run stays applied (1)" in r.stderr


@pytest.mark.parametrize(
    ("text", "needle"), [("SELECT 1 AS x \\gset\n", "\\gset"), ("SELECT 1 \\; SELECT 2;\n", "\\;")]
)
def test_psql_command_after_sql_on_a_line_is_refused_before_running(
    cli: Cli, project: Project, db: Conn, text: str, needle: str
) -> None:
    project.add(1, "a", "CREATE TABLE a (id int);\n")
    project.add(2, "psql", text)
    assert cli("validate", "--files-only").exit_code == 3
    r = cli("migrate")
    assert r.exit_code == 3
    assert f"0002_psql.up.sql:1: psql meta-command {needle}" in r.stderr
    assert tables(db) == set()  # refused before anything: not even the history table


def test_a_block_closed_by_end_is_a_complete_no_transaction_file(cli: Cli, project: Project, db: Conn) -> None:
    """END is COMMIT: the checks accept the block, and its statements count as taken effect."""
    project.add(1, "end", NT + "BEGIN;\nCREATE TABLE t1 (id int);\nEND;\nSELECT 1/0;\n")
    r = cli("migrate")
    assert r.exit_code == 1, r.stderr
    assert "1 statement before it took effect and stays" in r.stderr
    assert states(db) == [(1, "failed")] and "t1" in tables(db)
