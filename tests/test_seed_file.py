"""The seed file without a database: JSON errors, schema violations, conversions to PostgreSQL text."""

from __future__ import annotations

import json
import re
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from sqlmig.errors import ConfigError, Problem, SeedInvalid
from sqlmig.seed.catalog import Column, TableInfo
from sqlmig.seed.file import read
from sqlmig.seed.problems import Problems
from sqlmig.seed.rows import keyless, keyless_problem, prepare
from sqlmig.seed.schema import schema_text
from sqlmig.seed.values import Unfit, array_literal, json_text, to_text

from .support import ROOT, run_cli


def write(path: Path, doc: object) -> Path:
    path.write_text(doc if isinstance(doc, str) else json.dumps(doc), encoding="utf-8")
    return path


def problems_of(path: Path) -> list[str]:
    with pytest.raises(SeedInvalid) as info:
        read(path)
    assert info.value.exit_code == 3
    return [str(p) for p in info.value.problems]


def test_shipped_schema_is_draft_2020_12_and_ships_in_the_package() -> None:
    schema = json.loads(schema_text())
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert (ROOT / "sqlmig" / "schemas" / "seed.schema.json").read_text(encoding="utf-8") == schema_text()


def test_repo_seed_file_fits_the_schema_and_has_demo_data() -> None:
    plan = read(ROOT / "data" / "seed.json")
    rows = {t.table: len(t.rows) for t in plan.tables}
    assert list(rows)[:3] == ["currency", "region", "product"]
    assert rows["product"] >= 20 and rows["product_variant"] >= rows["product"]
    assert rows["customer"] >= 3 and rows["currency"] >= 2 and rows["region"] >= 2


def test_print_schema_needs_no_database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    r = run_cli("seed", "--print-schema")
    assert r.exit_code == 0 and r.stderr == ""
    assert json.loads(r.stdout) == json.loads(schema_text())


def test_bad_json_names_line_and_column(tmp_path: Path) -> None:
    path = write(tmp_path / "seed.json", '{\n  "tables": [\n    {"table": "t", "rows": [}]\n  ]\n}\n')
    assert problems_of(path) == [f"{path}:3:29: Expecting value (fix the JSON syntax)"]


def test_not_utf8_names_the_byte(tmp_path: Path) -> None:
    path = tmp_path / "seed.json"
    path.write_bytes(b'{"tables": [\n {"table": "caf\xe9", "rows": []}]}')
    assert problems_of(path) == [f"{path}:2:16: byte 0xe9 is not UTF-8 (save the file as UTF-8)"]


def test_missing_file_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        read(tmp_path / "nope.json")
    assert info.value.exit_code == 2 and "--file" in info.value.hint


def test_schema_violations_all_reported_with_json_pointers(tmp_path: Path) -> None:
    doc = {
        "tabels": [],
        "tables": [
            {"table": "ok", "rows": [{"a": 1}]},
            {"table": "a.b.c", "rows": [{"a": 1}, 7, "x"]},
            {"table": "t", "on_conflict": "ignore", "key": [], "rows": {"a": 1}},
            {"rows": []},
        ],
    }
    found = problems_of(write(tmp_path / "seed.json", doc))
    assert found == [
        "(root): Additional properties are not allowed ('tabels' was unexpected)",
        "/tables/1/rows/1: expected an object, found the number 7",
        '/tables/1/rows/2: expected an object, found the string "x"',
        '/tables/1/table: "a.b.c" is not a table name: expected `table` or `schema.table`, '
        "each part 1 to 63 characters without dots",
        "/tables/2/key: [] should be non-empty",
        "/tables/2/on_conflict: 'ignore' is not one of ['error', 'skip', 'update', 'append']",
        "/tables/2/rows: expected an array, found an object",
        "/tables/3: 'table' is a required property",
    ]


def test_root_must_be_an_object(tmp_path: Path) -> None:
    assert problems_of(write(tmp_path / "seed.json", "[]")) == ["(root): expected an object, found an array"]


def test_repeated_keys_and_nan_are_refused(tmp_path: Path) -> None:
    text = '{"tables": [{"table": "t", "rows": [{"a": 1, "b": NaN, "a": 2}, {"c": -Infinity}]}]}'
    assert problems_of(write(tmp_path / "seed.json", text)) == [
        '/tables/0/rows/0/a: key "a" appears more than once in this object',
        "/tables/0/rows/0/b: NaN is not a JSON number",
        "/tables/0/rows/1/c: -Infinity is not a JSON number",
    ]


def test_pointer_escapes_slash_and_tilde(tmp_path: Path) -> None:
    path = write(tmp_path / "seed.json", '{"tables": [{"table": "t", "rows": [{"a/b~c": 1, "a/b~c": 2}]}]}')
    assert problems_of(path) == ['/tables/0/rows/0/a~1b~0c: key "a/b~c" appears more than once in this object']


# ---- catalog checks, with a catalog built by hand ---------------------------------------------


PRODUCT = TableInfo(
    "public",
    "product",
    "r",
    (
        Column("id", "integer", not_null=True),
        Column("title", "text", not_null=True),
        Column("tags", "text[]", kind="array"),
        Column("meta", "jsonb", kind="json", not_null=True, has_default=True),
        Column("slug", "text", generated=True, has_default=True),
    ),
    primary_key=("id",),
    unique_keys=(frozenset({"id"}),),
)


def checked(tmp_path: Path, rows: list[dict[str, object]], **entry: object) -> list[str]:
    path = write(tmp_path / "seed.json", {"tables": [{"table": "product", "rows": rows, **entry}]})
    problems = Problems()
    prepare(read(path), [PRODUCT], problems)
    return [str(p) for p in problems.listed()]


def test_catalog_problems_are_all_reported_table_level_first(tmp_path: Path) -> None:
    rows: list[dict[str, object]] = [
        {"id": 1, "titel": "typo"},
        {"id": 2, "title": {"no": "object"}, "tags": "not-an-array-but-a-literal"},
        {"id": 3, "title": None, "meta": None, "slug": "x"},
        {"id": 4, "title": "ok", "tags": [["a"], {"b": 1}]},
        {"id": 4, "title": "dup", "titel": "again"},
    ]
    assert checked(tmp_path, rows) == [
        '/tables/0/rows/0/titel: column "titel" does not exist in table product (also in 1 more row) '
        "(did you mean title? names are exact and case-sensitive)",
        "/tables/0/rows/2/slug: column slug is generated and cannot be given (leave it out; PostgreSQL computes it)",
        "/tables/0/rows/0: missing value for column title (NOT NULL, no default)",
        '/tables/0/rows/1/title: {"no": "object"} is not valid for column title text '
        "(an object fits only a json or jsonb column)",
        "/tables/0/rows/2/title: null is not allowed: column title is NOT NULL",
        "/tables/0/rows/2/meta: null is not allowed: column meta is NOT NULL "
        "(leave the key out to use the column's default)",
        '/tables/0/rows/3/tags: [["a"], {"b": 1}] is not valid for column tags text[] '
        "(an object inside an array fits only a json[] or jsonb[] column)",
        "/tables/0/rows/4: duplicate key (id)=(4): same as /tables/0/rows/3 (each row of a table needs its own key)",
    ]


def test_key_must_be_unique_for_upserts(tmp_path: Path) -> None:
    assert checked(tmp_path, [{"id": 1, "title": "a"}], on_conflict="update", key=["title"]) == [
        "/tables/0/key: (title) is neither the primary key nor a unique constraint of product (unique keys: (id))"
    ]
    assert checked(tmp_path, [{"id": 1, "title": "a"}], on_conflict="skip", key=["nope"]) == [
        '/tables/0/key/0: column "nope" does not exist in table product (columns: id, title, tags, meta, slug)'
    ]
    no_pk = TableInfo("public", "log", "r", (Column("line", "text"),))
    path = write(tmp_path / "log.json", {"tables": [{"table": "log", "on_conflict": "skip", "rows": [{"line": "x"}]}]})
    problems = Problems()
    prepare(read(path), [no_pk], problems)
    assert [str(p) for p in problems.listed()] == [
        '/tables/0: log has no primary key, so on_conflict skip needs a key (give "key": [...] naming the '
        "columns of a unique constraint)"
    ]


def test_problems_are_capped_with_a_count(tmp_path: Path) -> None:
    found = checked(tmp_path, [{"id": i} for i in range(150)])
    assert len(found) == 101
    assert found[-1] == "... and 50 more problems"


def test_rows_with_different_columns_become_separate_groups(tmp_path: Path) -> None:
    rows = [{"title": "a", "id": 1}, {"id": 2, "title": "b"}, {"id": 3, "title": "c", "meta": {}}]
    path = write(tmp_path / "seed.json", {"tables": [{"table": "product", "rows": rows}]})
    prepared = prepare(read(path), [PRODUCT], Problems())
    groups = [(g.start, g.columns, g.rows) for g in prepared[0].groups]
    assert groups == [(0, ("id", "title"), (("1", "a"), ("2", "b"))), (2, ("id", "title", "meta"), (("3", "c", "{}"),))]


# ---- JSON values as PostgreSQL text ---------------------------------------------------------------


def test_values_become_the_text_postgresql_reads() -> None:
    text, jsonb, arr, jarr = (
        Column("c", "text"),
        Column("c", "jsonb", kind="json"),
        Column("c", "text[]", kind="array"),
        Column("c", "jsonb[]", kind="array", element_json=True),
    )
    assert to_text(None, text) is None
    assert to_text(True, text) == "true"
    assert to_text(Decimal("12345678901234567890.000000000001"), text) == "12345678901234567890.000000000001"
    assert to_text("x", jsonb) == '"x"'
    assert to_text({"a": [1, Decimal("1.50"), None, "é"]}, jsonb) == '{"a": [1, 1.50, null, "é"]}'
    assert to_text(["a", None, 'q"\\', "NULL", [1]], arr) == '{"a",NULL,"q\\"\\\\","NULL",{"1"}}'
    assert to_text([{"a": 1}, [1]], jarr) == '{"{\\"a\\": 1}","[1]"}'
    with pytest.raises(Unfit):
        to_text([1], text)
    with pytest.raises(Unfit):
        to_text("nul\x00", text)


@given(st.lists(st.one_of(st.none(), st.text(alphabet=st.characters(blacklist_characters="\x00")))))
def test_array_literal_round_trips(items: list[str | None]) -> None:
    assert _parse_array(array_literal(items)) == items


def _parse_array(text: str) -> list[str | None]:
    """A minimal reader of one-dimensional array literals whose elements are all quoted or NULL."""
    assert text[0] == "{" and text[-1] == "}"
    out: list[str | None] = []
    i, body = 0, text[1:-1]
    while i < len(body):
        if body.startswith("NULL", i):
            out.append(None)
            i += 4
        else:
            assert body[i] == '"'
            i += 1
            chars = []
            while body[i] != '"':
                if body[i] == "\\":
                    i += 1
                chars.append(body[i])
                i += 1
            out.append("".join(chars))
            i += 1
        if i < len(body):
            assert body[i] == ","
            i += 1
    return out


@given(st.text(alphabet='-0[:,. \t\n\u00a0"e1a'))
def test_a_negative_zero_is_found_wherever_the_full_pattern_finds_it(text: str) -> None:
    """_negative_zero looks for its literal first; it must agree with the plain pattern it replaces."""
    from sqlmig.seed.strict_json import _negative_zero

    assert _negative_zero(text) == (re.search(r"[\[:,]\s*-0(?![0-9.eE])", text) is not None)


@pytest.mark.parametrize("value", ["-0", " -0", "[-0]", "[ -0]", "[1,-0]", "[1, -0]", "[1,\n\t -0]"])
def test_a_negative_zero_keeps_its_sign(tmp_path: Path, value: str) -> None:
    """A -0 after ':', '[' or ',' is read with its sign (int() would drop it; float8 keeps it)."""
    doc = read(write(tmp_path / "seed.json", '{"tables": [{"table": "t", "rows": [{"a":' + value + "}]}]}"))
    got = doc.tables[0].rows[0]["a"]
    assert str(got[-1] if isinstance(got, list) else got) == "-0"


def test_problem_str_without_location() -> None:
    assert str(Problem("", "... and 3 more problems")) == "... and 3 more problems"


def test_lone_surrogate_escapes_are_refused_but_pairs_are_fine(tmp_path: Path) -> None:
    bad = write(tmp_path / "bad.json", '{"tables": [{"table": "t", "rows": [{"a": "x\\ud800", "\\udfff": 1}]}]}')
    assert problems_of(bad) == [
        "/tables/0/rows/0/a: a string with a lone surrogate escape (\\ud800-\\udfff) is not valid Unicode",
        "/tables/0/rows/0/\\udfff: a key with a lone surrogate escape (\\ud800-\\udfff) is not valid Unicode",
    ]
    r = run_cli("seed", "--file", str(bad), "--database-url", "postgresql://nobody@127.0.0.1:1/x")
    assert r.exit_code == 3 and "/tables/0/rows/0/\\udfff: a key" in r.stderr  # printable, no traceback
    good = write(tmp_path / "good.json", '{"tables": [{"table": "t", "rows": [{"a": "\\ud83d\\ude00"}]}]}')
    assert read(good).tables[0].rows[0]["a"] == "\U0001f600"


def test_integers_out_of_their_columns_range_are_refused_without_the_server(tmp_path: Path) -> None:
    """Both paths: a run with a number out of range leaves the fast path, and the row names the range."""
    big = "9" * 5000
    rows = '{"id": 1, "title": "a"}, {"id": BIG, "title": "b"}, {"id": -2147483649}, {"id": -2147483648, "title": "d"}'
    path = write(
        tmp_path / "seed.json", '{"tables": [{"table": "product", "rows": [' + rows.replace("BIG", big) + "]}]}"
    )
    problems = Problems()
    prepare(read(path), [PRODUCT], problems)
    assert [str(p) for p in problems.listed()] == [
        "/tables/0/rows/2: missing value for column title (NOT NULL, no default)",
        f"/tables/0/rows/1/id: {big[:57]}... is not valid for column id integer "
        "(out of range: integer holds -2147483648 to 2147483647)",
        "/tables/0/rows/2/id: -2147483649 is not valid for column id integer "
        "(out of range: integer holds -2147483648 to 2147483647)",
    ]


def test_arrays_deeper_than_six_dimensions_are_refused_without_recursing() -> None:
    column = Column("c", "integer[]", kind="array")
    six = "[" * 6 + "1" + "]" * 6
    assert to_text(json.loads(six), column) == "{" * 6 + '"1"' + "}" * 6
    for depth in (7, 500, 5000):
        nested: list[object] = []
        for _ in range(depth - 1):
            nested = [nested]
        with pytest.raises(Unfit, match=f"nested {depth} deep: PostgreSQL arrays have at most 6 dimensions"):
            to_text(nested, column)


def test_json_text_writes_any_nesting_back_exactly() -> None:
    deep: object = [Decimal("1.50"), {"k": None}]
    for _ in range(5000):
        deep = {"a": [deep]}
    text = json_text(deep)
    assert text == '{"a": [' * 5000 + '[1.50, {"k": null}]' + "]}" * 5000
    assert json_text({"a\u0000": [True, "x"]}) == '{"a\\u0000": [true, "x"]}'


ORDERS = TableInfo(
    "public",
    "orders",
    "r",
    (
        Column("id", "integer", not_null=True, has_default=True),
        Column("code", "text"),
        Column("total", "integer", not_null=True),
    ),
    primary_key=("id",),
    unique_keys=(frozenset({"id"}), frozenset({"code"})),
)


@pytest.mark.parametrize(("on_conflict", "found"), [("error", (1, 3)), ("append", None)])
def test_rows_that_give_no_unique_key_are_found(tmp_path: Path, on_conflict: str, found: object) -> None:
    """A row gives a key when every column of one unique key has a value (a null never conflicts)."""
    rows = [{"id": 1, "total": 1}, {"total": 2}, {"code": "a", "total": 3}, {"code": None, "total": 4}, {"total": 5}]
    path = write(tmp_path / "seed.json", {"tables": [{"table": "orders", "on_conflict": on_conflict, "rows": rows}]})
    problems = Problems()
    [table] = prepare(read(path), [ORDERS], problems)
    assert not problems
    assert keyless(table) == found
    if found:
        assert str(keyless_problem(table, 1, 3)) == (
            "/tables/0/rows/1: orders already holds rows, and this row gives no key, (id) or (code), so on_conflict"
            " error cannot tell it from a row loaded before: seeding again would insert it again (also in 2 more rows)"
            ' (give the key in every row ("on_conflict": "skip" or "update" then makes re-running idempotent),'
            ' or set "on_conflict": "append" to insert these rows on every run)'
        )


def test_on_conflict_policies_are_the_schemas() -> None:
    """The typed policy and the shipped schema's enum name the same four words."""
    from typing import get_args

    from sqlmig.seed.file import OnConflict
    from sqlmig.seed.schema import schema_text

    schema = json.loads(schema_text())
    enum = schema["$defs"]["table"]["properties"]["on_conflict"]["enum"]
    assert sorted(get_args(OnConflict)) == sorted(enum)
