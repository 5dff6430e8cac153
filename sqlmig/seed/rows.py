"""Seed rows matched to the catalog: tables found, columns known, keys checked, values turned into COPY text.

Rows are grouped into RowGroups, consecutive rows naming the same columns, each loaded by one
COPY so that the columns a row leaves out take their defaults. Everything that can be known
without asking the server is checked here and added to Problems; db/load asks the rest.
"""

from __future__ import annotations

import itertools
import json
import operator
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import Problem
from .catalog import Column, TableInfo
from .file import SeedFile, SeedTable
from .problems import SHOWN, Problems, also_in, did_you_mean, pointer
from .values import INT_BOUNDS, Unfit, check_range, column_texts, out_of_range, shown, to_text

_RELKIND = {"v": "view", "m": "materialized view", "f": "foreign table", "S": "sequence", "i": "index", "c": "type"}


@dataclass(frozen=True, eq=False)
class RowGroup:
    """Consecutive rows naming the same columns: one COPY, so left-out columns get their defaults."""

    start: int  # index in the table's rows of the first row
    columns: tuple[str, ...]
    rows: tuple[tuple[str | None, ...], ...]  # COPY texts, None for SQL NULL


@dataclass(frozen=True, eq=False)
class PreparedTable:
    """A seed table matched to the catalog, its rows turned into COPY text."""

    source: SeedTable
    info: TableInfo
    key: tuple[str, ...]
    groups: tuple[RowGroup, ...]

    @property
    def label(self) -> str:
        return self.source.table

    @property
    def row_count(self) -> int:
        return len(self.source.rows)

    def column(self, name: str) -> Column:
        return next(c for c in self.info.columns if c.name == name)

    def values(self, column: str) -> Iterator[tuple[int, str]]:
        """(row index, text) of every non-null value given for a column."""
        for group in self.groups:
            if column not in group.columns:
                continue
            pos = group.columns.index(column)
            for offset, row in enumerate(group.rows):
                text = row[pos]
                if text is not None:
                    yield group.start + offset, text


def prepare(seed: SeedFile, catalog: Sequence[TableInfo | None], problems: Problems) -> list[PreparedTable]:
    """Match each table and row to the catalog and convert values; problems go to `problems`."""
    prepared = []
    for table, info in zip(seed.tables, catalog, strict=True):
        where = table.pointer
        if info is None:
            problems.add(
                Problem(
                    f"{where}/table",
                    f"table {json.dumps(table.table)} does not exist",
                    "run the migration that creates it (seed runs pending migrations unless --no-migrate); "
                    "names are exact and case-sensitive",
                )
            )
            continue
        if info.relkind not in ("r", "p"):
            kind = _RELKIND.get(info.relkind, "relation")
            problems.add(Problem(f"{where}/table", f"{table.table} is a {kind}, not a table", "seed loads tables"))
            continue
        prepared.append(_prepare_table(table, info, problems))
    return prepared


@dataclass(frozen=True)
class _Shape:
    """What rows naming the same keys (in the same order) share: computed once per distinct shape."""

    columns: tuple[str, ...]  # known, writable, in table order
    key_pos: tuple[int, ...] | None  # where the key columns are in `columns`, if all are there
    missing: tuple[str, ...]  # NOT NULL columns without a default that these rows leave out
    missing_keys: tuple[str, ...]  # key columns these rows leave out (not already in `missing`)
    unknown: tuple[str, ...]
    generated: tuple[str, ...]


def _shape(signature: tuple[str, ...], info: TableInfo, key: tuple[str, ...]) -> _Shape:
    columns = {c.name: c for c in info.columns}
    given = set(signature)
    cols = tuple(c.name for c in info.columns if c.name in given and not c.generated)
    missing = tuple(c.name for c in info.columns if c.not_null and not c.has_default and c.name not in given)
    return _Shape(
        columns=cols,
        key_pos=tuple(cols.index(k) for k in key) if key and all(k in cols for k in key) else None,
        missing=missing,
        missing_keys=tuple(k for k in key if k in columns and k not in given and k not in missing),
        unknown=tuple(n for n in signature if n not in columns),
        generated=tuple(n for n in signature if n in columns and columns[n].generated),
    )


def _prepare_table(table: SeedTable, info: TableInfo, problems: Problems) -> PreparedTable:
    where = table.pointer
    # Row problems come after the table's own (an unknown column often explains a thousand missing values).
    row_problems = Problems(problems.limit)
    columns = {c.name: c for c in info.columns}
    key = _conflict_key(table, info, problems)
    unknown: dict[str, tuple[int, int]] = {}  # column -> (first row, count)
    generated: dict[str, tuple[int, int]] = {}
    shapes: dict[tuple[str, ...], _Shape] = {}
    # First pass: rows into groups of one shape, a stretch of rows naming the same keys at a time
    # (groupby and tuple() run in C: seed rows are regular, a stretch is often the whole table).
    grouped: list[tuple[int, _Shape, list[Mapping[str, Any]]]] = []
    index = 0
    for signature, stretch in itertools.groupby(map(tuple, table.rows)):
        count = len(list(stretch))
        shape = shapes.get(signature)
        if shape is None:
            shape = shapes[signature] = _shape(signature, info, key)
        for name in shape.unknown:
            first, n = unknown.get(name, (index, 0))
            unknown[name] = (first, n + count)
        for name in shape.generated:
            first, n = generated.get(name, (index, 0))
            generated[name] = (first, n + count)
        for row_index in range(index, index + count) if shape.missing else ():
            for name in shape.missing:
                message = f"missing value for column {name} (NOT NULL, no default)"
                row_problems.add(Problem(f"{where}/rows/{row_index}", message))
        if not grouped or grouped[-1][1].columns != shape.columns:  # key order may differ; the columns decide
            grouped.append((index, shape, []))
        grouped[-1][2].extend(table.rows[index : index + count])
        index += count
    # Second pass: convert each group column by column; a group with a bad value is redone row by row.
    groups: list[tuple[RowGroup, _Shape, list[Mapping[str, Any]]]] = []
    for start, shape, rows in grouped:
        converted = [column_texts([r[name] for r in rows], columns[name]) for name in shape.columns]
        texts: list[tuple[str | None, ...]]
        if all(c is not None for c in converted):
            texts = list(zip(*converted, strict=True)) if shape.columns else [()] * len(rows)
        else:
            texts = [
                _row_texts(row, shape, columns, f"{where}/rows/{start + offset}", row_problems)
                for offset, row in enumerate(rows)
            ]
        groups.append((RowGroup(start, shape.columns, tuple(texts)), shape, rows))
    _check_keys(table, key, columns, groups, row_problems)
    for name, (first, n) in unknown.items():
        problems.add(
            Problem(
                pointer(f"{where}/rows/{first}", name),
                f"column {json.dumps(name)} does not exist in table {table.table}" + also_in(n - 1),
                did_you_mean(name, list(columns)),
            )
        )
    for name, (first, n) in generated.items():
        problems.add(
            Problem(
                pointer(f"{where}/rows/{first}", name),
                f"column {name} is generated and cannot be given" + also_in(n - 1),
                "leave it out; PostgreSQL computes it",
            )
        )
    problems.take(row_problems)
    return PreparedTable(table, info, key, tuple(group for group, _, _ in groups))


def _check_keys(
    table: SeedTable,
    key: tuple[str, ...],
    columns: Mapping[str, Column],
    groups: Sequence[tuple[RowGroup, _Shape, list[Mapping[str, Any]]]],
    problems: Problems,
) -> None:
    """Upserts need a key in every row; a key given twice in the file would fail or be ambiguous."""
    where = table.pointer
    check_keys = table.upserts
    find_duplicates = bool(key) and table.on_conflict != "skip"
    seen: dict[tuple[str | None, ...], int] = {}
    if find_duplicates:  # most files have none: one set says so, without a loop over the rows in Python
        texts = [
            ident
            for group, shape, _ in groups
            if shape.key_pos is not None
            for ident in map(operator.itemgetter(*shape.key_pos), group.rows)
        ]
        find_duplicates = len(set(texts)) < len(texts)
    for group, shape, rows in groups:
        if check_keys:
            for name in shape.missing_keys:
                for offset in range(len(rows)):
                    problems.add(_no_key(table, key, name, group.start + offset))
            if shape.key_pos is not None:
                for name in key:
                    if not columns[name].not_null:  # a null in a NOT NULL key column is reported already
                        for offset, row in enumerate(rows):
                            if row[name] is None:
                                problems.add(_no_key(table, key, name, group.start + offset))
        if find_duplicates and shape.key_pos is not None:
            pick = operator.itemgetter(*shape.key_pos)
            idents = map(pick, group.rows) if len(shape.key_pos) > 1 else ((v,) for v in map(pick, group.rows))
            for offset, ident in enumerate(idents):
                if None in ident:
                    continue
                earlier = seen.setdefault(ident, group.start + offset)
                if earlier != group.start + offset:
                    problems.add(
                        Problem(
                            f"{where}/rows/{group.start + offset}",
                            f"duplicate key ({', '.join(key)})=({', '.join(str(v) for v in ident)}):"
                            f" same as {where}/rows/{earlier}",
                            "each row of a table needs its own key",
                        )
                    )


def keyless(table: PreparedTable) -> tuple[int, int] | None:
    """(first row, count) of the rows of an on_conflict `error` table that give no unique key of it.

    Nothing such a row holds can conflict with the row an earlier seed loaded from it, so loading
    the file again would insert it again: these rows may load only into an empty table.
    """
    if table.source.on_conflict != "error":
        return None
    first, count = -1, 0
    for group in table.groups:
        given = set(group.columns)
        covering = [key for key in table.info.unique_keys if key <= given]
        if any(all(table.column(name).not_null for name in key) for key in covering):
            continue  # every row gives this key (a null in it is reported as a NOT NULL problem)
        positions = [[group.columns.index(name) for name in key] for key in covering]
        for offset, row in enumerate(group.rows):
            if not any(all(row[p] is not None for p in key) for key in positions):
                first, count = (group.start + offset if count == 0 else first), count + 1
    return (first, count) if count else None


def keyless_problem(table: PreparedTable, first: int, count: int, *, denied: str = "") -> Problem:
    """Rows found by keyless(), in a table that holds rows (or, when `denied`, may hold some)."""
    keys = ["(" + ", ".join(sorted(key)) + ")" for key in table.info.unique_keys]  # the primary key first
    if keys:
        no_key = f"this row gives no key, {' or '.join(keys)}"
        fix = 'give the key in every row ("on_conflict": "skip" or "update" then makes re-running idempotent)'
    else:
        no_key = f"this row gives no key ({table.label} has no primary key or unique constraint)"
        fix = "add a primary key or unique constraint and give it in every row"
    holds = (
        f"sqlmig cannot tell whether {table.label} already holds rows ({denied})"
        if denied
        else f"{table.label} already holds rows"
    )
    return Problem(
        f"{table.source.pointer}/rows/{first}",
        f"{holds}, and {no_key}, so on_conflict error cannot tell it from a row loaded before:"
        f" seeding again would insert it again" + also_in(count - 1),
        (f"grant SELECT on {table.label} to this role, " if denied else "")
        + f'{fix}, or set "on_conflict": "append" to insert these rows on every run',
    )


def _no_key(table: SeedTable, key: tuple[str, ...], name: str, row: int) -> Problem:
    return Problem(
        f"{table.pointer}/rows/{row}",
        f"no value for key column {name}",
        f"on_conflict {table.on_conflict} matches rows by ({', '.join(key)}); give it in every row",
    )


def _row_texts(
    row: Mapping[str, Any], shape: _Shape, columns: Mapping[str, Column], where: str, problems: Problems
) -> tuple[str | None, ...]:
    """The slow path, for the rows of a group with a bad value: texts value by value, each bad one
    reported with None in its place."""
    values: list[str | None] = []
    for name in shape.columns:
        value, column = row[name], columns[name]
        if value is None:
            if column.not_null:
                problems.add(
                    Problem(
                        pointer(where, name),
                        f"null is not allowed: column {name} is NOT NULL",
                        "leave the key out to use the column's default" if column.has_default else "",
                    )
                )
            values.append(None)
            continue
        try:
            check_range(value, column.type)
            values.append(to_text(value, column))
        except Unfit as exc:
            problems.add(
                Problem(pointer(where, name), f"{shown(value)} is not valid for column {name} {column.type}", str(exc))
            )
            values.append(None)
    return tuple(values)


def _conflict_key(table: SeedTable, info: TableInfo, problems: Problems) -> tuple[str, ...]:
    """The conflict columns: given, or the primary key; checked against the table's unique constraints."""
    where = table.pointer
    names = [c.name for c in info.columns]
    if table.key is not None:
        missing = False
        for index, name in enumerate(table.key):
            if name not in names:
                missing = True
                problems.add(
                    Problem(
                        f"{where}/key/{index}",
                        f"column {json.dumps(name)} does not exist in table {table.table}",
                        did_you_mean(name, names),
                    )
                )
        if not missing and table.upserts and frozenset(table.key) not in info.unique_keys:
            keys = ["(" + ", ".join(sorted(k)) + ")" for k in info.unique_keys]
            problems.add(
                Problem(
                    f"{where}/key",
                    f"({', '.join(table.key)}) is neither the primary key nor a unique constraint of {table.table}",
                    f"unique keys: {', '.join(keys)}" if keys else f"{table.table} has no unique constraint",
                )
            )
        return table.key
    if info.primary_key:
        return info.primary_key
    if table.upserts:
        problems.add(
            Problem(
                where,
                f"{table.table} has no primary key, so on_conflict {table.on_conflict} needs a key",
                'give "key": [...] naming the columns of a unique constraint',
            )
        )
    return ()


def invalid_value(table: PreparedTable, row: int, column: str, reason: str | None) -> Problem:
    """A value the server's input function refused (pg_input_is_valid).

    The server quotes the whole value back: a long one is shortened, and an integer column's
    'out of range' says what the column holds instead.
    """
    col = table.column(column)
    value = table.source.rows[row][column]
    reason = _LONG_QUOTE.sub(lambda m: f'"{m.group(1)[: SHOWN - 5]}..."', reason or "")
    integer = col.type.removesuffix("[]")  # an integer array's elements have the same range
    if integer in INT_BOUNDS and "out of range" in reason:
        reason = out_of_range(integer)
    return Problem(
        pointer(f"{table.source.pointer}/rows/{row}", column),
        f"{shown(value)} is not valid for column {column} {col.type}",
        reason,
    )


_LONG_QUOTE = re.compile(f'"([^"]{{{SHOWN},}})"')
