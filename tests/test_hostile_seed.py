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


# ---- numbers and nesting: every value either loads exactly or is refused at its JSON pointer ----

VALUES = (
    "CREATE TABLE v (id int PRIMARY KEY, i int, b bigint, s smallint, n numeric, f float8, r real,"
    " j jsonb, js json, t text, ia int[], na numeric[], ta text[]);\n"
)
BIG = "9" * 5000  # beyond Python's 4300-digit limit for int <-> str
DEEP = "[" * 500 + "]" * 500
DEEP_OBJECT = '{"a": ' * 500 + "1" + "}" * 500
DEEP_FRACTION = "[" * 500 + "1.50" + "]" * 500


def seed_value(cli: Cli, project: Project, column: str, text: str) -> Result:
    project.add(1, "v", VALUES)
    return seed(cli, project, '{"tables": [{"table": "v", "rows": [{"id": 1, "' + column + '": ' + text + "}]}]}")


@pytest.mark.parametrize(
    ("column", "text", "check", "param"),
    [
        ("n", BIG, "n = %s::numeric AND n::text = %s", BIG),
        ("n", "-" + BIG, "n = %s::numeric AND n::text = %s", "-" + BIG),
        ("n", "0." + BIG, "n = %s::numeric AND n::text = %s", "0." + BIG),
        ("n", "1e400", "n = %s::numeric AND n::text = %s", "1" + "0" * 400),
        ("n", "-0", "n = 0 AND %s = %s", ""),
        ("na", f"[{BIG}, -1]", "na = ARRAY[%s::numeric, -1] AND na[1]::text = %s", BIG),
        ("j", BIG, "j = %s::jsonb AND j::text = %s", BIG),
        ("j", "1e400", "j = %s::jsonb AND j::text = %s", "1" + "0" * 400),
        ("js", BIG, "js::text = %s AND js::text = %s", BIG),
        ("f", "-0", "f::text = %s AND f::text = %s", "-0"),
        ("r", "-0.0", "r::text = %s AND r::text = %s", "-0"),
        ("f", "1.7976931348623157e308", "f = %s::float8 AND f::text = %s", "1.7976931348623157e+308"),
        ("f", "5e-324", "f = %s::float8 AND f::text = %s", "5e-324"),
        ("i", "-0", "i = 0 AND %s = %s", ""),
        ("b", "-9223372036854775808", "b = %s::bigint AND b::text = %s", "-9223372036854775808"),
        ("ia", "[[[[[[7]]]]]]", "ia[1][1][1][1][1][1] = 7 AND %s = %s", ""),
        ("j", DEEP, "j = %s::jsonb AND %s = %s", DEEP),
        ("j", DEEP_OBJECT, "j = %s::jsonb AND %s = %s", DEEP_OBJECT),
        ("j", DEEP_FRACTION, "j = %s::jsonb AND %s = %s", DEEP_FRACTION),
        ("js", DEEP_FRACTION, "js::jsonb = %s::jsonb AND %s = %s", DEEP_FRACTION),
        ("js", '"a\\u0000b"', "js::text = %s AND %s = %s", '"a\\u0000b"'),
    ],
)
def test_numbers_and_nesting_that_postgresql_holds_load_exactly(
    cli: Cli, project: Project, db: Conn, column: str, text: str, check: str, param: str
) -> None:
    r = seed_value(cli, project, column, text)
    assert r.exit_code == 0, r.stderr[:2000]
    assert r.stderr == "" and "Traceback" not in r.stdout
    assert r.stdout.splitlines()[1].startswith("seeded v: 1 inserted, 0 skipped, 0 updated (")
    row = db.execute(f"SELECT {check} FROM v", (param, param) if check.count("%s") == 2 else (param,) * 3)
    assert row.fetchone() == (True,)


@pytest.mark.parametrize(
    ("column", "text", "needles"),
    [
        ("i", BIG, ["integer", "-2147483648 to 2147483647"]),
        ("i", "-" + BIG, ["integer", "-2147483648 to 2147483647"]),
        ("b", BIG, ["bigint", "-9223372036854775808 to 9223372036854775807"]),
        ("b", "9223372036854775808", ["bigint", "-9223372036854775808 to 9223372036854775807"]),
        ("s", "32768", ["smallint", "-32768 to 32767"]),
        ("i", "2147483648", ["integer", "-2147483648 to 2147483647"]),
        ("i", "1e400", ["integer"]),
        ("i", "2.5", ["integer"]),
        ("ia", DEEP, ["nested 500 deep", "at most 6 dimensions"]),
        ("ia", "[[[[[[[1]]]]]]]", ["nested 7 deep", "at most 6 dimensions"]),
        ("ia", f"[{BIG}]", ["integer"]),
        ("f", "1e400", ["double precision", "out of range"]),
        ("f", "-1e400", ["double precision", "out of range"]),
        ("r", "1e39", ["real", "out of range"]),
        ("n", "1e200000", ["numeric"]),
        ("j", "1e200000", ["jsonb"]),
        ("n", "1e99999999999999999999", ["exponent"]),
        ("j", "[1e99999999999999999999]", ["exponent"]),
        ("t", '"a\\u0000b"', ["NUL"]),
        ("ta", '["a\\u0000b"]', ["NUL"]),
        ("j", '"a\\u0000b"', ["jsonb"]),
        ("j", '{"a\\u0000b": 1}', ["jsonb"]),
        ("n", "NaN", ["NaN is not a JSON number"]),
        ("f", "-Infinity", ["-Infinity is not a JSON number"]),
        ("t", '"\\udc00"', ["lone surrogate"]),
    ],
)
def test_numbers_and_nesting_that_do_not_fit_are_refused_at_their_pointer(
    cli: Cli, project: Project, db: Conn, column: str, text: str, needles: list[str]
) -> None:
    r = seed_value(cli, project, column, text)
    assert r.exit_code == 3, (r.stdout, r.stderr[:2000])
    assert f"/tables/0/rows/0/{column}" in r.stderr, r.stderr[:2000]
    for needle in needles:
        assert needle in r.stderr, r.stderr[:2000]
    assert "Traceback" not in r.stderr + r.stdout and "Error:" not in r.stderr
    assert BIG not in r.stderr and DEEP not in r.stderr  # a value is quoted shortened
    assert len(r.stderr) < 2000
    if db.execute("SELECT to_regclass('v')").fetchone() != (None,):
        assert db.execute("SELECT count(*) FROM v").fetchone() == (0,)


@pytest.mark.parametrize(
    ("text", "needles"),
    [
        (
            '{"tables": [{"table": ' + BIG + ', "rows": []}]}',
            ["/tables/0/table", "expected a string, found the number 999"],
        ),
        ('{"tables": [], "extra": %s}' % ("[" * 900 + "]" * 900), ["(root)", "extra"]),
        ('{"tables": [{"table": "v", "rows": [{"id": %s}]}]}' % ("[" * 900 + "NaN" + "]" * 900), ["NaN"]),
        ('{"tables": [{"table": "v", "rows": [{"id": 1, "j": %s}]}]}' % ("[" * 5000 + "]" * 5000), ["5005 levels"]),
        ('{"tables": [{"table": "v\\u0000", "rows": [{"id": 1}]}]}', ["/tables/0/table", "does not exist"]),
        ('{"tables": [{"table": "v", "rows": [{"id": 1, "t\\u0000": 1}]}]}', ["/tables/0/rows/0/t\\u0000"]),
        ('{"tables": [{"table": "v", "key": ["i\\u0000"], "rows": [{"id": 1}]}]}', ["/tables/0/key/0"]),
    ],
)
def test_hostile_files_are_refused_without_a_traceback(
    cli: Cli, project: Project, db: Conn, text: str, needles: list[str]
) -> None:
    project.add(1, "v", VALUES)
    r = seed(cli, project, text)
    assert r.exit_code == 3, (r.stdout, r.stderr[:2000])
    for needle in needles:
        assert needle in r.stderr, r.stderr[:2000]
    assert "Traceback" not in r.stderr + r.stdout and "Error:" not in r.stderr
    assert BIG not in r.stderr and len(r.stderr) < 3000
    if db.execute("SELECT to_regclass('v')").fetchone() != (None,):
        assert db.execute("SELECT count(*) FROM v").fetchone() == (0,)
