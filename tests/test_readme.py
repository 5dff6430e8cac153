"""Every command shown in README.md exists and works: its code blocks are run against a test database,
and its JSON examples hold exactly the keys each record's to_dict() (what --json prints) has."""

from __future__ import annotations

import io
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import typer

from sqlmig.cli import app
from sqlmig.config import ConfigFile, resolve

from .support import Cli, Project, Result, run_cli

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


# The README lines test_every_readme_command_runs checks without running them (an export it replaces
# with the test's own URL, `make -n`, pip's extras), in README order; every other line is run.
# Installs are checked against pyproject.toml here and run by tests/test_packaging.py.
NOT_RUN = [
    "pip install .",
    "pip install '.[embedded]'",
    "pipx install '.[embedded]'",
    "pip install build",
    "python -m build",
    "pip install 'dist/sqlmig-0.1.0-py3-none-any.whl[embedded]'",
    "make demo",
    "make test",
    "export DATABASE_URL=postgresql://app:secret@localhost:5432/app",
    "pip install ci/sqlmig-0.1.0-py3-none-any.whl",
    "make bench",
    "make bench-profile",
]


def code_blocks(lang: str) -> list[str]:
    return [m.group(2) for m in re.finditer(r"^```(\w*)\n(.*?)^```", README, re.S | re.M) if m.group(1) == lang]


def shell_commands() -> list[str]:
    """Command lines (comments dropped) of the sh blocks and the yaml blocks' `run:` steps, in README order."""
    found: list[tuple[int, str]] = []
    for m in re.finditer(r"^```(sh|yaml)\n(.*?)^```", README, re.S | re.M):
        for line in m.group(2).splitlines():
            if m.group(1) == "yaml":
                step = re.match(r"\s*-\s*run:\s*(.+)$", line)
                line = step.group(1) if step else ""
            words = shlex.split(line, comments=True)
            if words:
                found.append((m.start(), shlex.join(words)))
    return [line for _, line in found]


def command_names(typer_app: typer.Typer = app) -> set[str]:
    names = {str(c.name or (c.callback.__name__ if c.callback else "")) for c in typer_app.registered_commands}
    groups = {g.name or g.typer_instance.info.name for g in typer_app.registered_groups if g.typer_instance}
    return names | {str(g) for g in groups if g}


def test_readme_blocks_are_found() -> None:
    lines = shell_commands()
    assert "sqlmig migrate --wait 30" in lines and "make demo" in lines and len(lines) > 20


def test_every_readme_command_runs(embedded_project: Project, database_url: str, tmp_path: Path) -> None:
    """Run README's shell lines in order, in one project, against a test database (and the embedded server)."""
    env = {"DATABASE_URL": database_url}
    seed_file = embedded_project.root / "data" / "seed.json"  # the tour's `sqlmig seed` loads the project's own
    seed_file.parent.mkdir()
    seed_file.write_text('{"tables": []}\n')
    ran: list[str] = []
    skipped: list[str] = []  # checked without running: exports, `make -n`, pip's extras
    for line in shell_commands():
        words = shlex.split(line, comments=True)
        if words[0] == "export":
            assert all(re.fullmatch(r"[A-Z_]+=\S+", w) for w in words[1:]), line
            skipped.append(line)
            continue  # the test's own DATABASE_URL stands in for the example's
        if words[0] == "make":
            proc = subprocess.run(["make", "-n", *words[1:]], cwd=ROOT, capture_output=True, text=True, check=False)
            assert proc.returncode == 0, (line, proc.stderr)
            skipped.append(line)
            continue
        if words[0] in ("pip", "pipx") or words == ["python", "-m", "build"]:
            project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
            wheel = re.escape(f"{project['name']}-{project['version']}-py3-none-any.whl")
            for spec in words[2:] if words[0] != "python" else []:
                # this clone, the wheel `python -m build` writes (as built, or copied to ci/), or build itself
                found = re.fullmatch(rf"(?:\.|(?:dist|ci)/{wheel})(?:\[(\w+)\])?|build", spec)
                assert found and (found.group(1) in (None, *project["optional-dependencies"])), line
            skipped.append(line)
            continue
        assert words[0] == "sqlmig", f"README shows {line!r}: teach test_readme how to run it"
        result = _run(words[1:], env, home=tmp_path / "home")
        assert result.exit_code == 0, f"{line}\nstdout: {result.stdout}\nstderr: {result.stderr}"
        ran.append(line)
    assert len(ran) >= 15
    assert skipped == NOT_RUN, "a README line is checked without being run: run it, or add it to NOT_RUN"
    assert (embedded_project.sql / "0001_create_customer.up.sql").is_file()
    assert (embedded_project.sql / "0002_add_customer_email.up.sql").is_file()


def _run(args: list[str], env: dict[str, str], *, home: Path) -> Result:
    """In-process, except what a real process must do: psql replaces sqlmig; completion writes to HOME."""
    if "psql" in args or "--install-completion" in args:
        home.mkdir(exist_ok=True)
        full = {k: v for k, v in os.environ.items() if not k.startswith("SQLMIG_")}
        full.update(env, HOME=str(home), NO_COLOR="1")
        sqlmig = str(Path(sys.executable).parent / "sqlmig")
        proc = subprocess.run([sqlmig, *args], env=full, input="", capture_output=True, text=True, check=False)
        if "--install-completion" in args:
            assert list(home.rglob("*sqlmig*")), proc.stdout
        return Result(proc.returncode, proc.stdout, proc.stderr)
    return run_cli(*args, env=env)


def test_every_sqlmig_command_named_in_readme_exists() -> None:
    """Commands in inline code too (`sqlmig status`, the commands table), not only in code blocks."""
    in_blocks = [line.split() for line in shell_commands() if line.startswith("sqlmig ")]
    named = set(re.findall(r"`sqlmig ([a-z]+)", README)) | {w[1] for w in in_blocks if not w[1].startswith("-")}
    unknown = named - command_names()
    assert not unknown, f"README names commands sqlmig does not have: {sorted(unknown)}"
    (group,) = [
        g.typer_instance for g in app.registered_groups if g.typer_instance and g.typer_instance.info.name == "embedded"
    ]
    assert set(re.findall(r"sqlmig embedded ([a-z]+)", README)) <= command_names(group)


def test_library_example_runs(project: Project, database_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    (python,) = [b for b in code_blocks("python") if "Migrator(" in b]
    url = re.search(r'Migrator\("([^"]+)"', python)
    assert url is not None
    project.add(1, "create_order_note_table", "CREATE TABLE note (id int);\n", "DROP TABLE note;\n")
    exec(compile(python.replace(url.group(1), database_url), "README.md", "exec"), {})
    assert capsys.readouterr().out.strip() == "[1] True"
    assert (project.sql / "0002_add_order_note.up.sql").is_file()


def test_pytest_example_runs(pytester: pytest.Pytester, server_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    (python,) = [b for b in code_blocks("python") if "sqlmig_database_url" in b]
    monkeypatch.setenv("SQLMIG_TEST_DATABASE_URL", server_url)
    shutil.copytree(ROOT / "sql", pytester.path / "sql")
    pytester.makepyfile(test_customer=python)
    pytester.runpytest_subprocess("-p", "no:cacheprovider", "-q").assert_outcomes(passed=1)


def test_config_example_is_valid(tmp_path: Path) -> None:
    (toml,) = code_blocks("toml")
    settings = resolve({}, {}, [ConfigFile(tmp_path / "sqlmig.toml", tomllib.loads(toml))])
    assert settings.database_url == "embedded"
    assert settings.dirs == (tmp_path / "sql", tmp_path / "plugins/billing/sql")
    for key in tomllib.loads(toml):
        assert f"| `{key}` |" in README, f"{key} is missing from the configuration table"


# ---- the JSON contract: README's examples hold exactly the keys of each record's to_dict() --------

# A README example's shape: an object's keys (each with the shape of its value, None for a scalar);
# OPEN among them where the example ends in `...` (more keys may follow); ANY_KEY where the keys are
# names such as settings ("<setting>"); a one-element list for a list of objects.
Shape = dict[str, object] | list[object] | None
OPEN = "..."
ANY_KEY = "<>"
TOKENS = re.compile(r'"(?:[^"\\]|\\.)*"|\.\.\.same keys\.\.\.|\.\.\.|[{}\[\]:,|]|[^\s{}\[\]:,|"]+')


def documented_json() -> dict[str, Shape]:
    """Each `- `command`: `{...}`` of README's JSON section, parsed into its shape."""
    section = README[README.index("### JSON output") : README.index("### Shell completion")]
    lists: list[list[object]] = []  # every list of objects shown so far, in README order
    found = {name: parse_shape(text, lists) for name, text in re.findall(r"`?([a-z][a-z ]*)`?: `(\{.*?\})`", section)}
    assert len(found) >= 12, sorted(found)
    return found


def parse_shape(example: str, lists: list[list[object]]) -> Shape:
    tokens = TOKENS.findall(example)
    shape, end = _value(tokens, 0, lists)
    assert end == len(tokens), (example, tokens[end:])
    return shape


def _value(tokens: list[str], at: int, lists: list[list[object]]) -> tuple[Shape, int]:
    if tokens[at] == "{":
        return _object(tokens, at + 1, lists)
    if tokens[at] == "[":
        if tokens[at + 1] == "{":
            inner, at = _object(tokens, at + 2, lists)
            shape: list[object] = [inner]
            lists.append(shape)
        elif tokens[at + 1] in ("...", "...same keys..."):  # items as in the list shown just before
            shape, at = lists[-1], at + 2
        else:  # a list of scalars: [paths read]
            while tokens[at] != "]":
                at += 1
            return None, at + 1
        assert tokens[at] == "]", tokens[at:]
        return shape, at + 1
    while at < len(tokens) and tokens[at] not in (",", "}"):  # bool, str | null, "accept"|"forget", n
        at += 1
    return None, at


def _object(tokens: list[str], at: int, lists: list[list[object]]) -> tuple[Shape, int]:
    keys: dict[str, object] = {}
    while tokens[at] != "}":
        if tokens[at] == "...":
            keys[OPEN] = None
            at += 1
        else:
            key = json.loads(tokens[at])
            key = ANY_KEY if key.startswith("<") else key
            at += 1
            if tokens[at] == ":":
                keys[key], at = _value(tokens, at + 1, lists)
            else:
                keys[key] = None
        if tokens[at] == ",":
            at += 1
    return keys, at + 1


def assert_shape(value: object, shape: Shape, where: str) -> None:
    """`value` (a JSON document) has exactly the keys `shape` lists, at every depth."""
    if isinstance(shape, dict):
        assert isinstance(value, dict), (where, value)
        listed = {k: v for k, v in shape.items() if k != OPEN}
        if ANY_KEY in listed:
            listed = dict.fromkeys(value, listed[ANY_KEY])
        if OPEN in shape:
            assert set(listed) <= set(value), (where, "missing", set(listed) - set(value))
        else:
            assert set(value) == set(listed), (
                where,
                "printed, not in README",
                set(value) - set(listed),
                "in README, not printed",
                set(listed) - set(value),
            )
        for key, inner in listed.items():
            assert_shape(value[key], inner, f"{where}.{key}")  # type: ignore[arg-type]
    elif isinstance(shape, list):
        assert isinstance(value, list), (where, value)
        for item in value:
            assert_shape(item, shape[0], f"{where}[]")  # type: ignore[arg-type]
    else:
        assert not isinstance(value, dict), (where, "README shows a value, the document an object", value)
        assert not (isinstance(value, list) and value and isinstance(value[0], dict)), (where, value)


def test_readme_json_examples_parse() -> None:
    """The parser reads the notation README uses (so the checks below check something)."""
    shapes = documented_json()
    items = [dict.fromkeys(("version", "name", "file", "duration_ms"))]
    assert shapes["down"] == {"reverted": items, "dry_run": None, "nothing_applied": None}
    not_executed = [dict.fromkeys(("version", "name", "file", "reason"))]
    assert shapes["migrate"] == {"applied": items, "dry_run": None, "executed": None, "not_executed": not_executed}
    validate = shapes["validate"]
    assert isinstance(validate, dict) and validate["notes"] == validate["problems"] == [dict.fromkeys(PROBLEM)]
    assert shapes["config"] == {"settings": {ANY_KEY: {"value": None, "source": None}}, "files": None}
    with pytest.raises(AssertionError):
        assert_shape({"applied": [{**items[0], "extra": 1}], "dry_run": False}, shapes["migrate"], "migrate")


PROBLEM = ("where", "message", "hint")


def test_json_documents_are_documented(tmp_path: Path) -> None:
    """Every command's record, with every list filled, prints exactly the keys README shows."""
    from datetime import UTC, datetime

    from sqlmig import results
    from sqlmig.config import effective, effective_dict
    from sqlmig.embedded import ServerStatus
    from sqlmig.errors import MigrationFailed, Problem, RefusedError, SqlmigError
    from sqlmig.plan import AppliedMigration, Entry, MigrationState
    from sqlmig.render.json import JsonRenderer
    from sqlmig.snapshot import Difference

    problem = Problem("sql/0001_a.up.sql:1:1", "a message", "a hint")
    item = results.MigrationStep(1, "a", tmp_path / "0001_a.up.sql", 1.5)
    row = AppliedMigration(1, "a", "abc", datetime.now(UTC), "me", 3, 1)
    change = results.RepairChange("accept", 1, "0001_a", MigrationState.MODIFIED, MigrationState.APPLIED, "a", "b")
    settings = resolve({"database_url": "postgresql://u:secret@h/d"}, {}, [])
    difference = Difference("column", "public.t.a", "default", "1", None, False)
    effect = results.StatementEffect(1, 1, "ALTER TABLE t ...", (("public.t", "AccessExclusiveLock"),), ("public.t",))
    failure = results.StepFailure("down", tmp_path / "0001_a.down.sql", 1, 1, "boom", "42P01", "d", "h")
    verdict = results.MigrationVerdict(
        1,
        "a",
        item.path,
        tmp_path / "0001_a.down.sql",
        results.VerdictKind.DIFFERS,
        (difference,),
        (difference,),
        failure,
        (effect,),
        (effect,),
    )
    documents: dict[str, Any] = {
        "status": results.StatusResult(
            (Entry(1, "a", MigrationState.APPLIED, None, row),), "public.t", (problem,), "pid 1"
        ),
        "migrate": results.MigrateResult(
            (item,), True, (), True, (results.NotExecuted(2, "b", tmp_path / "0002_b.up.sql", "why"),)
        ),
        "down": results.DownResult((item,)),
        "new": results.NewResult(2, "b", tmp_path / "0002_b.up.sql", tmp_path / "0002_b.down.sql"),
        "sum": results.SumResult(tmp_path / "sqlmig.sum", 2, True),
        "renumber": results.RenumberResult(
            2, 3, "b", ((tmp_path / "0002_b.up.sql", tmp_path / "0003_b.up.sql"),), "public.t", True
        ),
        "validate": results.ValidateResult((problem,), (problem,), (problem,), 1, 1, "public.t", True),
        "diff": results.DiffResult(1, "a", "applied", item.path, "abc", "abd", False, "--- a\n+++ b\n"),
        "repair": results.RepairResult((change,), (problem,)),
        "seed": results.SeedResult(tmp_path / "seed.json", (results.SeedTableResult("t", 2, 2),), (item,)),
        "verify": results.VerifyResult((verdict,), "all", 0, "the embedded server"),
        "drift": results.DriftResult((difference,), 3, "the embedded server"),
        "dump": results.DumpResult("CREATE TABLE t ();\n", tmp_path / "schema.sql", 1),
        "print sql": results.SqlScript(
            "migrate", "BEGIN;\n", (results.ScriptStep(1, "a", item.path, False),), "postgresql://h/d", "2026"
        ),
        "lint": results.LintResult(
            (
                results.LintFinding(
                    "SM101",
                    "index-without-concurrently",
                    "error",
                    "sql/0001_a.up.sql",
                    1,
                    1,
                    "up",
                    "CREATE INDEX i ON t (a);",
                    "CREATE INDEX on t",
                    "blocks writes",
                    "CONCURRENTLY",
                    "public.t",
                    "about 10 rows, 16.0 kB",
                    "reason",
                ),
            ),
            2,
            "database",
            18,
        ),
    }
    server = ServerStatus(tmp_path, True, True, 12, 17, "postgresql://localhost/x")
    errors = [SqlmigError("x"), RefusedError("x", [problem]), MigrationFailed("x", version=1, path="a.sql")]
    shapes = documented_json()

    def printed(draw: Callable[[JsonRenderer], None]) -> object:
        """The document the JSON renderer prints (as `--json` does)."""
        buf = io.StringIO()
        draw(JsonRenderer(color=False, stdout=buf, stderr=io.StringIO()))
        return json.loads(buf.getvalue())

    for command, record in documents.items():
        method = getattr(JsonRenderer, {"print sql": "sql_script"}.get(command, command))
        assert printed(partial(method, result=record)) == record.to_dict(), command
        assert_shape(record.to_dict(), shapes[command], command)
    assert_shape(effective_dict(effective(settings), [tmp_path / "sqlmig.toml"]), shapes["config"], "config")
    assert_shape(server.to_dict(), shapes["embedded status"], "embedded status")
    assert_shape(printed(lambda out: out.embedded_url("postgresql://x")), shapes["embedded url"], "embedded url")
    stop = printed(lambda out: out.embedded_stopped(True, server))
    assert isinstance(stop, dict) and set(stop) == {"stopped", *server.to_dict()}  # "the same keys as status plus"
    for error in errors:
        assert_shape(error.to_dict(), shapes["any error"], type(error).__name__)
    assert set(shapes) - set(documents) == {"config", "embedded status", "embedded url", "any error", "baseline"}


def test_json_output_is_documented(cli: Cli, project: Project) -> None:
    """What the CLI prints with --json has exactly the keys README shows (baseline and embedded url
    too, which the test above cannot build)."""
    project.add(1, "a", "CREATE TABLE a (id int);\n", "DROP TABLE a;\n")
    seed = project.root / "seed.json"
    seed.write_text('{"tables": [{"table": "a", "rows": [{"id": 1}]}]}')
    shapes = documented_json()
    runs = [
        ("new", ["new", "b"]),
        ("print sql", ["migrate", "--print-sql"]),
        ("migrate", ["migrate", "--to", "1"]),
        ("status", ["status"]),
        ("validate", ["validate"]),
        ("diff", ["diff", "1"]),
        ("repair", ["repair", "--accept", "1"]),
        ("down", ["down"]),
        ("baseline", ["baseline", "1", "--dry-run"]),
        ("seed", ["seed", "--file", str(seed)]),
        ("config", ["config"]),
        ("embedded status", ["embedded", "status"]),
        ("any error", ["diff", "99"]),
    ]
    for command, args in runs:
        result = cli(*args, "--json")
        assert result.exit_code == (0 if command != "any error" else 2), (command, result.stdout, result.stderr)
        assert_shape(json.loads(result.stdout), shapes[command], command)
