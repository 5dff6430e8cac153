"""Configuration, output modes (rich, plain, JSON), --wait, --verbose and shell completion."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import psycopg
import pytest
from psycopg.conninfo import make_conninfo

from sqlmig import ConfigError, Migrator
from sqlmig.render import choose

from .support import Cli, Conn, Login, Project, run_cli, shows_no_secret, tables

ANSI = re.compile(r"\x1b\[")
BOX = re.compile(r"[─│┃━┏┓┗┛┡┩╇╈┳┻]")


def two(project: Project) -> None:
    project.add(1, "create_a", "CREATE TABLE a (id int PRIMARY KEY);\n", "DROP TABLE a;\n")
    project.add(2, "create_b", "CREATE TABLE b (id int REFERENCES a);\n", "DROP TABLE b;\n")


# ---- configuration ----------------------------------------------------------------------------


def test_config_shows_each_value_and_its_source(project: Project) -> None:
    (project.root / "sqlmig.toml").write_text('history_table = "from_toml"\ndirs = ["db/app", "db/plugins"]\n')
    (project.root / "pyproject.toml").write_text(
        '[project]\nname = "x"\n\n[tool.sqlmig]\nhistory_table = "loses"\nlock_timeout = "5s"\n'
    )
    url = "postgresql://alice:s3cret@db.example:5432/app"
    r = run_cli("--database-url", url, "config", "--json", env={"SQLMIG_HISTORY_SCHEMA": "meta"})
    assert r.exit_code == 0, r.stderr
    doc = json.loads(r.stdout)
    got = {k: (v["value"], v["source"]) for k, v in doc["settings"].items()}
    root = project.root
    assert got["database_url"] == ("postgresql://alice:***@db.example:5432/app", "flag")
    assert got["history_schema"] == ("meta", "env SQLMIG_HISTORY_SCHEMA")
    assert got["history_table"] == ("from_toml", str(root / "sqlmig.toml"))
    assert got["lock_timeout"] == ("5s", str(root / "pyproject.toml"))
    assert got["dirs"] == ([str(root / "db/app"), str(root / "db/plugins")], str(root / "sqlmig.toml"))
    assert got["seed_file"] == ("data/seed.json", "default")
    assert doc["files"] == [str(root / "sqlmig.toml"), str(root / "pyproject.toml")]
    plain = run_cli("--database-url", url, "config")
    assert plain.exit_code == 0
    assert "s3cret" not in plain.stdout + plain.stderr
    line = next(x for x in plain.stdout.splitlines() if x.startswith("database_url"))
    assert line.split() == ["database_url", "postgresql://alice:***@db.example:5432/app", "flag"]
    assert "config files: " in plain.stdout


def test_database_url_from_env_beats_config_file(project: Project) -> None:
    (project.root / "sqlmig.toml").write_text('database_url = "embedded"\n')
    r = run_cli("config", "--json", env={"DATABASE_URL": "postgresql://u:pw@h/d"})
    assert json.loads(r.stdout)["settings"]["database_url"] == {
        "value": "postgresql://u:***@h/d",
        "source": "env DATABASE_URL",
    }


@pytest.mark.parametrize(
    ("filename", "text"),
    [
        ("sqlmig.toml", 'database_url = "postgresql://h/d"\nhistroy_table = "x"\n'),
        ("pyproject.toml", '[tool.sqlmig]\nhistroy_table = "x"\n'),
    ],
)
def test_unknown_config_key_is_exit_2_naming_file_and_key(project: Project, filename: str, text: str) -> None:
    (project.root / filename).write_text(text)
    for command in (["config"], ["status"], ["migrate"]):
        r = run_cli(*command)
        assert r.exit_code == 2, (command, r.stderr)
        assert f"{project.root / filename}: unknown setting 'histroy_table'" in r.stderr
        assert "history_table" in r.stderr  # the known settings are listed
        assert r.stdout == "" and "Traceback" not in r.stderr


def test_invalid_toml_and_bad_value_are_exit_2(project: Project) -> None:
    (project.root / "sqlmig.toml").write_text("database_url = \n")
    r = run_cli("config")
    assert r.exit_code == 2 and "sqlmig.toml: invalid TOML" in r.stderr
    (project.root / "sqlmig.toml").write_text('lock_timeout = "soon"\n')
    r = run_cli("config", "--json")
    assert r.exit_code == 2 and "invalid value 'soon' for lock_timeout" in r.stderr
    assert json.loads(r.stdout)["error"] == "ConfigError"


def test_config_paths_are_relative_to_the_config_file(project: Project, database_url: str, db: Conn) -> None:
    """A library caller in another directory still finds the migrations sqlmig.toml names."""
    app = project.root / "db" / "app"
    plugins = project.root / "db" / "plugins"
    app.mkdir(parents=True)
    plugins.mkdir(parents=True)
    (app / "0001_a.up.sql").write_text("CREATE TABLE a (id int);\n")
    (app / "0001_a.down.sql").write_text("DROP TABLE a;\n")
    (plugins / "0002_b.up.sql").write_text("CREATE TABLE b (id int);\n")
    (plugins / "0002_b.down.sql").write_text("DROP TABLE b;\n")
    (project.root / "sqlmig.toml").write_text(f'database_url = "{database_url}"\ndirs = ["db/app", "db/plugins"]\n')
    m = Migrator()  # everything from sqlmig.toml in the working directory
    assert m.settings.dirs == (app, plugins)
    assert [i.version for i in m.migrate().applied] == [1, 2]
    assert {"a", "b"} <= tables(db)
    r = run_cli("new", "c")  # into the first directory
    assert r.exit_code == 0 and (app / "0003_c.up.sql").is_file()
    r = run_cli("new", "d", "--into", str(plugins))
    assert r.exit_code == 0 and (plugins / "0004_d.up.sql").is_file()
    (plugins / "0001_a.up.sql").write_text("SELECT 1;\n")
    (plugins / "0001_a.down.sql").write_text("SELECT 1;\n")
    dup = run_cli("status")
    assert dup.exit_code == 3 and "version 1 is used twice" in dup.stderr


def test_library_without_url_raises_config_error(project: Project) -> None:
    with pytest.raises(ConfigError) as info:
        Migrator(dirs=[project.sql]).status()
    assert info.value.exit_code == 2 and "DATABASE_URL" in info.value.hint


def test_repo_config_uses_embedded_without_starting_anything() -> None:
    """This repository's sqlmig.toml says 'embedded'; `config` reports it and starts no server."""
    root = Path(__file__).resolve().parent.parent
    env = {k: v for k, v in os.environ.items() if not k.startswith("SQLMIG_") and k != "DATABASE_URL"}
    proc = subprocess.run(
        [sys.executable, "-m", "sqlmig", "config", "--json"], cwd=root, env=env, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    url = json.loads(proc.stdout)["settings"]["database_url"]
    assert url == {"value": "embedded", "source": str(root / "sqlmig.toml")}


# ---- output -----------------------------------------------------------------------------------


def test_plain_output_when_not_a_terminal(cli: Cli, project: Project) -> None:
    two(project)
    r = cli("migrate")
    assert r.exit_code == 0
    lines = r.stdout.splitlines()
    assert re.fullmatch(r"applied 0001_create_a \(\d+ ms\)", lines[0])
    assert re.fullmatch(r"applied 0002_create_b \(\d+ ms\)", lines[1])
    assert re.fullmatch(r"applied 2 migrations in \d+ ms", lines[2])
    status = cli("status")
    for out in (r.stdout, status.stdout):
        assert not ANSI.search(out) and not BOX.search(out)
    assert status.stdout.splitlines()[-1] == "2 applied"
    assert r.stderr == status.stderr == ""


def test_rich_output_on_a_terminal(database_url: str, project: Project) -> None:
    """On a terminal: a progress bar for runs of several migrations, durations, a table for status."""
    two(project)
    buf = io.StringIO()
    out = choose(stdout=buf, tty=True, color=True)
    with out.progress() as on_event:
        result = Migrator(database_url, dirs=[project.sql], on_event=on_event).migrate()
    out.migrate(result)
    out.status(Migrator(database_url, dirs=[project.sql]).status())
    text = buf.getvalue()
    assert "applied 0001_create_a" in text and "applied 2 migrations in" in text
    assert re.search(r"\d+ ms", text)
    assert BOX.search(text)  # the status table
    assert "\x1b[32m" in text  # green: colours are on
    assert "\x1b[?25l" in text  # the progress bar hid the cursor while it ran
    plain = io.StringIO()
    nocolor = choose(stdout=plain, tty=True, color=False)
    nocolor.status(Migrator(database_url, dirs=[project.sql]).status())
    assert BOX.search(plain.getvalue()) and not re.search(r"\x1b\[[0-9;]*3[0-7]m", plain.getvalue())


def test_json_on_every_command(cli: Cli, project: Project) -> None:
    two(project)
    docs = {}
    for args in (
        ["migrate", "--dry-run"],
        ["migrate"],
        ["status"],
        ["down"],
        ["revert", "--dry-run"],
        ["new", "third"],
        ["config"],
        ["embedded", "status"],
    ):
        r = cli(*args, "--json")
        assert r.exit_code == 0, (args, r.stderr)
        docs[" ".join(args)] = json.loads(r.stdout)  # stdout is exactly one JSON document
    assert set(docs["migrate"]) == {"applied", "dry_run", "executed", "not_executed"}
    assert set(docs["migrate"]["applied"][0]) == {"version", "name", "file", "duration_ms"}
    assert set(docs["status"]) == {"history_table", "at_head", "migrations", "warnings", "running"}
    assert set(docs["down"]) == {"reverted", "dry_run", "nothing_applied"}
    assert set(docs["new third"]) == {"version", "name", "up", "down"}
    assert set(docs["config"]) == {"settings", "files"}
    assert set(docs["embedded status"]) == {"running", "initialized", "pgdata", "pid", "version", "url", "source"} | {
        "bin_dir",
        "socket",
        "port",
        "tcp_url",
        "extensions",
    }
    bad = cli("migrate", "--to", "99", "--json")
    assert bad.exit_code == 2
    error = json.loads(bad.stdout)
    assert set(error) >= {"error", "exit_code", "message", "hint", "details"} and error["exit_code"] == 2
    assert "no migration with that version" in bad.stderr


def test_no_color_env_and_flag(cli: Cli, project: Project) -> None:
    project.add(1, "x", "SELECT 1/0;\n")
    for r in (cli("migrate"), cli("--no-color", "migrate"), cli("migrate", env={"NO_COLOR": "1"})):
        assert r.exit_code == 1 and not ANSI.search(r.stderr + r.stdout)


# ---- --wait, --verbose, completion ------------------------------------------------------------


def test_wait_gives_up_with_exit_4_and_the_last_error(project: Project) -> None:
    two(project)
    r = run_cli("--database-url", "postgresql://u:pw@127.0.0.1:1/d", "--wait", "0.3", "migrate")
    assert r.exit_code == 4
    assert "waited 0.3s" in r.stderr and "127.0.0.1" in r.stderr and "pw" not in r.stderr
    assert "Traceback" not in r.stderr


def test_wait_until_the_database_accepts_connections(server_url: str, project: Project) -> None:
    """A database that appears a moment later (containers starting together in CI) is waited for."""
    two(project)
    name = f"late_{os.getpid()}_{time.monotonic_ns()}"
    url = make_conninfo(server_url, dbname=name)

    def create_later() -> None:
        time.sleep(0.5)
        with psycopg.connect(server_url, autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')

    early = run_cli("--database-url", url, "status")
    assert early.exit_code == 4 and "does not exist" in early.stderr
    worker = threading.Thread(target=create_later)
    worker.start()
    try:
        r = run_cli("--database-url", url, "--wait", "60", "migrate")
        assert r.exit_code == 0, r.stderr
        assert "applied 2 migrations" in r.stdout
    finally:
        worker.join()
        with psycopg.connect(server_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_verbose_logs_every_batch_with_timings_to_stderr(project: Project, login: Login) -> None:
    """-v logs every batch; the URL holds a password the server checks (the `login` role), and no
    log line, message or server error shows any piece of it."""
    two(project)
    url = login.url("url")
    quiet = run_cli("--database-url", url, "migrate", "--dry-run")
    r = run_cli("--database-url", url, "--verbose", "migrate")
    assert r.exit_code == 0, r.stderr
    batches = [line for line in r.stderr.splitlines() if re.search(r"sqlmig\.sql: +\d+\.\d ms  ok  ", line)]
    assert any("CREATE TABLE a (id int PRIMARY KEY)" in b for b in batches)
    assert any("pg_try_advisory_lock" in b for b in batches)
    assert any("0002_create_b.up.sql: " in line and " ms" in line for line in r.stderr.splitlines())
    assert "applied 2 migrations" in r.stdout and "sqlmig.sql" not in r.stdout
    assert "connected to" in r.stderr
    shows_no_secret(r, verbose=True)
    assert "sqlmig.sql" not in quiet.stderr  # without --verbose nothing is logged
    shows_no_secret(quiet)
    idle = run_cli("--database-url", url, "migrate", "-v", "--dir", str(project.sql))  # nothing pending: still logged
    assert idle.exit_code == 0 and "sqlmig.sql" in idle.stderr
    shows_no_secret(idle, verbose=True)
    project.add(3, "again", "CREATE TABLE a (id int);\n")
    failed = run_cli("--database-url", url, "-v", "migrate")  # the server's error, logged and shown
    assert failed.exit_code == 1 and 'relation "a" already exists' in failed.stderr, failed.stderr
    shows_no_secret(failed, verbose=True)


def test_shell_completion() -> None:
    sqlmig = Path(sys.executable).parent / "sqlmig"
    # Without a shell among its parents (a CI runner, a detached job), Typer's detection finds none
    # and `--show-completion` takes no value; Typer's test switch makes it take the shell's name.
    shell = {**os.environ, "_TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION": "1"}
    script = subprocess.run(
        [sqlmig, "--show-completion", "bash"], env=shell, capture_output=True, text=True, check=False
    )
    assert script.returncode == 0 and "_sqlmig_completion" in script.stdout
    env = {**os.environ, "_SQLMIG_COMPLETE": "complete_bash", "COMP_WORDS": "sqlmig emb", "COMP_CWORD": "1"}
    words = subprocess.run([sqlmig], env=env, capture_output=True, text=True, check=False)
    assert words.stdout.split() == ["embedded"]
