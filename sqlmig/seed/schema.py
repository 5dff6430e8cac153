"""The seed file's JSON Schema (Draft 2020-12, shipped in the package) and its violations, in document order."""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from decimal import Decimal
from importlib import resources
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from ..errors import Problem
from .problems import pointer
from .values import shown


def schema_text() -> str:
    """The JSON Schema (Draft 2020-12) as shipped inside the package."""
    return resources.files("sqlmig").joinpath("schemas/seed.schema.json").read_text(encoding="utf-8")


@functools.cache
def _validator() -> Draft202012Validator:
    return Draft202012Validator(json.loads(schema_text()))


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
