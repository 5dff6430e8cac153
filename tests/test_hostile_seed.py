"""Hostile seed files: each a clear message naming the location, a documented exit code, nothing written."""

from __future__ import annotations

from pathlib import Path

import pytest

from .support import Cli, Conn, Project, Result

pytestmark = pytest.mark.reliability

ROWS = '{"tables": [{"table": "item", "rows": [%s]}]}'
ID = "/tables/0/rows/0/id"
SCHEMA = "CREATE TABLE item (id int PRIMARY KEY, name text NOT NULL, big bigint, data jsonb);\n"


def seed(cli: Cli, project: Project, text: str) -> Result:
    path = project.root / "seed.json"
    path.write_text(text, encoding="utf-8")
    return cli("seed", "--file", str(path))


def nothing_written(db: Conn, migrated: bool) -> None:
    exists = db.execute("SELECT to_regclass('item')").fetchone() != (None,)
    assert exists == migrated
    if exists:
        assert db.execute("SELECT count(*) FROM item").fetchone() == (0,)


@pytest.mark.parametrize(
    ("text", "needles"),
    [
        ("[]", ["seed.json"]),
        ("42", ["seed.json"]),
        ('{"tables": 1}', ["/tables"]),
        (ROWS % '{"id": 1, "id": 2, "name": "x"}', [ID, "more than once"]),
        (ROWS % '{"id": NaN, "name": "x"}', [ID, "NaN"]),
        (ROWS % '{"id": Infinity, "name": "x"}', [ID, "Infinity"]),
        ('{"tables": [{"table": "item", "rows": "x"}]}', ["/tables/0/rows"]),
        ('{"tables": [{"table": "item", "on_conflict": "explode", "rows": []}]}', ["/tables/0/on_conflict"]),
        ('{"tables": [{"table": "item", "rows": [{"id": 1, "name": "x"}]', ["seed.json:1:"]),
    ],
)
def test_malformed_files_run_nothing(cli: Cli, project: Project, db: Conn, text: str, needles: list[str]) -> None:
    project.add(1, "item", SCHEMA)
    r = seed(cli, project, text)
    assert r.exit_code == 3, (r.stdout, r.stderr)
    for needle in needles:
        assert needle in r.stderr, r.stderr
    assert "Traceback" not in r.stderr
    nothing_written(db, migrated=False)  # a file that fails validation runs nothing, not even migrations


def test_ten_thousand_levels_deep(cli: Cli, project: Project, db: Conn) -> None:
    project.add(1, "item", SCHEMA)
    deep = "[" * 10_000 + "]" * 10_000
    r = seed(cli, project, '{"tables": [{"table": "item", "rows": [{"id": 1, "name": "x", "data": ' + deep + "}]}]}")
    assert r.exit_code == 3, r.stderr
    assert "seed.json" in r.stderr and "Traceback" not in r.stderr and "RecursionError" not in r.stderr
    nothing_written(db, migrated=False)


@pytest.mark.parametrize(
    ("row", "needle"),
    [
        ('{"id": 1e400, "name": "x"}', "/tables/0/rows/0/id"),
        ('{"id": 1, "name": "x", "big": 123456789012345678901234567890}', "/tables/0/rows/0/big"),
        ('{"id": "one", "name": "x"}', "/tables/0/rows/0/id"),
        ('{"id": 1, "name": {"an": "object"}}', "/tables/0/rows/0/name"),
        ('{"id": 1}', "/tables/0/rows/0"),
    ],
)
def test_values_that_do_not_fit(cli: Cli, project: Project, db: Conn, row: str, needle: str) -> None:
    project.add(1, "item", SCHEMA)
    r = seed(cli, project, '{"tables": [{"table": "item", "rows": [' + row + "]}]}")
    assert r.exit_code == 3, (r.stdout, r.stderr)
    assert needle in r.stderr and "Traceback" not in r.stderr
    nothing_written(db, migrated=True)


@pytest.mark.parametrize("name", ['item"; DROP TABLE item; --', "item; DROP TABLE item", "it'em"])
def test_table_names_with_quotes_and_semicolons(cli: Cli, project: Project, db: Conn, name: str) -> None:
    project.add(1, "item", SCHEMA)
    import json

    r = seed(cli, project, json.dumps({"tables": [{"table": name, "rows": [{"id": 1, "name": "x"}]}]}))
    assert r.exit_code == 3, r.stderr
    assert "/tables/0/table" in r.stderr and "does not exist" in r.stderr
    nothing_written(db, migrated=True)


def test_seed_path_is_a_directory(cli: Cli, project: Project, tmp_path: Path) -> None:
    r = cli("seed", "--file", str(tmp_path))
    assert r.exit_code in (2, 3) and "Traceback" not in r.stderr
