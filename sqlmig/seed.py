"""Read a seed file, validate it against the shipped JSON Schema and the catalog, and turn it into COPY rows; pure."""

from __future__ import annotations

import difflib
import functools
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from .errors import ConfigError, Problem, SeedInvalid

MAX_PROBLEMS = 100  # beyond this a file is wrong wholesale; more lines would only bury the first ones
_SHOWN = 60  # characters of a value quoted in a message


def schema_text() -> str:
    """The JSON Schema (Draft 2020-12) as shipped inside the package."""
    return resources.files("sqlmig").joinpath("schemas/seed.schema.json").read_text(encoding="utf-8")


@functools.cache
def _validator() -> Draft202012Validator:
    return Draft202012Validator(json.loads(schema_text()))


# ---- the file ----------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class SeedTable:
    """One entry of `tables`: where rows go and what a conflicting key does."""

    index: int
    table: str  # as written: "product" or "catalog.product"
    schema: str | None
    name: str
    on_conflict: str = "error"
    key: tuple[str, ...] | None = None
    rows: Sequence[Mapping[str, Any]] = ()

    @property
    def pointer(self) -> str:
        return f"/tables/{self.index}"


@dataclass(frozen=True, eq=False)
class SeedPlan:
    """A seed file that is valid JSON and fits the schema (the catalog is checked later)."""

    path: Path
    tables: tuple[SeedTable, ...]

    @property
    def row_count(self) -> int:
        return sum(len(t.rows) for t in self.tables)


class Problems:
    """Problems collected across stages, keeping the first MAX_PROBLEMS and counting the rest."""

    def __init__(self, limit: int = MAX_PROBLEMS) -> None:
        self.items: list[Problem] = []
        self.more = 0
        self.limit = limit

    def add(self, problem: Problem) -> None:
        if len(self.items) < self.limit:
            self.items.append(problem)
        else:
            self.more += 1

    def __bool__(self) -> bool:
        return bool(self.items)

    def __len__(self) -> int:
        return len(self.items) + self.more

    def listed(self) -> list[Problem]:
        tail = [Problem("", f"... and {self.more} more problem{'s' if self.more != 1 else ''}")] if self.more else []
        return self.items + tail

    def raise_if_any(self, path: Path, stage: str) -> None:
        if self:
            n = len(self)
            raise SeedInvalid(
                f"{path}: {n} problem{'s' if n != 1 else ''} {stage}; nothing was loaded",
                self.listed(),
            )


def read(path: Path) -> SeedPlan:
    """Parse and validate the file against the schema; every problem is reported at once."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(
            f"no seed file at {path}",
            hint="create it, give --file PATH, or set seed_file in sqlmig.toml",
        ) from None
    except OSError as exc:
        raise ConfigError(f"cannot read the seed file {path}: {exc.strerror}") from None
    try:
        text = raw.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise SeedInvalid(
            f"{path} is not UTF-8; nothing was loaded",
            [Problem(f"{path}:{line}:{column}", f"byte 0x{raw[exc.start]:02x} is not UTF-8", "save the file as UTF-8")],
        ) from None
    doc = parse(text, path)
    problems = Problems()
    for problem in schema_problems(doc):
        problems.add(problem)
    problems.raise_if_any(path, "in its structure (see `sqlmig seed --print-schema`)")
    return plan_of(path, doc)


class _Odd:
    """Marks what json accepts but a seed must not hold: NaN/Infinity, or a key given twice in an object."""

    def __init__(self, what: str) -> None:
        self.what = what


class _TwiceDict(dict[str, Any]):
    """An object that named a key more than once (json keeps the last value silently)."""

    twice: tuple[str, ...] = ()


def parse(text: str, path: Path) -> Any:
    """json.loads with exact numbers (Decimal), and with NaN/Infinity and repeated keys refused."""
    odd: list[bool] = []

    def constant(name: str) -> _Odd:
        odd.append(True)
        return _Odd(name)

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        obj = dict(items)
        if len(obj) == len(items):
            return obj
        odd.append(True)
        seen: set[str] = set()
        repeated: dict[str, None] = {}
        for key, _ in items:
            if key in seen:
                repeated[key] = None
            seen.add(key)
        twice = _TwiceDict(obj)
        twice.twice = tuple(repeated)
        return twice

    try:
        doc = json.loads(text, parse_float=Decimal, parse_constant=constant, object_pairs_hook=pairs)
    except json.JSONDecodeError as exc:
        raise SeedInvalid(
            f"{path} is not valid JSON; nothing was loaded",
            [Problem(f"{path}:{exc.lineno}:{exc.colno}", exc.msg, "fix the JSON syntax")],
        ) from None
    except RecursionError:
        raise SeedInvalid(
            f"{path} is nested too deeply; nothing was loaded",
            [Problem(str(path), "JSON nested too deeply")],
        ) from None
    if odd:
        problems = Problems()
        for where, message in _odd_values(doc, ""):
            problems.add(Problem(where or "(root)", message))
        problems.raise_if_any(path, "in its JSON")
    return doc


def _odd_values(value: Any, where: str) -> Iterator[tuple[str, str]]:
    if isinstance(value, _Odd):
        yield where, f"{value.what} is not a JSON number"
    elif isinstance(value, dict):
        if isinstance(value, _TwiceDict):
            for key in value.twice:
                yield pointer(where, key), f"key {json.dumps(key)} appears more than once in this object"
        for key, item in value.items():
            yield from _odd_values(item, pointer(where, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _odd_values(item, f"{where}/{index}")


def pointer(base: str, key: str | int) -> str:
    """Extend a JSON Pointer (RFC 6901) by one key."""
    return f"{base}/{str(key).replace('~', '~0').replace('/', '~1')}"


def schema_problems(doc: Any) -> list[Problem]:
    """Every schema violation, in document order, each at its JSON Pointer."""

    def order(error: ValidationError) -> list[tuple[int, int | str]]:
        return [(0, p) if isinstance(p, int) else (1, str(p)) for p in error.absolute_path]

    found: list[Problem] = []
    for error in sorted(_validator().iter_errors(doc), key=order):
        where = "".join(pointer("", p) for p in error.absolute_path) or "(root)"
        found.append(Problem(where, _schema_message(error)))
    return found


def _schema_message(error: ValidationError) -> str:
    if error.validator == "type":
        return f"expected {_json_type_name(error.validator_value)}, found {_json_kind(error.instance)}"
    if error.validator == "pattern":
        return (
            f"{shown(error.instance)} is not a table name: expected `table` or `schema.table`, "
            "each part 1 to 63 characters without dots"
        )
    text = error.message
    return text if len(text) <= 200 else text[:197] + "..."


def _json_type_name(expected: Any) -> str:
    names = expected if isinstance(expected, list) else [expected]
    return " or ".join("an object" if n == "object" else "an array" if n == "array" else f"a {n}" for n in names)


def _json_kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, Decimal)):
        return f"the number {value}"
    if isinstance(value, str):
        return f"the string {shown(value)}"
    return "an array" if isinstance(value, list) else "an object"


def shown(value: Any) -> str:
    """A value as it is written in JSON, shortened for a message."""
    text = json_text(value) if not isinstance(value, _Odd) else value.what
    return text if len(text) <= _SHOWN else text[: _SHOWN - 3] + "..."


def plan_of(path: Path, doc: Mapping[str, Any]) -> SeedPlan:
    """The SeedPlan of a document that passed the schema."""
    tables = []
    for index, entry in enumerate(doc["tables"]):
        written = str(entry["table"])
        schema, dot, name = written.partition(".")
        key = entry.get("key")
        tables.append(
            SeedTable(
                index=index,
                table=written,
                schema=schema if dot else None,
                name=name if dot else written,
                on_conflict=str(entry.get("on_conflict", "error")),
                key=tuple(str(k) for k in key) if key is not None else None,
                rows=entry["rows"],
            )
        )
    return SeedPlan(path, tuple(tables))


# ---- the catalog ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    """A column as the catalog describes it; `type` is format_type() output, valid SQL type syntax."""

    name: str
    type: str
    kind: str = "scalar"  # "scalar", "json" (json/jsonb) or "array"
    element_json: bool = False  # json[] / jsonb[]
    not_null: bool = False
    has_default: bool = False  # a default, an identity or a generated value: it may be left out
    identity: str = ""  # "a" (ALWAYS), "d" (BY DEFAULT) or ""
    generated: bool = False
    sequence: str | None = None  # the owned sequence (serial, identity), bumped past seeded values


@dataclass(frozen=True)
class TableInfo:
    """A relation the catalog found for a seed table name."""

    schema: str
    name: str
    relkind: str  # pg_class.relkind: "r" table, "p" partitioned table, "v" view, ...
    columns: tuple[Column, ...]
    primary_key: tuple[str, ...] = ()
    unique_keys: tuple[frozenset[str], ...] = ()  # the primary key too; usable by ON CONFLICT


_RELKIND = {"v": "view", "m": "materialized view", "f": "foreign table", "S": "sequence", "i": "index", "c": "type"}


# ---- prepared rows -------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Run:
    """Consecutive rows naming the same columns: one COPY, so left-out columns get their defaults."""

    start: int  # index in the table's rows of the first row
    columns: tuple[str, ...]
    rows: list[tuple[str | None, ...]] = field(default_factory=list)


@dataclass(frozen=True, eq=False)
class PreparedTable:
    """A seed table matched to the catalog, its rows turned into COPY text."""

    source: SeedTable
    info: TableInfo
    key: tuple[str, ...]
    runs: tuple[Run, ...]

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
        for run in self.runs:
            if column not in run.columns:
                continue
            pos = run.columns.index(column)
            for offset, row in enumerate(run.rows):
                text = row[pos]
                if text is not None:
                    yield run.start + offset, text


class Unfit(ValueError):
    """A JSON value that no text PostgreSQL could read fits the column's type."""


def prepare(plan: SeedPlan, catalog: Sequence[TableInfo | None], problems: Problems) -> list[PreparedTable]:
    """Match each table and row to the catalog and convert values; problems go to `problems`."""
    prepared = []
    for table, info in zip(plan.tables, catalog, strict=True):
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


def _prepare_table(table: SeedTable, info: TableInfo, problems: Problems) -> PreparedTable:
    where = table.pointer
    # Row problems come after the table's own (an unknown column often explains a thousand missing values).
    row_problems = Problems(problems.limit)
    columns = {c.name: c for c in info.columns}
    order = {c.name: i for i, c in enumerate(info.columns)}
    key = _key(table, info, problems)
    required = [c.name for c in info.columns if c.not_null and not c.has_default]
    check_keys = table.on_conflict in ("skip", "update")
    find_duplicates = bool(key) and table.on_conflict in ("error", "update")
    seen_keys: dict[tuple[str | None, ...], int] = {}
    unknown: dict[str, tuple[int, int]] = {}  # column -> (first row, count)
    generated: dict[str, tuple[int, int]] = {}
    # Rows naming the same keys share their column tuple and the positions of the key columns in it.
    signatures: dict[tuple[str, ...], tuple[tuple[str, ...], tuple[int, ...] | None]] = {}
    runs: list[Run] = []
    run: Run | None = None
    for index, row in enumerate(table.rows):
        signature = tuple(row)
        known = signatures.get(signature)
        if known is None:
            for name in signature:
                if name not in columns:
                    first, n = unknown.get(name, (index, 0))
                    unknown[name] = (first, n + 1)
                elif columns[name].generated:
                    first, n = generated.get(name, (index, 0))
                    generated[name] = (first, n + 1)
            cols = tuple(
                sorted((n for n in signature if n in columns and not columns[n].generated), key=order.__getitem__)
            )
            key_pos = tuple(cols.index(k) for k in key) if key and all(k in cols for k in key) else None
            signatures[signature] = known = (cols, key_pos)
        elif len(known[0]) != len(signature):
            for name in signature:
                if name in unknown:
                    unknown[name] = (unknown[name][0], unknown[name][1] + 1)
                elif name in generated:
                    generated[name] = (generated[name][0], generated[name][1] + 1)
        cols, key_pos = known
        values: list[str | None] = []
        for name in cols:
            value = row[name]
            column = columns[name]
            if value is None:
                if column.not_null:
                    row_problems.add(
                        Problem(
                            f"{where}/rows/{index}/{_esc(name)}",
                            f"null is not allowed: column {name} is NOT NULL",
                            "leave the key out to use the column's default" if column.has_default else "",
                        )
                    )
                values.append(None)
                continue
            try:
                values.append(to_text(value, column))
            except Unfit as exc:
                row_problems.add(
                    Problem(
                        f"{where}/rows/{index}/{_esc(name)}",
                        f"{shown(value)} is not valid for column {name} {column.type}",
                        str(exc),
                    )
                )
                values.append(None)
        for name in required:
            if name not in row:
                row_problems.add(
                    Problem(f"{where}/rows/{index}", f"missing value for column {name} (NOT NULL, no default)")
                )
        if check_keys:
            for name in key:
                if name not in columns or row.get(name) is not None:
                    continue  # an unknown key column is reported once, by _key
                if (name in row and columns[name].not_null) or (name not in row and name in required):
                    continue  # already reported as a null or missing NOT NULL value
                row_problems.add(
                    Problem(
                        f"{where}/rows/{index}",
                        f"no value for key column {name}",
                        f"on_conflict {table.on_conflict} matches rows by ({', '.join(key)}); give it in every row",
                    )
                )
        if find_duplicates and key_pos is not None:
            ident = tuple(values[p] for p in key_pos)
            if None not in ident:
                earlier = seen_keys.setdefault(ident, index)
                if earlier != index:
                    row_problems.add(
                        Problem(
                            f"{where}/rows/{index}",
                            f"duplicate key ({', '.join(key)})=({', '.join(str(v) for v in ident)}):"
                            f" same as {where}/rows/{earlier}",
                            "each row of a table needs its own key",
                        )
                    )
        if run is None or run.columns != cols:
            run = Run(index, cols)
            runs.append(run)
        run.rows.append(tuple(values))
    for name, (first, n) in unknown.items():
        problems.add(
            Problem(
                f"{where}/rows/{first}/{_esc(name)}",
                f"column {json.dumps(name)} does not exist in table {table.table}"
                + (f" (also in {n - 1} more row{'s' if n > 2 else ''})" if n > 1 else ""),
                _did_you_mean(name, list(columns)),
            )
        )
    for name, (first, n) in generated.items():
        problems.add(
            Problem(
                f"{where}/rows/{first}/{_esc(name)}",
                f"column {name} is generated and cannot be given"
                + (f" (also in {n - 1} more row{'s' if n > 2 else ''})" if n > 1 else ""),
                "leave it out; PostgreSQL computes it",
            )
        )
    for problem in row_problems.items:
        problems.add(problem)
    problems.more += row_problems.more
    return PreparedTable(table, info, key, tuple(runs))


def _key(table: SeedTable, info: TableInfo, problems: Problems) -> tuple[str, ...]:
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
                        _did_you_mean(name, names),
                    )
                )
        if not missing and table.on_conflict != "error" and frozenset(table.key) not in info.unique_keys:
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
    if table.on_conflict != "error":
        problems.add(
            Problem(
                where,
                f"{table.table} has no primary key, so on_conflict {table.on_conflict} needs a key",
                'give "key": [...] naming the columns of a unique constraint',
            )
        )
    return ()


def _did_you_mean(name: str, names: list[str]) -> str:
    close = difflib.get_close_matches(name, names, n=1)
    if close:
        return f"did you mean {close[0]}? names are exact and case-sensitive"
    listed = ", ".join(names[:20]) + (", ..." if len(names) > 20 else "")
    return f"columns: {listed}"


def _esc(name: str) -> str:
    return name.replace("~", "~0").replace("/", "~1")


def invalid_value(table: PreparedTable, row: int, column: str, reason: str | None) -> Problem:
    """A value the server's input function refused (pg_input_is_valid)."""
    col = table.column(column)
    value = table.source.rows[row][column]
    return Problem(
        f"{table.source.pointer}/rows/{row}/{_esc(column)}",
        f"{shown(value)} is not valid for column {column} {col.type}",
        reason or "",
    )


# ---- JSON values as PostgreSQL text --------------------------------------------------------------


def to_text(value: Any, column: Column) -> str | None:
    """The text PostgreSQL's input function for the column's type reads (COPY text format, unescaped)."""
    if value is None:
        return None
    if column.kind == "json":
        return json_text(value)
    if isinstance(value, list):
        if column.kind == "array":
            return array_literal(value, element_json=column.element_json)
        raise Unfit("an array fits only an array, json or jsonb column")
    if isinstance(value, dict):
        raise Unfit("an object fits only a json or jsonb column")
    return scalar_text(value)


def scalar_text(value: Any) -> str:
    if isinstance(value, str):
        if "\x00" in value:
            raise Unfit("it contains a NUL character (\\u0000), which PostgreSQL text cannot hold")
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, Decimal)):
        return str(value)
    raise Unfit(f"{type(value).__name__} is not a JSON value")


def array_literal(items: Sequence[Any], *, element_json: bool = False) -> str:
    """A PostgreSQL array literal: nested JSON arrays are dimensions, every element quoted."""
    parts = []
    for item in items:
        if item is None:
            parts.append("NULL")
        elif element_json:
            parts.append(_quoted(json_text(item)))
        elif isinstance(item, list):
            parts.append(array_literal(item))
        elif isinstance(item, dict):
            raise Unfit("an object inside an array fits only a json[] or jsonb[] column")
        else:
            parts.append(_quoted(scalar_text(item)))
    return "{" + ",".join(parts) + "}"


def _quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def json_text(value: Any) -> str:
    """JSON text of a parsed value, numbers exactly as written (they were parsed as Decimal)."""
    if isinstance(value, dict):
        return (
            "{" + ", ".join(f"{json.dumps(str(k), ensure_ascii=False)}: {json_text(v)}" for k, v in value.items()) + "}"
        )
    if isinstance(value, list):
        return "[" + ", ".join(json_text(v) for v in value) + "]"
    if isinstance(value, Decimal):
        return str(value)
    return json.dumps(value, ensure_ascii=False)
