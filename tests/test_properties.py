"""Property-based tests: file names, version order, and the plan computed from files and history."""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from sqlmig.migrations import FILE_RE, Directives, Migration, SqlFile, discover, parse_filename
from sqlmig.plan import AppliedMigration, MigrationState, build_plan

from .support import count_case

pytestmark = pytest.mark.reliability

names = st.from_regex(r"[a-z0-9][a-z0-9_]{0,20}", fullmatch=True)
versions = st.integers(min_value=0, max_value=2**63 - 1)


@given(versions, names, st.sampled_from(["up", "down"]), st.integers(min_value=0, max_value=6))
def test_filename_round_trip(version: int, name: str, kind: str, pad: int) -> None:
    count_case("test_filename_round_trip")
    filename = f"{version:0{pad}d}_{name}.{kind}.sql"
    assert parse_filename(filename) == (version, name, kind)


@given(st.text(max_size=40))
def test_parse_never_crashes_and_accepts_only_the_pattern(text: str) -> None:
    count_case("test_parse_never_crashes_and_accepts_only_the_pattern")
    parsed = parse_filename(text)
    assert (parsed is not None) == bool(FILE_RE.match(text))
    if parsed is not None:
        assert text.endswith(f"_{parsed[1]}.{parsed[2]}.sql")


@settings(max_examples=40, deadline=None)
@given(st.sets(st.integers(min_value=1, max_value=10**12), min_size=1, max_size=12), st.randoms())
def test_discovery_orders_numerically_whatever_the_padding(vs: set[int], rnd: object) -> None:
    count_case("test_discovery_orders_numerically_whatever_the_padding")
    import random

    assert isinstance(rnd, random.Random)
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        for v in vs:
            stem = f"{v:0{rnd.randint(1, 14)}d}_m"
            (d / f"{stem}.up.sql").write_text("SELECT 1;\n")
            (d / f"{stem}.down.sql").write_text("")
        assert [m.version for m in discover([d])] == sorted(vs)


def _migration(version: int, body: str) -> Migration:
    from sqlmig.migrations import checksum

    up = SqlFile(Path(f"{version}_m.up.sql"), body, Directives())
    return Migration(version, "m", up, SqlFile(Path(f"{version}_m.down.sql"), ""), checksum(body))


files_and_history = st.tuples(
    st.dictionaries(st.integers(1, 40), st.sampled_from(["SELECT 1;", "SELECT 2;", "SELECT  1 ;"]), max_size=15),
    st.dictionaries(st.integers(1, 40), st.sampled_from(["SELECT 1;", "SELECT 2;"]), max_size=15),
    st.permutations(list(range(40))),
)


@settings(max_examples=300)
@given(files_and_history)
def test_plan_invariants(data: tuple[dict[int, str], dict[int, str], list[int]]) -> None:
    count_case("test_plan_invariants")
    on_disk, in_history, order = data
    migrations = [_migration(v, body) for v, body in sorted(on_disk.items())]
    from sqlmig.migrations import checksum

    seq_of = {v: order[v - 1] for v in in_history}
    rows = [
        AppliedMigration(v, "m", checksum(body), datetime.now(UTC), "me", 1, seq_of[v], applied_sql=body)
        for v, body in in_history.items()
    ]
    plan = build_plan(migrations, rows)
    versions = [e.version for e in plan.entries]
    assert versions == sorted(set(on_disk) | set(in_history))  # each version exactly once, in order
    top = max(in_history, default=None)
    for e in plan.entries:
        if e.version not in in_history:
            assert e.state == MigrationState.PENDING
            assert e.out_of_order == (top is not None and e.version < top)
        elif e.version not in on_disk:
            assert e.state == MigrationState.MISSING
        elif on_disk[e.version] == in_history[e.version]:
            assert e.state == MigrationState.APPLIED and not e.cosmetic_change
        elif on_disk[e.version].replace(" ", "") == in_history[e.version].replace(" ", ""):
            assert e.state == MigrationState.APPLIED and e.cosmetic_change  # whitespace only
        else:
            assert e.state == MigrationState.MODIFIED
    assert [e.version for e in plan.applied_newest_first] == sorted(in_history, key=lambda v: -seq_of[v])
    # From the generated files and history, not from the plan's states: the versions whose file
    # is what ran (or differs only in blanks); at head when those are all the files and all the rows.
    unchanged = {
        v for v in on_disk.keys() & in_history.keys() if on_disk[v].replace(" ", "") == in_history[v].replace(" ", "")
    }
    assert plan.is_head == (set(on_disk) == set(in_history) == unchanged)
    assert len(plan.drift_problems()) == len(set(in_history) - unchanged)  # modified or missing


# Pieces a refused statement is made of, and near-misses, spelled in mixed case and glued in any order.
_CHECK_WORDS = st.sampled_from(
    [
        "begin",
        "BEGIN",
        "Start transaction",
        "commit",
        "END",
        "rollback",
        "ROLLBACK TO s",
        "abort",
        "prepare transaction 'x'",
        "vacuum",
        "alter system set x = 1",
        "create database d",
        "drop database d",
        "create tablespace t",
        "create subscription s",
        "create index concurrently i on t (a)",
        "drop index concurrently i",
        "reindex system",
        "reindex database d",
        "copy t from stdin",
        "alter table t detach partition p concurrently",
        "1begin",
        "x_begin",
        "begin1",
        "éend",
        "append",
        "DROP TABLE t",
        "drop function f(text, integer)",
        "select 1",
        "'",
        '"',
        "$$",
        "$a$",
        "/*",
        "*/",
        "\\i x",
        "--",
        "e'",
        ";",
        "\n",
        " ",
        "(",
        ")",
        ",",
        "5",
        "_",
        "\u017ftart",
        "\u212aeep",
    ]
)


@settings(max_examples=400, deadline=None)
@given(st.lists(_CHECK_WORDS | st.text(max_size=4), max_size=12).map(" ".join), st.booleans())
@example("1begin;", False)
@example("drop table t; 0x1 commit", False)
@example("DROP TABLE a$b; vacuum", False)
def test_checks_prefilter_never_hides_a_refusal(sql: str, no_transaction: bool) -> None:
    """Files the cheap pre-filter lets through without lexing get the same answer as the full checks."""
    count_case("test_checks_prefilter_never_hides_a_refusal")
    from sqlmig import file_checks

    file = SqlFile(Path("0001_x.down.sql"), sql, Directives(no_transaction=no_transaction))
    assert file_checks.file_problems(file) == file_checks._scanned_problems(file)


@settings(max_examples=1000, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            [
                *["DROP", " TABLE", "a", "b1", ";", ";;", " ", "\n", "\t", "IF EXISTS", "é", ",", ".", "::", "= 1"],
                *["(", ")", "f(int)", "CREATE FUNCTION", " BEGIN ATOMIC", " END", "Begin", "CASE", "create"],
            ]
        ),
        max_size=30,
    ).map("".join)
)
@example("DROP TABLE a;\n\nDROP TABLE b")
@example("  ;  DROP VIEW v ;\n")
@example("DROP TABLE a (")
@example("DROP FUNCTION f(text, integer);\nDROP TABLE t;\n")
@example(") ( ; ) a; b")
@example("CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; END;")
def test_plain_split_agrees_with_the_scanner(sql: str) -> None:
    """Down files split without the scanner give exactly the scanner's statements, or go to it."""
    from sqlmig.scanner import split_statements
    from sqlmig.statements import split_plain

    count_case("test_plain_split_agrees_with_the_scanner")
    plain = split_plain(sql)
    if plain is None:
        return
    reference = split_statements(sql)
    assert [(p.text, p.start, p.line, p.column) for p in plain] == [
        (s.text, s.start, s.line, s.column) for s in reference
    ]
    assert [p.words(3) for p in plain] == [s.words(3) for s in reference]
