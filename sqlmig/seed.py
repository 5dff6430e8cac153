"""Read a seed file, validate it against the shipped JSON Schema and the catalog, and turn it into COPY rows; pure."""

from __future__ import annotations

import difflib
import functools
import json
import operator
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from importlib import resources
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from .errors import ConfigError, Problem, SeedInvalid, plural

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
    """One entry of `tables`: where rows go and what a conflicting key does.

    on_conflict: `error` inserts and lets a duplicate key fail; `skip` and `update` are upserts,
    matching rows by `key`; `append` inserts with no key at all, so every run adds the rows again.
    """

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

    @property
    def upserts(self) -> bool:
        """Rows are matched by key (INSERT ... ON CONFLICT), not simply inserted (COPY)."""
        return self.on_conflict in ("skip", "update")


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
        tail = [Problem("", f"... and {plural(self.more, 'more problem')}")] if self.more else []
        return self.items + tail

    def raise_if_any(self, path: Path, stage: str) -> None:
        if self:
            n = len(self)
            raise SeedInvalid(
                f"{path}: {plural(n, 'problem')} {stage}; nothing was loaded",
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
    """Stands in for a number no PostgreSQL type reads (NaN, Infinity, an exponent beyond any
    type's range): Python's json accepts them, so they are found and reported after parsing."""

    def __init__(self, what: str, why: str = "is not a JSON number") -> None:
        self.what = what
        self.why = why


class _TwiceDict(dict[str, Any]):
    """An object that named a key more than once (json keeps the last value silently)."""

    twice: tuple[str, ...] = ()


# Integers longer than this are read as Decimal: Python refuses int <-> str beyond a limit
# (4300 digits by default, as low as 640 if the user sets it), and PostgreSQL's numeric holds more.
_LONGEST_INT = 640
# A -0 given as a number (after '[', ':' or ','): int() would drop its sign, which float8 keeps.
_NEGATIVE_ZERO = re.compile(r"[\[:,]\s*-0(?![0-9.eE])")


def parse(text: str, path: Path) -> Any:
    """json.loads with exact numbers (Decimal), and with NaN/Infinity and repeated keys refused.

    Integers are parsed by json's C code (a Python hook for each one costs 3% of a large seed);
    only a file holding a very long integer or a -0 is parsed again with a hook that keeps them exact.
    """
    odd: list[bool] = []

    def constant(name: str) -> _Odd:
        odd.append(True)
        return _Odd(name)

    def number(digits: str) -> Decimal | _Odd:
        try:
            return Decimal(digits)
        except InvalidOperation:  # an exponent beyond what Decimal (and any PostgreSQL type) holds
            odd.append(True)
            return _Odd(digits, "has an exponent beyond the range of every PostgreSQL number type")

    def integer(digits: str) -> int | Decimal:
        return int(digits) if len(digits) <= _LONGEST_INT and digits != "-0" else Decimal(digits)

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

    def loads(exact_integers: bool) -> Any:
        hooks: dict[str, Any] = {"parse_int": integer} if exact_integers else {}
        return json.loads(text, parse_float=number, parse_constant=constant, object_pairs_hook=pairs, **hooks)

    try:
        try:
            doc = loads(exact_integers=_NEGATIVE_ZERO.search(text) is not None)
        except json.JSONDecodeError:
            raise
        except ValueError:  # an integer longer than Python's int <-> str limit
            odd.clear()
            doc = loads(exact_integers=True)
    except json.JSONDecodeError as exc:
        raise SeedInvalid(
            f"{path} is not valid JSON; nothing was loaded",
            [Problem(f"{path}:{exc.lineno}:{exc.colno}", exc.msg, "fix the JSON syntax")],
        ) from None
    except RecursionError:
        line, column, depth = _deepest_point(text)
        raise SeedInvalid(
            f"{path} is nested too deeply; nothing was loaded",
            [
                Problem(
                    f"{path}:{line}:{column}",
                    f"JSON nested {depth} levels deep, deeper than sqlmig's JSON reader goes (about 900 levels)",
                    "nest the value less deeply",
                )
            ],
        ) from None
    if _SURROGATE_ESCAPE.search(text):  # json turns a lone \ud800 escape into a str no encoder accepts
        odd.append(True)
    if odd:
        problems = Problems()
        for where, message in _odd_values(doc, ""):
            problems.add(Problem(where or "(root)", message))
        problems.raise_if_any(path, "in its JSON")
    return doc


_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_JSON_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]')


def _deepest_point(text: str) -> tuple[int, int, int]:
    """(line, column, depth) where the text first reaches its deepest nesting; a file json could not read."""
    depth = deepest = at = 0
    for match in _JSON_TOKEN.finditer(text):
        token = match.group()
        if token in ("[", "{"):
            depth += 1
            if depth > deepest:
                deepest, at = depth, match.start()
        elif token in ("]", "}"):
            depth -= 1
    line = text.count("\n", 0, at) + 1
    return line, at - (text.rfind("\n", 0, at) + 1) + 1, deepest


def _odd_values(value: Any, where: str) -> Iterator[tuple[str, str]]:
    if isinstance(value, _Odd):
        yield where, f"{shown(value)} {value.why}"
    elif isinstance(value, str):
        if not _encodes(value):
            yield where, "a string with a lone surrogate escape (\\ud800-\\udfff) is not valid Unicode"
    elif isinstance(value, dict):
        if isinstance(value, _TwiceDict):
            for key in value.twice:
                yield pointer(where, key), f"key {json.dumps(key)} appears more than once in this object"
        for key, item in value.items():
            if not _encodes(key):  # pointer() shows it escaped: the raw key cannot even be printed
                yield pointer(where, key), "a key with a lone surrogate escape (\\ud800-\\udfff) is not valid Unicode"
            yield from _odd_values(item, pointer(where, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _odd_values(item, f"{where}/{index}")


def _encodes(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def pointer(base: str, key: str | int) -> str:
    """Extend a JSON Pointer (RFC 6901) by one key; a character that cannot be printed (NUL, a
    lone surrogate) is shown as its JSON escape, so the pointer can be printed and read."""
    text = str(key).replace("~", "~0").replace("/", "~1")
    if not text.isprintable():
        text = "".join(
            c if c.isprintable() else f"\\u{ord(c):04x}" if ord(c) <= 0xFFFF else f"\\U{ord(c):08x}" for c in text
        )
    return f"{base}/{text}"


def schema_problems(doc: Any) -> list[Problem]:
    """Every schema violation, in document order, each at its JSON Pointer.

    jsonschema walks every row, about 5 µs each; while the schema says only that a row is an
    object, the rows are taken out of the document it validates and checked here instead.
    """

    def order(path: Sequence[int | str]) -> list[tuple[int, int | str]]:
        return [(0, p) if isinstance(p, int) else (1, str(p)) for p in path]

    checked, row_lists = _without_rows(doc) if _rows_are_plain_objects() else (doc, [])
    found: list[tuple[list[int | str], Problem]] = []
    for error in _validator().iter_errors(checked):
        path = list(error.absolute_path)
        found.append((path, Problem("".join(pointer("", p) for p in path) or "(root)", _schema_message(error))))
    for index, rows in row_lists:
        for row_index, row in enumerate(rows):
            if not isinstance(row, dict):
                problem = Problem(f"/tables/{index}/rows/{row_index}", f"expected an object, found {_json_kind(row)}")
                found.append((["tables", index, "rows", row_index], problem))
    return [problem for _, problem in sorted(found, key=lambda item: order(item[0]))]


@functools.cache
def _rows_are_plain_objects() -> bool:
    rows = json.loads(schema_text())["$defs"]["table"]["properties"]["rows"]
    return {k: v for k, v in rows.items() if k != "description"} == {"type": "array", "items": {"type": "object"}}


def _without_rows(doc: Any) -> tuple[Any, list[tuple[int, list[Any]]]]:
    """The document with each table's rows list emptied, and the lists taken out."""
    if not isinstance(doc, dict) or not isinstance(doc.get("tables"), list):
        return doc, []
    tables: list[Any] = []
    taken: list[tuple[int, list[Any]]] = []
    for index, table in enumerate(doc["tables"]):
        if isinstance(table, dict) and isinstance(table.get("rows"), list):
            taken.append((index, table["rows"]))
            table = {**table, "rows": []}
        tables.append(table)
    return {**doc, "tables": tables}, taken


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
        return f"the number {shown(value)}"
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


@dataclass(frozen=True)
class _Shape:
    """What rows naming the same keys (in the same order) share: computed once per distinct shape."""

    columns: tuple[str, ...]  # known, writable, in table order
    converters: tuple[tuple[str, Callable[[Any], str | None]], ...]
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
        converters=tuple((name, _converter(columns[name])) for name in cols),
        key_pos=tuple(cols.index(k) for k in key) if key and all(k in cols for k in key) else None,
        missing=missing,
        missing_keys=tuple(k for k in key if k in columns and k not in given and k not in missing),
        unknown=tuple(n for n in signature if n not in columns),
        generated=tuple(n for n in signature if n in columns and columns[n].generated),
    )


class _Null(Exception):
    """A null for a NOT NULL column: the row leaves the fast path to be reported."""


def _converter(column: Column) -> Callable[[Any], str | None]:
    convert: Callable[[Any], str | None]
    if column.kind == "json":
        convert = _json_value
    elif column.kind == "array":
        convert = functools.partial(to_text, column=column)
    else:
        convert = _scalar_value
    if column.type in _INT_BOUNDS:
        convert = functools.partial(_integer_value, convert=convert, type_name=column.type)
    if not column.not_null:
        return convert

    def strict(value: Any) -> str | None:
        if value is None:
            raise _Null
        return convert(value)

    return strict


def _integer_value(value: Any, convert: Callable[[Any], str | None], type_name: str) -> str | None:
    _check_range(value, type_name)
    return convert(value)


def _check_range(value: Any, type_name: str) -> None:
    """A number for a smallint/integer/bigint column is refused here when out of range: the server
    would quote every digit back (a 5000-digit number) and not say what the column holds."""
    bound = _INT_BOUNDS.get(type_name)
    if bound is not None and (type(value) is int or type(value) is Decimal) and not -bound <= value < bound:
        raise Unfit(_range(type_name))


def _range(type_name: str) -> str:
    bound = _INT_BOUNDS[type_name]
    return f"out of range: {type_name} holds {-bound} to {bound - 1}"


def _scalar_value(value: Any) -> str | None:
    if type(value) is str:
        if "\x00" in value:
            raise Unfit("it contains a NUL character (\\u0000), which PostgreSQL text cannot hold")
        return value
    if value is None:
        return None
    if type(value) is int:
        return str(value)
    if isinstance(value, list):
        raise Unfit("an array fits only an array, json or jsonb column")
    if isinstance(value, dict):
        raise Unfit("an object fits only a json or jsonb column")
    return scalar_text(value)


def _json_value(value: Any) -> str | None:
    if value is None:
        return None
    try:
        return json.dumps(value, ensure_ascii=False)  # C speed; fails on a Decimal (a JSON fraction)
    except (TypeError, RecursionError):  # or on nesting deeper than the stack left: json_text loops
        return json_text(value)


def _prepare_table(table: SeedTable, info: TableInfo, problems: Problems) -> PreparedTable:
    where = table.pointer
    # Row problems come after the table's own (an unknown column often explains a thousand missing values).
    row_problems = Problems(problems.limit)
    columns = {c.name: c for c in info.columns}
    key = _key(table, info, problems)
    unknown: dict[str, tuple[int, int]] = {}  # column -> (first row, count)
    generated: dict[str, tuple[int, int]] = {}
    shapes: dict[tuple[str, ...], _Shape] = {}
    # First pass: rows into runs of one shape (cheap: a tuple and a lookup per row).
    runs: list[tuple[Run, _Shape, list[Mapping[str, Any]]]] = []
    for index, row in enumerate(table.rows):
        signature = tuple(row)
        shape = shapes.get(signature)
        if shape is None:
            shape = shapes[signature] = _shape(signature, info, key)
        for name in shape.unknown:
            first, n = unknown.get(name, (index, 0))
            unknown[name] = (first, n + 1)
        for name in shape.generated:
            first, n = generated.get(name, (index, 0))
            generated[name] = (first, n + 1)
        for name in shape.missing:
            message = f"missing value for column {name} (NOT NULL, no default)"
            row_problems.add(Problem(f"{where}/rows/{index}", message))
        if not runs or runs[-1][1].columns != shape.columns:  # key order may differ; the columns decide
            runs.append((Run(index, shape.columns), shape, []))
        runs[-1][2].append(row)
    # Second pass: convert each run column by column; a run with a bad value is redone row by row.
    for run, shape, rows in runs:
        converted = [_convert_column([r[name] for r in rows], columns[name]) for name in shape.columns]
        if all(c is not None for c in converted):
            run.rows.extend(zip(*converted, strict=True) if shape.columns else [()] * len(rows))
            continue
        for offset, row in enumerate(rows):
            try:
                run.rows.append(tuple([convert(row[name]) for name, convert in shape.converters]))
            except (Unfit, _Null):
                where_row = f"{where}/rows/{run.start + offset}"
                run.rows.append(_report_values(row, shape, columns, where_row, row_problems))
    _check_keys(table, key, columns, runs, row_problems)
    for name, (first, n) in unknown.items():
        problems.add(
            Problem(
                pointer(f"{where}/rows/{first}", name),
                f"column {json.dumps(name)} does not exist in table {table.table}" + _also_in(n - 1),
                _did_you_mean(name, list(columns)),
            )
        )
    for name, (first, n) in generated.items():
        problems.add(
            Problem(
                pointer(f"{where}/rows/{first}", name),
                f"column {name} is generated and cannot be given" + _also_in(n - 1),
                "leave it out; PostgreSQL computes it",
            )
        )
    for problem in row_problems.items:
        problems.add(problem)
    problems.more += row_problems.more
    return PreparedTable(table, info, key, tuple(run for run, _, _ in runs))


def _json_encoder() -> Callable[[Any], str]:
    """JSON text of a parsed value, through a C encoder made once.

    JSONEncoder.encode builds a new C encoder on every call, which triples the cost of 100,000
    small jsonb values; Python's json without its C part has no c_make_encoder, and keeps encode.
    """
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:
        return json.JSONEncoder(ensure_ascii=False).encode

    def refuse(value: object) -> object:
        raise TypeError(f"{type(value).__name__} is not JSON serializable")

    encoder = make(None, refuse, json.encoder.encode_basestring, None, ": ", ", ", False, False, True)
    return lambda value: "".join(encoder(value, 0))


_JSON = _json_encoder()


def _convert_column(values: list[Any], column: Column) -> list[str | None] | None:
    """Texts of one column's values at C speed, or None when one of them needs a closer look."""
    if column.not_null and None in values:
        return None
    if column.kind == "json":
        try:
            return [None if v is None else _JSON(v) for v in values]
        except (TypeError, RecursionError):  # a Decimal (a JSON fraction), or deep nesting: json_text
            return [None if v is None else json_text(v) for v in values]
    types = set(map(type, values))
    types.discard(type(None))
    bound = _INT_BOUNDS.get(column.type)
    if bound is not None and (int in types or Decimal in types):  # out of range: the row-by-row path says so
        only_numbers = types <= {int, Decimal} and None not in values
        numbers = values if only_numbers else [v for v in values if type(v) is int or type(v) is Decimal]
        if not (-bound <= min(numbers) and max(numbers) < bound):
            return None
    if column.kind != "array" and len(types) == 1 and (Decimal in types or bool in types):  # as scalar_text
        if Decimal in types:
            return [None if v is None else str(v) for v in values]
        return [None if v is None else "true" if v else "false" for v in values]
    if column.kind != "array" and types <= {str, int}:
        if str in types and "\x00" in "".join([v for v in values if type(v) is str]):
            return None
        if types == {str} or not types:
            return values
        return [v if type(v) is str or v is None else str(v) for v in values]
    try:
        return [to_text(v, column) for v in values]
    except Unfit:
        return None


def _also_in(more: int) -> str:
    return f" (also in {plural(more, 'more row')})" if more else ""


def _check_keys(
    table: SeedTable,
    key: tuple[str, ...],
    columns: Mapping[str, Column],
    runs: Sequence[tuple[Run, _Shape, list[Mapping[str, Any]]]],
    problems: Problems,
) -> None:
    """Upserts need a key in every row; a key given twice in the file would fail or be ambiguous."""
    where = table.pointer
    check_keys = table.upserts
    find_duplicates = bool(key) and table.on_conflict != "skip"
    seen: dict[tuple[str | None, ...], int] = {}
    for run, shape, rows in runs:
        if check_keys:
            for name in shape.missing_keys:
                for offset in range(len(rows)):
                    problems.add(_no_key(table, key, name, run.start + offset))
            if shape.key_pos is not None:
                for name in key:
                    if not columns[name].not_null:  # a null in a NOT NULL key column is reported already
                        for offset, row in enumerate(rows):
                            if row[name] is None:
                                problems.add(_no_key(table, key, name, run.start + offset))
        if find_duplicates and shape.key_pos is not None:
            pick = operator.itemgetter(*shape.key_pos)
            idents = map(pick, run.rows) if len(shape.key_pos) > 1 else ((v,) for v in map(pick, run.rows))
            for offset, ident in enumerate(idents):
                if None in ident:
                    continue
                earlier = seen.setdefault(ident, run.start + offset)
                if earlier != run.start + offset:
                    problems.add(
                        Problem(
                            f"{where}/rows/{run.start + offset}",
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
    for run in table.runs:
        given = set(run.columns)
        covering = [key for key in table.info.unique_keys if key <= given]
        if any(all(table.column(name).not_null for name in key) for key in covering):
            continue  # every row gives this key (a null in it is reported as a NOT NULL problem)
        positions = [[run.columns.index(name) for name in key] for key in covering]
        for offset, row in enumerate(run.rows):
            if not any(all(row[p] is not None for p in key) for key in positions):
                first, count = (run.start + offset if count == 0 else first), count + 1
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
        f" seeding again would insert it again" + _also_in(count - 1),
        (f"grant SELECT on {table.label} to this role, " if denied else "")
        + f'{fix}, or set "on_conflict": "append" to insert these rows on every run',
    )


def _no_key(table: SeedTable, key: tuple[str, ...], name: str, row: int) -> Problem:
    return Problem(
        f"{table.pointer}/rows/{row}",
        f"no value for key column {name}",
        f"on_conflict {table.on_conflict} matches rows by ({', '.join(key)}); give it in every row",
    )


def _report_values(
    row: Mapping[str, Any], shape: _Shape, columns: Mapping[str, Column], where: str, problems: Problems
) -> tuple[str | None, ...]:
    """The slow path of a row with a bad value: report each one, with None in its place."""
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
            _check_range(value, column.type)
            values.append(to_text(value, column))
        except Unfit as exc:
            problems.add(
                Problem(pointer(where, name), f"{shown(value)} is not valid for column {name} {column.type}", str(exc))
            )
            values.append(None)
    return tuple(values)


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


def _did_you_mean(name: str, names: list[str]) -> str:
    close = difflib.get_close_matches(name, names, n=1)
    if close:
        return f"did you mean {close[0]}? names are exact and case-sensitive"
    listed = ", ".join(names[:20]) + (", ..." if len(names) > 20 else "")
    return f"columns: {listed}"


_INT_BOUNDS = {"smallint": 2**15, "integer": 2**31, "bigint": 2**63}
_BIG_EXPONENT = re.compile(r"[0-9][eE][+-]?[0-9]{5}")
_NUMERIC_TYPMOD = re.compile(r"numeric\((\d+)(?:,(\d+))?\)")
_PLAIN_DECIMAL = re.compile(r"-?[0-9]{1,300}(?:\.[0-9]{1,300})?")


def valid_by_construction(column: Column) -> Callable[[str], bool] | None:
    """A cheap test of texts that the column's input function certainly accepts, or None.

    Asking the server costs a round trip and an array of the values; texts this says yes to
    are not sent (plain integers in range, true/false, JSON sqlmig itself wrote). Anything
    else, including everything of a domain or another type, is asked.
    """
    if column.type == "text":
        return lambda _text: True
    bound = _INT_BOUNDS.get(column.type)
    if bound is not None:

        def integer(text: str) -> bool:
            digits = text[1:] if text[:1] == "-" else text
            return 0 < len(digits) <= 19 and digits.isascii() and digits.isdigit() and -bound <= int(text) < bound

        return integer
    if column.type == "boolean":
        return lambda text: text in ("true", "false")
    if column.type in ("numeric", "double precision"):
        return lambda text: _PLAIN_DECIMAL.fullmatch(text) is not None
    typmod = _NUMERIC_TYPMOD.fullmatch(column.type)
    if typmod:
        # Fewer integer digits than precision - scale cannot overflow, even after rounding the fraction.
        room = int(typmod.group(1)) - int(typmod.group(2) or 0)
        return lambda text: _PLAIN_DECIMAL.fullmatch(text) is not None and len(text.split(".")[0].lstrip("-")) < room
    if column.type == "jsonb":
        # jsonb refuses \u0000 in strings, and numbers beyond numeric's range (a five-digit exponent).
        return lambda text: "\\u0000" not in text and _BIG_EXPONENT.search(text) is None
    if column.type == "json":
        return lambda _text: True
    return None


def invalid_value(table: PreparedTable, row: int, column: str, reason: str | None) -> Problem:
    """A value the server's input function refused (pg_input_is_valid).

    The server quotes the whole value back: a long one is shortened, and an integer column's
    'out of range' says what the column holds instead.
    """
    col = table.column(column)
    value = table.source.rows[row][column]
    reason = _LONG_QUOTE.sub(lambda m: f'"{m.group(1)[: _SHOWN - 5]}..."', reason or "")
    integer = col.type.removesuffix("[]")  # an integer array's elements have the same range
    if integer in _INT_BOUNDS and "out of range" in reason:
        reason = _range(integer)
    return Problem(
        pointer(f"{table.source.pointer}/rows/{row}", column),
        f"{shown(value)} is not valid for column {column} {col.type}",
        reason,
    )


_LONG_QUOTE = re.compile(f'"([^"]{{{_SHOWN},}})"')


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


MAX_DIMENSIONS = 6  # PostgreSQL's MAXDIM


def array_literal(items: Sequence[Any], *, element_json: bool = False, depth: int = 1) -> str:
    """A PostgreSQL array literal: nested JSON arrays are dimensions, every element quoted.

    `depth` is the dimension `items` fills; beyond PostgreSQL's six the value is refused here,
    before recursion could go as deep as the JSON does.
    """
    if depth > MAX_DIMENSIONS:
        raise Unfit(
            f"nested {depth - 1 + _nesting(items)} deep: PostgreSQL arrays have at most {MAX_DIMENSIONS} dimensions"
        )
    if not element_json and items and all(type(item) is str for item in items):
        joined = "".join(items)
        if '"' not in joined and "\\" not in joined and "\x00" not in joined:  # nothing to escape: one join
            return '{"' + '","'.join(items) + '"}'
    parts = []
    for item in items:
        if item is None:
            parts.append("NULL")
        elif element_json:
            parts.append(_quoted(json_text(item)))
        elif isinstance(item, list):
            parts.append(array_literal(item, depth=depth + 1))
        elif isinstance(item, dict):
            raise Unfit("an object inside an array fits only a json[] or jsonb[] column")
        else:
            parts.append(_quoted(scalar_text(item)))
    return "{" + ",".join(parts) + "}"


def _nesting(value: Any) -> int:
    """How deep arrays nest in a value (1 for a flat array); a loop, for any depth."""
    deepest = 0
    todo = [(value, 1)]
    while todo:
        item, depth = todo.pop()
        if isinstance(item, list):
            deepest = max(deepest, depth)
            todo.extend((member, depth + 1) for member in item)
    return deepest


def _quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


class _Raw(str):
    """Text json_text copies as is (punctuation, a key), queued among the values it is writing."""


def json_text(value: Any) -> str:
    """JSON text of a parsed value, numbers exactly as written (they were parsed as Decimal).

    A loop with its own stack, not recursion: any nesting the JSON reader accepted is written back.
    """
    parts: list[str] = []
    todo: list[Any] = [value]
    while todo:
        item = todo.pop()
        if isinstance(item, _Raw):
            parts.append(item)
        elif isinstance(item, dict):
            queued: list[Any] = [_Raw("{")]
            for index, (key, member) in enumerate(item.items()):
                queued.append(_Raw((", " if index else "") + json.dumps(str(key), ensure_ascii=False) + ": "))
                queued.append(member)
            queued.append(_Raw("}"))
            todo.extend(reversed(queued))
        elif isinstance(item, list):
            queued = [_Raw("[")]
            for index, member in enumerate(item):
                if index:
                    queued.append(_Raw(", "))
                queued.append(member)
            queued.append(_Raw("]"))
            todo.extend(reversed(queued))
        elif isinstance(item, Decimal):
            parts.append(str(item))
        else:
            parts.append(json.dumps(item, ensure_ascii=False))
    return "".join(parts)
