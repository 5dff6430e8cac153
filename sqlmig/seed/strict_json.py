"""Strict JSON for seed files: exact numbers, and what Python's json lets through refused.

Python's json reads NaN, Infinity, repeated keys and lone surrogate escapes without a word, and
turns fractions into floats; a seed must load exactly what it says, so these are found and
reported here, each at its JSON Pointer, before anything looks at the document's structure.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from ..errors import Problem, SeedInvalid
from .problems import Problems, pointer, shortened


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
# A -0 that may be a number: int() would drop its sign, which float8 keeps. The pattern starts with
# its literal, which the regex engine finds at memchr speed (13 times faster than from '[', ':' or ',').
_MINUS_ZERO = re.compile(r"-0(?![0-9.eE])")


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
            doc = loads(exact_integers=_negative_zero(text))
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


def _negative_zero(text: str) -> bool:
    """Whether the text holds a -0 after '[', ':' or ',' (white space between): a -0 given as a number,
    or, harmlessly, one inside a string that looks so (the file is then parsed with exact integers)."""
    for match in _MINUS_ZERO.finditer(text):
        before = match.start() - 1
        while before >= 0 and text[before].isspace():
            before -= 1
        if before >= 0 and text[before] in "[:,":
            return True
    return False


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
        yield where, f"{shortened(value.what)} {value.why}"
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
