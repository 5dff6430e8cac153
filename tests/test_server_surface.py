"""Real servers, real roles (issue 13): a locked-down role, a history table sqlmig does not own,
privileges and modes that refuse, encodings other than UTF-8. Each ends in a clear message and its
documented exit code, never a traceback, and nothing is written that should not be.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator

import psycopg
import pytest
from psycopg.conninfo import make_conninfo

from .support import Cli, Conn, Project, Result, history, run_cli, tables

pytestmark = pytest.mark.reliability

Login = Callable[..., str]


def one(db: Conn, query: str) -> object:
    row = db.execute(query).fetchone()
    assert row is not None
    return row[0]


def clean(r: Result) -> None:
    assert "Traceback" not in r.stdout + r.stderr, r.stdout + r.stderr


@pytest.fixture
def login(server_url: str, database_url: str, db: Conn) -> Iterator[Login]:
    """login(*grants_on_public) -> the URL of a new LOGIN role in the test's database, with only
    CONNECT (PUBLIC's) and the given privileges on schema public: the production set-up."""
    made: list[str] = []
    dbname = str(one(db, "SELECT current_database()"))

    def make(*on_public: str) -> str:
        name = "app_" + uuid.uuid4().hex[:8]
        with psycopg.connect(server_url, autocommit=True) as admin:
            admin.execute(f"CREATE ROLE {name} LOGIN")
        made.append(name)
        if on_public:
            db.execute(f"GRANT {', '.join(on_public)} ON SCHEMA public TO {name}")
        return make_conninfo(database_url, user=name)

    yield make
    for name in made:
        db.execute(f"DROP OWNED BY {name}")
        with psycopg.connect(server_url, autocommit=True) as admin:
            admin.execute(f'REVOKE ALL ON DATABASE "{dbname}" FROM {name}')
            admin.execute(f"DROP ROLE {name}")


# ---- the least-privilege role --------------------------------------------------------------------


def test_a_role_without_create_on_the_database_migrates_into_public(project: Project, login: Login, db: Conn) -> None:
    url = login("CREATE", "USAGE")
    project.add(1, "items", "CREATE TABLE items (id int);\n", "DROP TABLE items;\n")
    for command in (["migrate"], ["status"], ["validate"], ["down"], ["migrate"]):
        r = run_cli("--database-url", url, *command)
        clean(r)
        assert r.exit_code == 0, (command, r.stderr)
    assert [v for v, _, _ in history(db)] == [1] and "items" in tables(db)


# ---- a history table sqlmig does not own -----------------------------------------------------------


@pytest.mark.parametrize("command", ["migrate", "status", "validate", "down"])
def test_another_tools_table_of_that_name_is_refused_and_left_alone(
    cli: Cli, project: Project, db: Conn, command: str
) -> None:
    db.execute("CREATE TABLE sqlmig_migrations (version bigint PRIMARY KEY, dirty boolean NOT NULL)")
    db.execute("INSERT INTO sqlmig_migrations VALUES (20240101, false)")
    project.add(1, "items", "CREATE TABLE items (id int);\n")
    r = cli(command)
    clean(r)
    assert r.exit_code == 3, r.stdout + r.stderr
    assert "public.sqlmig_migrations" in r.stderr and "not sqlmig's history" in r.stderr, r.stderr
    assert "dirty" in r.stderr and "history_table" in r.stderr, r.stderr
    columns = db.execute(
        "SELECT attname FROM pg_attribute WHERE attrelid = 'sqlmig_migrations'::regclass AND attnum > 0 ORDER BY attnum"
    ).fetchall()
    assert [c[0] for c in columns] == ["version", "dirty"]
    assert "items" not in tables(db)


def test_a_view_of_that_name_is_refused(cli: Cli, project: Project, db: Conn) -> None:
    db.execute("CREATE VIEW sqlmig_migrations AS SELECT 1 AS version")
    project.add(1, "items", "CREATE TABLE items (id int);\n")
    for command in ("migrate", "status"):
        r = cli(command)
        clean(r)
        assert r.exit_code == 3, r.stdout + r.stderr
        assert "public.sqlmig_migrations is a view, not sqlmig's history table" in r.stderr, r.stderr
    assert "items" not in tables(db)


def test_another_history_table_can_be_chosen(cli: Cli, project: Project, db: Conn) -> None:
    db.execute("CREATE TABLE sqlmig_migrations (version bigint PRIMARY KEY, dirty boolean NOT NULL)")
    project.add(1, "items", "CREATE TABLE items (id int);\n")
    r = cli("migrate", env={"SQLMIG_HISTORY_TABLE": "schema_history"})
    assert r.exit_code == 0, r.stderr
    assert [v for v, _, _ in history(db, "public.schema_history")] == [1]


# ---- privileges and modes --------------------------------------------------------------------------


def test_status_without_select_on_the_history(cli: Cli, project: Project, login: Login, db: Conn) -> None:
    project.add(1, "items", "CREATE TABLE items (id int);\n")
    assert cli("migrate").exit_code == 0
    url = login("USAGE")
    for command in ("status", "validate"):
        r = run_cli("--database-url", url, command)
        clean(r)
        assert r.exit_code == 1, r.stdout + r.stderr
        assert "cannot read the history table public.sqlmig_migrations" in r.stderr, r.stderr
        assert "permission denied" in r.stderr and "GRANT SELECT ON public.sqlmig_migrations" in r.stderr, r.stderr


def test_history_write_refused_is_not_blamed_on_the_file(project: Project, login: Login, db: Conn) -> None:
    url = login("CREATE", "USAGE")
    project.add(1, "items", "CREATE TABLE items (id int);\n")
    assert run_cli("--database-url", url, "migrate").exit_code == 0
    project.add(2, "more", "CREATE TABLE more (id int);\n")
    user = str(psycopg.conninfo.conninfo_to_dict(url)["user"])
    db.execute(f"REVOKE INSERT ON sqlmig_migrations FROM {user}")
    db.execute(f"ALTER TABLE sqlmig_migrations OWNER TO {one(db, 'SELECT current_user')}")
    db.execute(f"GRANT SELECT, UPDATE, DELETE ON sqlmig_migrations TO {user}")
    r = run_cli("--database-url", url, "migrate")
    clean(r)
    assert r.exit_code == 1, r.stdout + r.stderr
    assert "writing its history row failed" in r.stderr and "permission denied" in r.stderr, r.stderr
    assert "INSERT" in r.stderr, r.stderr
    assert [v for v, _, _ in history(db)] == [1] and "more" not in tables(db)


def test_advisory_lock_function_revoked(cli: Cli, project: Project, login: Login, db: Conn) -> None:
    url = login("CREATE", "USAGE")
    db.execute("REVOKE EXECUTE ON FUNCTION pg_try_advisory_lock(bigint) FROM PUBLIC")
    project.add(1, "items", "CREATE TABLE items (id int);\n")
    r = run_cli("--database-url", url, "migrate")
    clean(r)
    assert r.exit_code == 1, r.stdout + r.stderr
    assert "cannot take sqlmig's lock" in r.stderr and "pg_try_advisory_lock" in r.stderr, r.stderr
    assert "GRANT EXECUTE ON FUNCTION pg_try_advisory_lock(bigint)" in r.stderr, r.stderr
    assert "items" not in tables(db)


def test_a_read_only_database(cli: Cli, project: Project, db: Conn) -> None:
    dbname = one(db, "SELECT current_database()")
    db.execute(f'ALTER DATABASE "{dbname}" SET default_transaction_read_only = on')
    project.add(1, "items", "CREATE TABLE items (id int);\n")
    r = cli("migrate")
    clean(r)
    assert r.exit_code == 1, r.stdout + r.stderr
    assert "read-only" in r.stderr and "default_transaction_read_only" in r.stderr, r.stderr
    assert "items" not in tables(db)
    # status reads only: it works on a read-only database
    r = cli("status")
    assert r.exit_code == 0, r.stderr


@pytest.mark.parametrize("schema", ["pg_catalog", "pg_temp", "pg_toast", "information_schema", "PG_CATALOG"])
def test_a_system_schema_for_the_history_is_a_configuration_error(cli: Cli, project: Project, schema: str) -> None:
    project.add(1, "items", "CREATE TABLE items (id int);\n")
    for command in ("migrate", "status"):
        r = cli(command, env={"SQLMIG_HISTORY_SCHEMA": schema})
        clean(r)
        assert r.exit_code == 2, r.stdout + r.stderr
        assert "history_schema" in r.stderr and "SQLMIG_HISTORY_SCHEMA" in r.stderr, r.stderr


def test_a_role_statement_timeout_shorter_than_the_lock_wait(
    cli: Cli, project: Project, login: Login, db: Conn, database_url: str
) -> None:
    url = login("CREATE", "USAGE")
    user = str(psycopg.conninfo.conninfo_to_dict(url)["user"])
    db.execute(f"ALTER ROLE {user} SET statement_timeout = '100ms'")
    project.add(1, "items", "CREATE TABLE items (id int);\n")
    from sqlmig.db.lock import lock_key

    with psycopg.connect(database_url, autocommit=True) as holder:
        holder.execute("SELECT pg_advisory_lock(%s)", (lock_key("public", "sqlmig_migrations"),))
        started = time.monotonic()
        r = run_cli("--database-url", url, "migrate", "--lock-wait", "1.5")
        waited = time.monotonic() - started
    clean(r)
    assert r.exit_code == 4, r.stdout + r.stderr
    assert "lock" in r.stderr and waited >= 1.4
    assert "items" not in tables(db)


def test_backend_terminated_while_waiting_for_the_lock(cli: Cli, project: Project, db: Conn, database_url: str) -> None:
    from sqlmig.db.lock import lock_key

    project.add(1, "items", "CREATE TABLE items (id int);\n")
    with psycopg.connect(database_url, autocommit=True) as holder:
        holder.execute("SELECT pg_advisory_lock(%s)", (lock_key("public", "sqlmig_migrations"),))
        holder_pid = holder.info.backend_pid

        def terminate() -> None:
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                rows = db.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'sqlmig'"
                    " AND datname = current_database() AND pid <> %s",
                    (holder_pid,),
                ).fetchall()
                if rows:
                    return
                time.sleep(0.05)

        killer = threading.Thread(target=terminate)
        killer.start()
        r = cli("migrate", "--lock-wait", "20")
        killer.join()
    clean(r)
    assert r.exit_code == 4, r.stdout + r.stderr
    assert "while waiting for sqlmig's lock: the connection was lost" in r.stderr and "terminat" in r.stderr, r.stderr
    assert "items" not in tables(db)


def test_a_deadlock_victim(cli: Cli, project: Project, db: Conn, database_url: str) -> None:
    """The file takes a then b; another session holds b and then asks for a. The server picks a
    victim: if it is the file, the run fails at the statement that waited, and nothing stays."""
    db.execute("CREATE TABLE a (id int); CREATE TABLE b (id int)")
    project.add(1, "dead", "LOCK TABLE a;\nSELECT pg_sleep(1);\nLOCK TABLE b;\n")
    with psycopg.connect(database_url) as other:
        other.execute("SET deadlock_timeout = '5s'")  # the file's backend detects it first: it is the victim
        other.execute("LOCK TABLE b")

        def lock_a() -> None:
            time.sleep(0.5)
            other.execute("LOCK TABLE a")
            other.rollback()

        t = threading.Thread(target=lock_a)
        t.start()
        r = cli("migrate")
        t.join()
    clean(r)
    assert r.exit_code == 1, r.stdout + r.stderr
    assert "deadlock detected" in r.stderr and "0001_dead.up.sql:3:1" in r.stderr, r.stderr
    assert history(db) == []


# ---- encodings ---------------------------------------------------------------------------------


@pytest.fixture(params=["LATIN1", "SQL_ASCII"])
def encoded_url(request: pytest.FixtureRequest, server_url: str) -> Iterator[str]:
    """A database in another encoding than UTF-8."""
    name = "enc_" + uuid.uuid4().hex[:10]
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(
            f"CREATE DATABASE {name} ENCODING '{request.param}' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0"
        )
    try:
        yield make_conninfo(server_url, dbname=name)
    finally:
        with psycopg.connect(server_url, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def test_a_euro_sign_in_a_comment_on_a_non_utf8_database(project: Project, encoded_url: str) -> None:
    project.add(1, "items", "-- prices in € (euro)\nCREATE TABLE items (id int, note text DEFAULT 'café');\n")
    project.add(2, "nt", "-- sqlmig:no-transaction\n-- € again\nCREATE TABLE nt (id int);\n")
    r = run_cli("--database-url", encoded_url, "migrate")
    clean(r)
    with psycopg.connect(encoded_url, autocommit=True, client_encoding="UTF8") as conn:
        encoding = one(conn, "SHOW server_encoding")
        names = tables(conn)
    if encoding == "SQL_ASCII":
        # no conversion: the bytes are stored as they are, and both files apply
        assert r.exit_code == 0, r.stderr
        assert {"items", "nt"} <= names
        with psycopg.connect(encoded_url, autocommit=True, client_encoding="UTF8") as conn:
            kept = conn.execute("SELECT applied_sql FROM sqlmig_migrations ORDER BY version").fetchall()
        assert [str(k[0]).splitlines()[0] for k in kept] == ["-- prices in € (euro)", "-- sqlmig:no-transaction"]
    else:
        # LATIN1 has no €: refused before anything runs, at file:line:column, both files at once
        assert r.exit_code == 3, r.stdout + r.stderr
        assert "0001_items.up.sql:1:14: '€' (U+20AC) has no equivalent in the database's encoding LATIN1" in r.stderr
        assert "0002_nt.up.sql:2:4" in r.stderr, r.stderr
        assert not names
    r = run_cli("--database-url", encoded_url, "status")
    clean(r)
    assert r.exit_code == 0, r.stderr
    assert "b'" not in r.stdout, r.stdout


def test_latin1_characters_apply_on_a_latin1_database(project: Project, encoded_url: str) -> None:
    project.add(1, "cafe", "-- café\nCREATE TABLE café (note text DEFAULT 'crème');\n", "DROP TABLE café;\n")
    r = run_cli("--database-url", encoded_url, "migrate")
    clean(r)
    assert r.exit_code == 0, r.stderr
    r = run_cli("--database-url", encoded_url, "status")
    assert r.exit_code == 0 and "cafe  applied" in r.stdout, r.stdout + r.stderr
    assert run_cli("--database-url", encoded_url, "down").exit_code == 0


def test_a_file_that_drops_the_historys_schema_is_told_so(cli: Cli, project: Project, db: Conn) -> None:
    project.add(1, "first", "CREATE TABLE first (id int);\n")
    assert cli("migrate").exit_code == 0
    project.add(2, "reset", "DROP SCHEMA public CASCADE;\nCREATE SCHEMA public;\n")
    r = cli("migrate")
    clean(r)
    assert r.exit_code == 1, r.stdout + r.stderr
    assert "writing its history row failed" in r.stderr and "drops sqlmig's history table" in r.stderr, r.stderr
    assert [v for v, _, _ in history(db)] == [1] and "first" in tables(db)  # rolled back with the file


# ---- waits that say what they wait for ---------------------------------------------------------


def test_waiting_for_the_lock_says_who_holds_it(cli: Cli, project: Project, db: Conn, database_url: str) -> None:
    from sqlmig.db.lock import lock_key

    project.add(1, "items", "CREATE TABLE items (id int);\n")
    with psycopg.connect(database_url, autocommit=True, application_name="the_other_run") as holder:
        holder.execute("SELECT pg_advisory_lock(%s)", (lock_key("public", "sqlmig_migrations"),))
        pid = holder.info.backend_pid
        r = cli("migrate", "--lock-wait", "1")
        status = cli("status")
        status_json = cli("--json", "status")
    assert r.exit_code == 4, r.stderr
    waiting = [line for line in r.stderr.splitlines() if "waiting for sqlmig's lock" in line]
    assert len(waiting) == 1, r.stderr  # said once; the reminders are for terminals, not CI logs
    assert f"held by pid {pid} (application_name the_other_run" in waiting[0], waiting
    assert "up to 1s" in waiting[0]
    assert status.exit_code == 0 and "a sqlmig run is in progress" in status.stderr, status.stderr
    assert f"pid {pid}" in status.stderr
    import json

    assert f"pid {pid}" in json.loads(status_json.stdout)["running"]
    assert json.loads(cli("--json", "status").stdout)["running"] is None


def test_waiting_for_the_server_says_so_and_the_hint_fits(project: Project) -> None:
    import socket

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"postgresql://someone@127.0.0.1:{port}/nothing"
    waited = run_cli("--database-url", url, "status", "--wait", "1.2")
    clean(waited)
    assert waited.exit_code == 4, waited.stderr
    assert waited.stderr.count(f"waiting for the database at postgresql://someone@127.0.0.1:{port}/nothing") == 1
    assert "(up to 1.2s)" in waited.stderr and "--wait SECONDS retries" not in waited.stderr, waited.stderr
    at_once = run_cli("--database-url", url, "status")
    assert at_once.exit_code == 4 and "--wait SECONDS retries" in at_once.stderr, at_once.stderr
    assert "waiting for" not in at_once.stderr


def test_a_wait_is_told_once_and_reminded_only_on_a_terminal() -> None:
    import io

    from sqlmig.db.connect import WaitNotice
    from sqlmig.events import Waiting
    from sqlmig.render import choose

    told: list[tuple[str, bool]] = []
    notice = WaitNotice(lambda text, again: told.append((text, again)), every=0.0)
    asked: list[int] = []

    def text() -> str:  # asked only when it is time to tell
        asked.append(1)
        return f"waiting for x ({len(asked)})"

    for _ in range(3):
        notice(text)
    assert [again for _, again in told] == [False, True, True]
    assert told[0][0] == "waiting for x (1)" and told[1][0].startswith("still waiting for x (2) (")
    quiet = WaitNotice(lambda text, again: told.append((text, again)), every=60.0)
    quiet("first")
    quiet(lambda: pytest.fail("not asked when it is not time to tell"))

    log = io.StringIO()
    out = choose(stderr=log, stdout=io.StringIO(), tty=False)
    out.notice(Waiting("waiting for the lock", again=False))
    out.notice(Waiting("still waiting for the lock (5s so far)", again=True))
    assert log.getvalue().count("waiting for the lock") == 1 and "still" not in log.getvalue()


def test_seed_says_what_it_waits_for_in_every_mode(cli: Cli, project: Project, database_url: str) -> None:
    """seed waits for sqlmig's lock as migrate does, and says so on stderr in every mode: seed --json
    and seed on a terminal used to drop the wait (and a terminal the lock retries) without a word."""
    import io

    from sqlmig.db.lock import lock_key
    from sqlmig.events import LockRetry, Waiting
    from sqlmig.render import choose
    from sqlmig.results import MigrationStep

    project.add(1, "items", "CREATE TABLE items (id int PRIMARY KEY);\n")
    (project.root / "data").mkdir(exist_ok=True)
    (project.root / "data" / "seed.json").write_text('{"tables": [{"table": "items", "rows": [{"id": 1}]}]}')
    with psycopg.connect(database_url, autocommit=True) as holder:
        holder.execute("SELECT pg_advisory_lock(%s)", (lock_key("public", "sqlmig_migrations"),))
        for args in (["seed", "--lock-wait", "0.5"], ["--json", "seed", "--lock-wait", "0.5"]):
            r = cli(*args)
            assert r.exit_code == 4, r.stderr
            assert r.stderr.count("waiting for sqlmig's lock") == 1, (args, r.stderr)
    for tty in (True, False):
        log = io.StringIO()
        out = choose(stderr=log, stdout=io.StringIO(), tty=tty)
        with out.seed_progress() as handle:
            handle(Waiting("waiting for the lock", again=False))
            handle(LockRetry(MigrationStep(1, "items", project.sql / "0001_items.up.sql"), "up", "retry 1 of 2"))
        assert "waiting for the lock" in log.getvalue(), (tty, log.getvalue())
