"""Statement boundaries of plain files, found without the scanner.

Most down files are a line or two of `DROP TABLE x;` or `DROP FUNCTION f(int);`: no quote,
comment, dollar, backslash or function body, so every ';' outside parentheses ends a statement
exactly where psql (and the scanner) would end it.
Splitting them here spares every `sqlmig down` the scanner's import, whose patterns take ~30 ms
to compile. Anything else returns None and goes to the scanner; a property test pins the two
to the same answer.
"""

from __future__ import annotations

import re
from typing import NamedTuple

# What could make a ';' not end a statement where a parenthesis count says it does: a quote,
# comment, dollar quote or backslash, or the BEGIN of a function body (BEGIN ATOMIC ... END).
_NEEDS_SCANNER = re.compile(r"""['"$\\]|/\*|--|begin""", re.IGNORECASE)
_PUNCT = re.compile(r"[();]")
_WORD = re.compile(r"[A-Za-z_\x80-\U0010ffff][A-Za-z_0-9$\x80-\U0010ffff]*")
_SPACE = " \t\n\r\f\v"
_UPPER = str.maketrans("abcdefghijklmnopqrstuvwxyz", "ABCDEFGHIJKLMNOPQRSTUVWXYZ")  # like PostgreSQL: ASCII only


class Piece(NamedTuple):
    """One statement of a plain file: its text (with its ';') and where it starts."""

    text: str
    start: int
    end: int
    line: int
    column: int

    def words(self, n: int) -> tuple[str, ...]:
        """The first `n` words, ASCII letters uppercased, like Statement.words."""
        found = _WORD.findall(self.text, 0)[:n] if n > 0 else []
        return tuple(w.upper() if w.isascii() else w.translate(_UPPER) for w in found)


def split_plain(sql: str) -> list[Piece] | None:
    """The statements of `sql` if it is plain (see the module docstring), else None.

    A ';' inside parentheses does not end a statement (psql counts them, never below zero).
    """
    if _NEEDS_SCANNER.search(sql) is not None:
        return None
    ends: list[int] = []
    depth = 0
    for match in _PUNCT.finditer(sql):
        c = match.group()
        if c == "(":
            depth += 1
        elif c == ")":
            depth = max(depth - 1, 0)
        elif depth == 0:
            ends.append(match.end())
    out: list[Piece] = []
    pos, n = 0, len(sql)
    for end, terminated in [*((e, True) for e in ends), (n, False)]:
        start = pos
        while start < end and (sql[start] in _SPACE or sql[start] == ";"):
            start += 1
        if start < end:
            stop = end if terminated else start + len(sql[start:end].rstrip(_SPACE))
            line = sql.count("\n", 0, start) + 1
            column = start - (sql.rfind("\n", 0, start) + 1) + 1
            out.append(Piece(sql[start:stop], start, stop, line, column))
        pos = end
    return out
