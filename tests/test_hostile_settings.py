"""Hostile settings on a real server: numbers that are no number, limits PostgreSQL enforces, and
passwords full of URL syntax. Each is exit 2 before connecting, naming the setting and where it
came from, or works as documented; no output ever shows the password."""

from __future__ import annotations

import json
import re
import threading
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest

from sqlmig import Migrator
from sqlmig.config import ConfigFile, Settings, parse_duration_ms, resolve
from sqlmig.db.lock import lock_key
from sqlmig.errors import ConfigError

from .support import (
    PASSWORD,
    SECRETS,
    Cli,
    Conn,
    Login,
    Project,
    Result,
    history,
    run_cli,
    run_process,
    shows_no_secret,
    tables,
    three,
)

pytestmark = pytest.mark.reliability


def strict_json(text: str) -> Any:
    """Parse as JSON the standard defines: NaN and Infinity are Python's extension, not JSON."""

    def refuse(constant: str) -> None:
        raise AssertionError(f"{constant} in a JSON document")

    return json.loads(text, parse_constant=refuse)


def usage_error(r: Result, *needles: str) -> None:
    assert r.exit_code == 2, (r.stdout, r.stderr)
    for needle in needles:
        assert needle in r.stderr, r.stderr
    assert "Traceback" not in r.stdout + r.stderr


# ---- numbers -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "env", "toml", "needles"),
    [
        (["--wait", "nan"], {}, "", ["for wait (from flag)", "a number of seconds >= 0"]),
        ([], {"SQLMIG_WAIT": "nan"}, "", ["for wait (from env SQLMIG_WAIT)"]),
        (["--lock-wait", "nan"], {}, "", ["for lock_wait (from flag)"]),
        ([], {"SQLMIG_LOCK_WAIT": "-inf"}, "", ["for lock_wait (from env SQLMIG_LOCK_WAIT)"]),
        ([], {}, "wait = nan\n", ["for wait (from", "sqlmig.toml)"]),
        (["--lock-timeout", "99999999999d"], {}, "", ["for lock_timeout (from flag)", "at most 2147483647ms"]),
        (["--statement-timeout", "25d"], {}, "", ["for statement_timeout (from flag)", "PostgreSQL's limit"]),
        ([], {"SQLMIG_LOCK_TIMEOUT": "2147483648"}, "", ["(from env SQLMIG_LOCK_TIMEOUT)"]),
        ([], {}, 'statement_timeout = "100us"\n', ["for statement_timeout", "rounds it to 0"]),
        (["--lock-retries", "99999999999999999999"], {}, "", ["for lock_retries (from flag)", "from 0 to 1000"]),
        ([], {"SQLMIG_LOCK_RETRIES": "1001"}, "", ["(from env SQLMIG_LOCK_RETRIES)", "from 0 to 1000"]),
    ],
)
def test_bad_numbers_are_refused_before_connecting(
    cli: Cli, project: Project, db: Conn, args: list[str], env: dict[str, str], toml: str, needles: list[str]
) -> None:
    """Before: nan waited forever (a busy loop with no server), 99999999999d failed the first
    migration on the server (exit 1, blamed on the file) after creating the history table."""
    project.add(1, "t", "CREATE TABLE t (id int);\n")
    if toml:
        (project.root / "sqlmig.toml").write_text(toml)
    usage_error(cli("migrate", *args, env=env), *needles)
    assert tables(db) == set()  # not even the history table
    j = cli("--json", "migrate", *args, env=env)
    assert j.exit_code == 2 and strict_json(j.stdout)["exit_code"] == 2


def test_wait_nan_for_a_server_that_is_not_there_ends_at_once(project: Project) -> None:
    """The busy loop itself: before, this process spun at full CPU until killed."""
    r = run_process("--database-url", "postgresql://u@127.0.0.1:1/d", "--wait", "nan", "status", cwd=project.root)
    usage_error(r, "invalid value nan for wait (from flag)")


@pytest.mark.parametrize(("args", "env"), [(["--lock-wait", "inf"], {}), ([], {"SQLMIG_LOCK_WAIT": "1e309"})])
def test_an_infinite_lock_wait_waits_for_the_holder(
    cli: Cli, project: Project, database_url: str, db: Conn, args: list[str], env: dict[str, str]
) -> None:
    project.add(1, "t", "CREATE TABLE t (id int);\n")
    held = threading.Event()

    def hold() -> None:
        with psycopg.connect(database_url, autocommit=True) as other:
            other.execute("SELECT pg_advisory_lock(%s)", (lock_key("public", "sqlmig_migrations"),))
            held.set()
            time.sleep(1.0)

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert held.wait(10)
        started = time.monotonic()
        r = cli("migrate", *args, env=env)
        assert r.exit_code == 0, r.stderr
        assert time.monotonic() - started > 0.5  # it did wait
    finally:
        holder.join()
    assert [v for v, _, _ in history(db)] == [1]


def test_infinite_waits_show_as_null_in_config_json(project: Project) -> None:
    """Before: `"wait": Infinity`, which no JSON parser but Python's accepts."""
    r = run_cli("--wait", "inf", "--lock-wait", "1e309", "config", "--json")
    assert r.exit_code == 0, r.stderr
    settings = strict_json(r.stdout)["settings"]
    assert settings["wait"] == {"value": None, "source": "flag"}
    assert settings["lock_wait"] == {"value": None, "source": "flag"}


def test_infinite_waits_read_as_inf_in_config_text(project: Project) -> None:
    """`-` reads as 'not set'; a wait with no end is shown as written (the default lock wait too)."""
    r = run_cli("--wait", "inf", "config")
    assert r.exit_code == 0, r.stderr
    rows = {
        line.split()[0]: line.split()[1:] for line in r.stdout.splitlines() if line and not line.startswith("config")
    }
    assert rows["wait"] == ["inf", "flag"], r.stdout
    assert rows["lock_wait"] == ["inf", "default"], r.stdout
    assert rows["database_url"][0] == "-", r.stdout  # a setting that is not set stays '-'


DURATIONS = [
    "1", "0", "0ms", "2147483647", "2147483647ms", "2147483647.4", "2147483647.5", "2147483648",
    "2147483.647s", "2147483.648s", "35791min", "35792min", "35791.39min", "596h", "597h", "596.5h",
    "24d", "24.85d", "24.855d", "25d", "99999999999d", "0.4ms", "0.5ms", "0.6ms", "1.5ms", "400us",
    "600us", "1500us", "1.5s", "0.0004s", "1.0005s", " 5 s ", "5 min", "010", "010s", "00",
]  # fmt: skip


SHOWN_MS = {"ms": 1, "s": 1000, "min": 60_000, "h": 3_600_000, "d": 86_400_000}  # units PostgreSQL shows


@pytest.mark.parametrize("setting", ["lock_timeout", "statement_timeout"])
def test_every_duration_sqlmig_accepts_the_server_sets_to_the_same_ms(db: Conn, setting: str) -> None:
    """The limits and the rounding are PostgreSQL's: what sqlmig accepts, the server sets to the ms
    sqlmig computed; what sqlmig refuses, the server refuses, turns into 0 (no timeout), or reads
    otherwise than written (010 is octal there)."""
    for text in DURATIONS:
        try:
            ours: int | None = parse_duration_ms(text)
        except ValueError:
            ours = None
        try:  # local to this statement's own transaction: a 1ms statement_timeout cannot outlive it
            row = db.execute("SELECT set_config(%s, %s, true)", (setting, text)).fetchone()
            shown = re.fullmatch(r"([0-9]+)(ms|s|min|h|d)?", str(row[0]) if row else "")
            assert shown is not None, row
            server: int | None = int(shown.group(1)) * SHOWN_MS[shown.group(2) or "ms"]
        except psycopg.errors.InvalidParameterValue:
            server = None
        if ours is not None:
            assert server == ours, (text, ours, server)
        else:
            octal = text.strip()[0] == "0" and text.strip()[1:2].isdigit()
            assert server is None or server == 0 or octal, (text, server)


@pytest.mark.parametrize("marker", ["lock_timeout=25d", "statement_timeout=100us", "lock_timeout=010s"])
def test_a_marker_the_server_would_refuse_or_misread_is_refused_at_its_line(
    cli: Cli, project: Project, db: Conn, marker: str
) -> None:
    """Before: 25d failed on the server, after the files before it had run; 100us ran with no timeout."""
    project.add(1, "first", "CREATE TABLE first (id int);\n")
    project.add(2, "marked", f"-- sqlmig:{marker}\nCREATE TABLE marked (id int);\n")
    r = cli("migrate")
    assert r.exit_code == 3 and "sql/0002_marked.up.sql:1" in r.stderr, r.stderr
    assert tables(db) == set()


def test_lock_retries_at_the_limit_runs(cli: Cli, project: Project) -> None:
    project.add(1, "t", "CREATE TABLE t (id int);\n")
    assert cli("migrate", "--lock-retries", "1000").exit_code == 0


# ---- --to names a migration, for migrate and down alike --------------------------------------------


@pytest.mark.parametrize("to", ["99", "-1", "99999999999999999999"])
def test_down_to_a_version_that_is_none_is_refused_like_migrate(cli: Cli, project: Project, db: Conn, to: str) -> None:
    """Before: `down --to 99` above the head said "nothing to revert" (exit 0) while
    `migrate --to 99` was exit 2; a typo in --to must not mean "nothing" or "everything"."""
    three(project)
    assert cli("migrate", "--to", "2").exit_code == 0
    usage_error(cli("migrate", "--to", to), f"--to {to}: no migration with that version on disk")
    usage_error(cli("down", "--to", to), f"--to {to}: no migration with that version on disk or in the history")
    j = cli("--json", "down", "--to", to)
    assert j.exit_code == 2 and strict_json(j.stdout)["exit_code"] == 2
    assert [v for v, _, _ in history(db)] == [1, 2]


def test_down_to_a_known_version(cli: Cli, project: Project, db: Conn) -> None:
    three(project)
    assert cli("migrate", "--to", "2").exit_code == 0
    pending = cli("down", "--to", "3")  # on disk, above the head: nothing above it is applied
    assert pending.exit_code == 0 and "nothing to revert" in pending.stdout
    assert cli("down", "--to", "1").exit_code == 0
    assert [v for v, _, _ in history(db)] == [1]


# ---- passwords that are present, and checked by the server ----------------------------------------

# PASSWORD, Login, the `login` fixture and shows_no_secret live in support.py and conftest.py:
# test_ux checks its -v logs with the same role.


@pytest.mark.parametrize("form", ["url", "query", "kv"])
def test_a_checked_password_never_appears_in_any_output(project: Project, db: Conn, login: Login, form: str) -> None:
    """Every channel with the password present: config (plain, JSON), -v logs, errors (plain, JSON,
    -v with the logged traceback), a wrong password, a database that does not exist, --wait retries."""
    project.add(1, "t", "CREATE TABLE t (id int);\n", "DROP TABLE t;\n")
    url = login.url(form)
    env = {"DATABASE_URL": url}

    run = run_cli("-v", "migrate", env=env)
    assert run.exit_code == 0, run.stderr  # the server checked the password
    assert "connected to" in run.stderr and "t" in tables(db)
    shows_no_secret(run, verbose=True)
    for args in (["config"], ["config", "--json"], ["--json", "-v", "status"], ["-v", "down"]):
        r = run_cli(*args, env=env)
        assert r.exit_code == 0, r.stderr
        shows_no_secret(r, verbose="-v" in args)
    assert "***" in run_cli("config", env=env).stdout

    wrong = login.url(form, password=PASSWORD + "!")
    for args in (["-v", "status"], ["--json", "status"]):
        r = run_cli("--database-url", wrong, *args)
        assert r.exit_code == 4 and "password authentication failed" in r.stderr, r.stderr
        shows_no_secret(r, verbose="-v" in args)
    missing = login.url(form, dbname="no_such_db")
    r = run_cli("--database-url", missing, "-v", "--wait", "0.3", "--json", "migrate")
    assert r.exit_code == 4 and "cannot connect yet" in r.stderr and "waited 0.3s" in r.stderr, r.stderr
    assert strict_json(r.stdout)["exit_code"] == 4
    shows_no_secret(r, verbose=True)


def test_an_unencoded_password_is_refused_before_connecting_from_every_source(project: Project, login: Login) -> None:
    """Before: libpq read 'S3cr' as the port (or 'y@z...' as the host) and quoted it; the URL was shown whole."""
    raw = login.url("raw")
    (project.root / "sqlmig.toml").write_text(f"database_url = {json.dumps(raw)}\n")
    for args, env, source in (
        (["--database-url", raw], {}, "(from flag)"),
        ([], {"DATABASE_URL": raw}, "(from env DATABASE_URL)"),
        ([], {}, "sqlmig.toml)"),
    ):
        for command in (["status"], ["-v", "migrate"], ["config", "--json"]):
            r = run_cli(*args, *command, env=env)
            assert r.exit_code == 2 and "for database_url" in r.stderr and source in r.stderr, r.stderr
            assert "percent-encode the password" in r.stderr
            shows_no_secret(r, verbose="-v" in command)


def test_the_library_refuses_an_unencoded_password_made_by_hand(project: Project, login: Login) -> None:
    """Settings built directly skip resolve(); connect() checks the URL before libpq quotes it."""
    m = Migrator(settings=Settings(database_url=login.url("raw"), dirs=(project.sql,)))
    with pytest.raises(ConfigError) as info:
        m.status()
    text = f"{info.value.message} {info.value.hint}"
    assert info.value.exit_code == 2 and "percent-encode" in text
    assert not any(secret in text for secret in SECRETS), text


def test_config_file_values_are_checked_like_flags(tmp_path: Path) -> None:
    cfg = ConfigFile(tmp_path / "pyproject.toml", {"database_url": "postgresql://app:S3cr/et@db/app"})
    with pytest.raises(ConfigError) as info:
        resolve({}, {}, [cfg])
    assert "pyproject.toml)" in info.value.message and "S3cr" not in info.value.message
