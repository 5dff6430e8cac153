"""Hostile migration directories and misleading markers, through the CLI (issue 13): a clear message naming
the path, the documented exit code, nothing written, never a traceback."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from .support import Cli, Conn, Project, Result, history, run_cli, tables

pytestmark = pytest.mark.reliability


def clean(r: Result) -> None:
    assert "Traceback" not in r.stdout + r.stderr, r.stdout + r.stderr


def refused(r: Result, *needles: str) -> None:
    assert r.exit_code == 3, (r.stdout, r.stderr)
    for needle in needles:
        assert needle in r.stderr, r.stderr
    clean(r)


def test_symlink_loop(cli: Cli, project: Project, db: Conn) -> None:
    project.add(1, "ok", "CREATE TABLE ok (id int);\n")
    (project.sql / "0002_loop.up.sql").symlink_to("0002_loop.up.sql")
    (project.sql / "0002_loop.down.sql").write_text("")
    r = cli("migrate")
    refused(r, "sql/0002_loop.up.sql: symbolic link loop")
    assert r.stdout == ""
    assert tables(db) == set()


@pytest.mark.parametrize("second", ["sql", "./sql", "sql/", "link"])
def test_a_directory_given_twice(cli: Cli, project: Project, db: Conn, second: str) -> None:
    """Not 'a file conflicts with itself': the repeated folder is named, exit 2 (usage), nothing runs."""
    project.add(1, "ok", "CREATE TABLE ok (id int);\n")
    (project.root / "link").symlink_to("sql")
    for command in ("migrate", "validate", "status"):
        r = cli("--dir", "sql", "--dir", second, command)
        assert r.exit_code == 2, (command, r.stdout, r.stderr)
        twice = "link is the same migration directory as sql" if second == "link" else "directory sql is given twice"
        assert twice in r.stderr
        assert "is used twice" not in r.stderr
        clean(r)
    env = {"SQLMIG_DIR": os.pathsep.join(["sql", second])}
    assert cli("validate", env=env).exit_code == 2
    assert tables(db) == set()


def test_new_after_the_largest_version_writes_nothing(project: Project) -> None:
    project.add("9223372036854775807", "last", "SELECT 1;\n")
    before = sorted(p.name for p in project.sql.iterdir())
    r = run_cli("new", "next")
    refused(r, "9223372036854775807", "sql/9223372036854775807_last.up.sql")
    assert "nothing was written" in r.stderr
    assert sorted(p.name for p in project.sql.iterdir()) == before
    assert run_cli("validate", "--files-only").exit_code == 0


def test_new_with_a_name_too_long_for_a_file(project: Project) -> None:
    r = run_cli("new", "a" * 300)
    assert r.exit_code == 2, r.stderr
    assert "name too long" in r.stderr and "at most 236 characters" in r.stderr
    clean(r)
    assert list(project.sql.iterdir()) == []
    assert run_cli("new", "a" * 236).exit_code == 0
    assert sorted(p.suffix for p in project.sql.iterdir()) == [".sql", ".sql", ".sum"]  # the pair and its list


def test_new_into_a_path_too_long(project: Project) -> None:
    long = "d/" * 2100  # a migration folder (--into names one of them) whose path no file system takes
    r = run_cli("--dir", long, "new", "x", "--into", long)
    refused(r, "cannot write", "File name too long", "use a shorter folder")
    assert list(project.root.glob("d")) == []


def test_directory_path_too_long(project: Project) -> None:
    r = run_cli("--dir", "a" * 5000, "validate", "--files-only")
    refused(r)
    assert "cannot be read: File name too long" in r.stdout


def test_fifo_socket_and_device(cli: Cli, project: Project, db: Conn) -> None:
    """A FIFO would block the read forever; each special file is named for what it is."""
    os.mkfifo(project.sql / "0001_pipe.up.sql")
    (project.sql / "0001_pipe.down.sql").write_text("")
    try:
        os.mknod(project.sql / "0002_dev.up.sql", 0o600 | 0o020000, os.makedev(1, 3))  # like /dev/null
        (project.sql / "0002_dev.down.sql").write_text("")
        device = True
    except PermissionError:  # a container without CAP_MKNOD
        device = False
    r = cli("migrate")
    refused(r, "sql/0001_pipe.up.sql: a named pipe (FIFO), not a regular file")
    if device:
        assert "sql/0002_dev.up.sql: a character device, not a regular file" in r.stderr
    assert tables(db) == set()


def test_undecodable_file_name(project: Project) -> None:
    """Lone surrogates in a name broke every UTF-8 output (PYTHONIOENCODING=utf-8, CI logs)."""
    with open(os.fsencode(project.sql) + b"/0001_caf\xe9.up.sql", "w"):
        pass
    r = run_cli("validate", "--files-only")
    assert r.exit_code == 3, r.stdout + r.stderr
    assert "problem: sql/0001_caf\\xe9.up.sql: not a migration file name" in r.stdout
    clean(r)
    j = run_cli("--json", "validate", "--files-only")
    assert json.loads(j.stdout)["problems"][0]["where"] == "sql/0001_caf\\xe9.up.sql"
    m = run_cli("--database-url", "postgresql://nobody@127.0.0.1:1/x", "migrate")
    refused(m, "sql/0001_caf\\xe9.up.sql: not a migration file name")


def test_undecodable_folder_name_with_good_files(cli: Cli, project: Project, db: Conn) -> None:
    """Every path printed from such a folder (warnings, notes, dry runs) comes out escaped, not as a traceback."""
    folder = os.fsencode(project.root) + b"/caf\xe9"
    os.mkdir(folder)
    with open(folder + b"/0001_x.up.sql", "w") as f:
        f.write("CREATE TABLE x (id int);\n-- sqlmig:no-transaction\n")
    with open(folder + b"/0001_x.down.sql", "w"):
        pass
    where = os.fsdecode(folder)
    v = cli("--dir", where, "validate")
    assert v.exit_code == 0, v.stdout + v.stderr
    assert "0001_x.up.sql:2:1: not read as a marker" in v.stdout and "0001_x.down.sql: no statements" in v.stdout
    clean(v)
    d = cli("--dir", where, "migrate", "--dry-run")
    assert d.exit_code == 0 and "would apply 0001_x" in d.stdout and "not read as a marker" in d.stderr
    clean(d)
    assert cli("--dir", where, "migrate").exit_code == 0
    assert tables(db) == {"x", "sqlmig_migrations"}


# ---- folders root cannot be kept out of: run sqlmig without the capabilities that bypass modes ----

NO_OVERRIDE = ["setpriv", "--inh-caps=-dac_override,-dac_read_search", "--bounding-set=-dac_override,-dac_read_search"]


@pytest.fixture
def locked_root() -> Iterator[Path]:
    """A project outside pytest's 0700 temporary root, for a process without the override capabilities."""
    if os.geteuid() == 0 and shutil.which("setpriv") is None:
        pytest.skip("root reads every folder and setpriv is not here to drop that")
    root = Path(tempfile.mkdtemp(prefix="sqlmig-locked-"))
    root.chmod(0o755)
    try:
        yield root
    finally:
        for p in (root, *root.rglob("*")):
            if p.is_dir() and not p.is_symlink():
                p.chmod(0o755)
        shutil.rmtree(root)


def run_unprivileged(root: Path, *args: str, env: dict[str, str] | None = None) -> Result:
    prefix = NO_OVERRIDE if os.geteuid() == 0 else []
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("SQLMIG_") and k != "DATABASE_URL"}
    full_env.update({"NO_COLOR": "1", "PYTHONIOENCODING": "utf-8", **(env or {})})
    proc = subprocess.run(
        [*prefix, sys.executable, "-m", "sqlmig", *args],
        cwd=root,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return Result(proc.returncode, proc.stdout, proc.stderr)


def test_unreadable_directories(locked_root: Path) -> None:
    (locked_root / "sql").mkdir()
    (locked_root / "sql" / "0001_x.up.sql").write_text("SELECT 1;\n")
    (locked_root / "sql" / "0001_x.down.sql").write_text("")
    (locked_root / "sql").chmod(0)  # cannot be listed
    r = run_unprivileged(locked_root, "validate", "--files-only", env={"SQLMIG_DIR": "sql"})
    assert r.exit_code == 3, r.stdout + r.stderr
    assert "problem: sql: cannot list the directory: Permission denied" in r.stdout
    clean(r)
    (locked_root / "sql").chmod(0o755)
    (locked_root / "outer").mkdir()
    (locked_root / "outer" / "sql").mkdir()
    (locked_root / "outer").chmod(0)  # cannot even be looked into
    r = run_unprivileged(locked_root, "--dir", "outer/sql", "migrate", "--database-url", "postgresql://x@127.0.0.1:1/x")
    refused(r, "outer/sql: cannot be read: Permission denied")


# ---- markers sqlmig does not read: warnings (exit 0), in validate and before a run ----


def test_markers_not_read_warn_in_validate_and_before_migrate(cli: Cli, project: Project, db: Conn) -> None:
    project.add(1, "shouting", "-- SQLMIG:lock_timeout=1s\nCREATE TABLE a (id int);\n", "DROP TABLE a;\n")
    project.add(2, "late", "CREATE TABLE b (id int);\n-- sqlmig:no-transaction\n", "DROP TABLE b;\n")
    v = cli("validate")
    assert v.exit_code == 0, v.stdout + v.stderr
    lines = v.stdout.splitlines()
    assert lines[0].startswith("warning: sql/0001_shouting.up.sql:1:1: not read as a marker")
    assert lines[1] == "  hint: write `-- sqlmig:lock_timeout=1s` if it should apply"
    assert lines[2].startswith("warning: sql/0002_late.up.sql:2:1: not read as a marker: it is below")
    assert lines[-1] == "ok (0 problems, 2 warnings, 0 notes; 2 migrations, 0 applied)"
    m = cli("migrate")
    assert m.exit_code == 0, m.stderr
    assert m.stderr.startswith("warning: sql/0001_shouting.up.sql:1:1: not read as a marker")
    assert "warning: sql/0002_late.up.sql:2:1" in m.stderr
    assert [v for v, _, _ in history(db)] == [1, 2]
    j = cli("--json", "down")  # a down file's markers too; with --json, on stderr: stdout stays one document
    assert j.exit_code == 0 and json.loads(j.stdout)["reverted"]
    assert j.stderr == ""
    project.add(3, "down_late", "SELECT 1;\n", "SELECT 1;\n/* sqlmig:no-transaction */\n")
    assert cli("migrate").exit_code == 0
    d = cli("--json", "down")
    assert "warning: sql/0003_down_late.down.sql:2:1: not read as a marker" in d.stderr
    assert json.loads(d.stdout)["reverted"][0]["version"] == 3


def test_validate_reports_discovery_and_content_problems_together(project: Project) -> None:
    project.add(1, "ok", "CREATE TABLE ok (id int);\n", "DROP TABLE ok;\n")
    project.add(2, "commits", "CREATE TABLE t (id int);\nCOMMIT;\n", "DROP TABLE t;\n")
    (project.sql / "0003_lonely.up.sql").write_text("SELECT 'never closed;\n")  # no down file
    (project.sql / "0004_Bad.up.sql").write_text("SELECT 1;\n")
    (project.sql / "0005_late.up.sql").write_text("SELECT 1;\n-- sqlmig:no-transaction\n")
    (project.sql / "0005_late.down.sql").write_text("")
    r = run_cli("validate", "--files-only")
    assert r.exit_code == 3, r.stdout + r.stderr
    problems = [line for line in r.stdout.splitlines() if line.startswith("problem:")]
    assert problems == [
        "problem: sql/0004_Bad.up.sql: not a migration file name",
        "problem: sql/0003_lonely.up.sql: has no down file",
        "problem: sql/0002_commits.up.sql:2:1: transaction control statement COMMIT in a migration file",
        "problem: sql/0003_lonely.up.sql:1:8: unterminated string starting here runs to the end of the file",
    ]
    assert "warning: sql/0005_late.up.sql:2:1: not read as a marker" in r.stdout
    assert r.stdout.splitlines()[-1].startswith("refused: `sqlmig migrate` would not run (4 problems, 1 warning")
    doc = json.loads(run_cli("--json", "validate", "--files-only").stdout)
    assert len(doc["problems"]) == 4 and len(doc["warnings"]) == 1 and doc["history_checked"] is False
