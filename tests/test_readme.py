"""Every command shown in README.md exists and works: its code blocks are run against a test database."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import typer

from sqlmig.cli import app
from sqlmig.config import ConfigFile, resolve

from .support import Cli, Project, Result, run_cli

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")

# Commands that other branches add (seed: issue 3; validate, diff, repair, baseline: issue 4).
# README already shows them; remove each name here once its branch is merged.
NOT_YET: set[str] = set()  # commands README shows that do not exist yet


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
    skipped: list[str] = []
    for line in shell_commands():
        words = shlex.split(line, comments=True)
        if words[0] == "export":
            assert all(re.fullmatch(r"[A-Z_]+=\S+", w) for w in words[1:]), line
            continue  # the test's own DATABASE_URL stands in for the example's
        if words[0] == "make":
            proc = subprocess.run(["make", "-n", *words[1:]], cwd=ROOT, capture_output=True, text=True, check=False)
            assert proc.returncode == 0, (line, proc.stderr)
            continue
        if words[0] == "pip":
            extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
            for spec in words[2:]:
                extra = re.search(r"\[(\w+)\]", spec)
                assert spec.startswith("sqlmig") and (extra is None or extra.group(1) in extras), line
            continue
        assert words[0] == "sqlmig", f"README shows {line!r}: teach test_readme how to run it"
        command = next(w for w in words[1:] if not w.startswith("-") and not re.fullmatch(r"[\d.]+", w))
        if command in NOT_YET:
            skipped.append(line)
            continue
        result = _run(words[1:], env, home=tmp_path / "home")
        assert result.exit_code == 0, f"{line}\nstdout: {result.stdout}\nstderr: {result.stderr}"
        ran.append(line)
    assert len(ran) >= 15
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
    unknown = named - command_names() - NOT_YET
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


def test_json_keys_are_documented(cli: Cli, project: Project) -> None:
    """The keys README lists for each command's --json are exactly the ones printed."""
    run = cli
    project.add(1, "a", "SELECT 1;\n")
    documented = dict(re.findall(r"^- `([a-z ]+)`: `(\{.*?\})`", README, re.M))
    outputs = {
        "new": run("new", "b", "--json"),
        "migrate": run("migrate", "--json"),
        "status": run("status", "--json"),
        "down": run("down", "--json"),
        "config": run("config", "--json"),
        "embedded status": run("embedded", "status", "--json"),
    }
    for command, result in outputs.items():
        assert result.exit_code == 0, result.stderr
        doc = json.loads(result.stdout)
        listed = set(re.findall(r'"(\w+)"', documented[command]))
        if "same keys" in documented[command]:
            listed |= set(re.findall(r'"(\w+)"', documented["migrate"]))
        assert set(doc) <= listed, (command, set(doc) - listed)
        for value in doc.values():
            inner = value[0] if isinstance(value, list) and value and isinstance(value[0], dict) else None
            if inner is not None:
                assert set(inner) <= listed, (command, set(inner) - listed)
        if command == "config":
            assert set(doc["settings"]["dirs"]) == {"value", "source"}
