"""`-- sqlmig:allow SM101 reason`: a finding accepted on purpose, next to the statement it is for.

A waiver covers one statement: the one it ends (a comment after the statement on its last line),
the one it sits in (a comment between its lines), or the one it sits above (only comments and
blank lines between). Its reason is shown in the report, so the next reader knows why the risk
was taken; a waiver without one, or naming no rule, is a finding.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import NamedTuple

from ..migrations import WAIVER_RE
from ..scanner import Statement

_WAIVER = re.compile(WAIVER_RE.pattern + r"[ \t]*(?P<rest>[^\n]*)")
_CODE = re.compile(r"[A-Za-z]{2}\d{3}:?")


class Waiver(NamedTuple):
    offset: int
    line: int
    column: int
    codes: tuple[str, ...]
    reason: str


def read(sql: str, statements: Sequence[Statement]) -> list[Waiver]:
    """Every waiver comment of a file (not the same text inside a string or a quoted name); codes
    uppercased, the reason is the text after them."""
    if "sqlmig:allow" not in sql:
        return []
    out: list[Waiver] = []
    for match in _WAIVER.finditer(sql):
        if _inside_token(match.start(), statements):
            continue
        words = match.group("rest").replace(",", " ").split()
        codes: list[str] = []
        while words and _CODE.fullmatch(words[0]):
            codes.append(words.pop(0).rstrip(":").upper())
        line = sql.count("\n", 0, match.start()) + 1
        column = match.start() - (sql.rfind("\n", 0, match.start()) + 1) + 1
        out.append(Waiver(match.start(), line, column, tuple(codes), " ".join(words)))
    return out


def _inside_token(offset: int, statements: Sequence[Statement]) -> bool:
    """Whether `offset` is inside a string, quoted name or dollar-quoted body of a statement (so
    not in a comment); only a statement whose span holds the offset is tokenized."""
    for stmt in statements:
        if stmt.start <= offset < stmt.end:
            return any(t.start <= offset < t.start + len(t.text) for t in stmt.tokens)
    return False


def covering(waivers: Sequence[Waiver], statements: Sequence[Statement], stmt: Statement, sql: str) -> list[Waiver]:
    """The waivers that cover `stmt` (one of `statements`, in file order, of the file `sql`)."""
    index = next(i for i, s in enumerate(statements) if s.start == stmt.start)
    following = statements[index + 1].start if index + 1 < len(statements) else len(sql)
    line_end = sql.find("\n", stmt.end)
    line_end = len(sql) if line_end < 0 else line_end
    previous_end = statements[index - 1].end if index else 0
    inside = range(stmt.start, stmt.end)  # a comment between its lines
    trailing = range(stmt.end, min(line_end, following))  # after it, on its last line
    above = range(previous_end, stmt.start)  # between the previous statement and it...
    out = [
        w
        for w in waivers
        if w.offset in inside or w.offset in trailing or (w.offset in above and _own_line(sql, w.offset, previous_end))
    ]
    return out


def _own_line(sql: str, offset: int, previous_end: int) -> bool:
    """The waiver's line starts after the previous statement ended: it is not a comment ending
    that statement's line (which is that statement's waiver)."""
    return sql.rfind("\n", 0, offset) + 1 >= previous_end
