"""`-- sqlmig:allow SM101 reason`: a finding accepted on purpose, next to the statement it is for.

A waiver covers the statement it sits in (a comment at the end of one of its lines) or the one it
sits above (only comments and blank lines between). Its reason is shown in the report, so the
next reader knows why the risk was taken; a waiver without one, or naming no rule, is a finding.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import NamedTuple

from ..migrations import WAIVER_RE
from ..scanner import Statement

_WAIVER = re.compile(WAIVER_RE.pattern + r"[ \t]*(?P<rest>[^\n]*)")
_CODE = re.compile(r"[A-Za-z]{2}\d{3}")


class Waiver(NamedTuple):
    line: int
    column: int
    codes: tuple[str, ...]
    reason: str


def read(sql: str) -> list[Waiver]:
    """Every waiver comment of a file; codes uppercased, the reason is the text after them."""
    if "sqlmig:allow" not in sql:
        return []
    out: list[Waiver] = []
    for match in _WAIVER.finditer(sql):
        words = match.group("rest").replace(",", " ").split()
        codes: list[str] = []
        while words and _CODE.fullmatch(words[0]):
            codes.append(words.pop(0).upper())
        line = sql.count("\n", 0, match.start()) + 1
        column = match.start() - (sql.rfind("\n", 0, match.start()) + 1) + 1
        out.append(Waiver(line, column, tuple(codes), " ".join(words)))
    return out


def covering(waivers: Sequence[Waiver], statements: Sequence[Statement], stmt: Statement) -> list[Waiver]:
    """The waivers that cover `stmt` (one of `statements`, in file order)."""
    first = stmt.line
    last = stmt.line + stmt.text.count("\n")
    previous_end = 0
    for s in statements:
        if s.start >= stmt.start:
            break
        previous_end = s.line + s.text.count("\n")
    return [w for w in waivers if first <= w.line <= last or previous_end < w.line < first]
