"""Helpers shared by the tests (fixtures live in conftest.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from typer.testing import CliRunner

from sqlmig.cli import app
from sqlmig.db.connect import Conn as Conn  # the tests use the alias sqlmig's db/ uses

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Project:
    """A temporary project directory with a migration folder."""

    root: Path
    sql: Path

    def add(self, version: int | str, name: str, up: str, down: str = "") -> tuple[Path, Path]:
        stem = f"{version:04d}_{name}" if isinstance(version, int) else f"{version}_{name}"
        up_path = self.sql / f"{stem}.up.sql"
        down_path = self.sql / f"{stem}.down.sql"
        up_path.write_text(up, encoding="utf-8")
        down_path.write_text(down, encoding="utf-8")
        return up_path, down_path


@dataclass
class Result:
    exit_code: int
    stdout: str
    stderr: str


def run_cli(*args: str, env: dict[str, str] | None = None) -> Result:
    """Run the CLI in-process (Typer's CliRunner), stdout and stderr kept apart."""
    runner = CliRunner(env={"NO_COLOR": "1", "COLUMNS": "120", **(env or {})})
    result = runner.invoke(app, list(args), catch_exceptions=False)
    return Result(result.exit_code, result.stdout, result.stderr)


def run_process(*args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 60) -> Result:
    """Run `python -m sqlmig` as a real process."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("SQLMIG_") and k != "DATABASE_URL"}
    full_env.update({"NO_COLOR": "1", **(env or {})})
    proc = subprocess.run(
        [sys.executable, "-m", "sqlmig", *args],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return Result(proc.returncode, proc.stdout, proc.stderr)


def tables(conn: Conn, schema: str = "public") -> set[str]:
    rows = conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = %s", (schema,)).fetchall()
    return {str(r[0]) for r in rows}


def history(conn: Conn, table: str = "public.sqlmig_migrations") -> list[tuple[object, ...]]:
    return conn.execute(f"SELECT version, name, checksum FROM {table} ORDER BY seq").fetchall()


# Examples each property test tried, for `make reliability` (one process: run without xdist).
CASES: dict[str, int] = {}


def count_case(test: str) -> None:
    CASES[test] = CASES.get(test, 0) + 1


# The `cli` fixture: runs `sqlmig ARGS...` in the test's project against its database.
Cli = Callable[..., Result]


def three(project: Project) -> None:
    """Three migrations, b referencing a: the history and integrity tests' common start."""
    project.add(1, "create_a", "CREATE TABLE a (id int PRIMARY KEY);\n", "DROP TABLE a;\n")
    project.add(2, "create_b", "CREATE TABLE b (id int REFERENCES a);\n", "DROP TABLE b;\n")
    project.add(3, "create_c", "CREATE TABLE c (id int);\n", "DROP TABLE c;\n")
