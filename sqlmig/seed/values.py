"""JSON values as the text PostgreSQL's input functions read, and which of those texts are surely valid.

Values are converted once, to COPY text, whatever way they are loaded (COPY or an upsert through a
staging table); the column's type decides: JSON for json/jsonb, an array literal for arrays, the
scalar's text otherwise. A value no text of the type could hold is refused here (Unfit) with a reason.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any

from .catalog import Column
from .problems import shortened


class Unfit(ValueError):
    """A JSON value that no text PostgreSQL could read fits the column's type."""


def to_text(value: Any, column: Column) -> str | None:
    """The text PostgreSQL's input function for the column's type reads (COPY text format, unescaped)."""
    if value is None:
        return None
    if column.kind == "json":
        return json_value(value)
    if isinstance(value, list):
        if column.kind == "array":
            return array_literal(value, element_json=column.element_json)
        raise Unfit("an array fits only an array, json or jsonb column")
    if isinstance(value, dict):
        raise Unfit("an object fits only a json or jsonb column")
    return scalar_text(value)


def scalar_text(value: Any) -> str:
    """The text of a JSON string, boolean or number; a string PostgreSQL text cannot hold is Unfit."""
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


def json_value(value: Any) -> str:
    """JSON text of a parsed value: the C encoder, or json_text for what it refuses.

    The encoder refuses a Decimal (a JSON fraction, written back exactly by json_text) and
    nesting deeper than the stack left (json_text loops instead of recursing).
    """
    try:
        return _JSON(value)
    except (TypeError, RecursionError):
        return json_text(value)


def column_texts(values: list[Any], column: Column) -> list[str | None] | None:
    """Texts of one column's values at C speed, or None when one of them needs a closer look
    (a null in a NOT NULL column, a number out of range, a value to_text refuses)."""
    # Membership by type: `None in values` compares None with each value, and a Decimal's
    # comparison asks numbers.Rational (an abc, in Python) every time.
    types = set(map(type, values))
    nulls = type(None) in types
    types.discard(type(None))
    if column.not_null and nulls:
        return None
    if column.kind == "json":
        return [None if v is None else json_value(v) for v in values]
    bound = INT_BOUNDS.get(column.type)
    if bound is not None and (int in types or Decimal in types):  # out of range: the row-by-row path says so
        only_numbers = types <= {int, Decimal} and not nulls
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
        if types == {int} and not nulls:
            return list(map(str, values))
        return [v if type(v) is str or v is None else str(v) for v in values]
    try:
        return [to_text(v, column) for v in values]
    except Unfit:
        return None


INT_BOUNDS = {"smallint": 2**15, "integer": 2**31, "bigint": 2**63}  # each holds -bound to bound - 1
_BIG_EXPONENT = re.compile(r"[0-9][eE][+-]?[0-9]{5}")
_NUMERIC_TYPMOD = re.compile(r"numeric\((\d+)(?:,(\d+))?\)")
_PLAIN_DECIMAL = re.compile(r"-?[0-9]{1,300}(?:\.[0-9]{1,300})?")


def check_range(value: Any, type_name: str) -> None:
    """A number for a smallint/integer/bigint column is refused here when out of range: the server
    would quote every digit back (a 5000-digit number) and not say what the column holds."""
    bound = INT_BOUNDS.get(type_name)
    if bound is not None and (type(value) is int or type(value) is Decimal) and not -bound <= value < bound:
        raise Unfit(out_of_range(type_name))


def out_of_range(type_name: str) -> str:
    """What an integer column holds, said instead of echoing a number that does not fit."""
    bound = INT_BOUNDS[type_name]
    return f"out of range: {type_name} holds {-bound} to {bound - 1}"


def valid_by_construction(column: Column) -> Callable[[str], bool] | None:
    """A cheap test of texts that the column's input function certainly accepts, or None.

    Asking the server costs a round trip and an array of the values; texts this says yes to
    are not sent (plain integers in range, true/false, JSON sqlmig itself wrote). Anything
    else, including everything of a domain or another type, is asked.
    """
    if column.type == "text":
        return lambda _text: True
    bound = INT_BOUNDS.get(column.type)
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


def shown(value: Any) -> str:
    """A value as it is written in JSON, shortened for a message."""
    return shortened(json_text(value))
