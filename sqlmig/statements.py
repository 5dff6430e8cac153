"""Statement boundaries of plain files, found without the scanner.

Most down files are a line or two of `DROP TABLE x;`: no quote, comment, dollar, backslash or
parenthesis, so every ';' ends a statement exactly where psql (and the scanner) would end it.
Splitting them here spares every `sqlmig down` the scanner's import, whose patterns take ~30 ms
to compile. Anything else returns None and goes to the scanner; a property test pins the two
to the same answer.
"""

from __future__ import annotations

import re
from typing import NamedTuple

# What could make a ';' not end a statement, or a statement not start at its first word.
_NEEDS_SCANNER = re.compile(r"""['"$\\()]|/\*|--""")
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
    """The statements of `sql` if it is plain (see the module docstring), else None."""
    if _NEEDS_SCANNER.search(sql) is not None:
        return None
    out: list[Piece] = []
    pos, n = 0, len(sql)
    while pos < n:
        start = pos
        while start < n and (sql[start] in _SPACE or sql[start] == ";"):
            start += 1
        if start >= n:
            break
        semi = sql.find(";", start)
        end = start + len(sql[start:].rstrip(_SPACE)) if semi < 0 else semi + 1
        line = sql.count("\n", 0, start) + 1
        column = start - (sql.rfind("\n", 0, start) + 1) + 1
        out.append(Piece(sql[start:end], start, end, line, column))
        pos = end
    return out
