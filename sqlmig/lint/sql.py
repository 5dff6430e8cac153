"""A statement read as a list of tokens: keywords uppercased, names as PostgreSQL folds them.

The rules need to know which table a statement names and which clauses it has, not a full parse
tree: a GPL parser (pglast) cannot ship with sqlmig, and the scanner's tokens already place every
word at its file:line:column, outside strings and comments.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple

from ..scanner import Statement, Token


class Name(NamedTuple):
    """A relation or type name as PostgreSQL folds it: unquoted words lowercased, quotes removed."""

    schema: str | None
    name: str

    def shown(self) -> str:
        return f"{self.schema}.{self.name}" if self.schema else self.name

    def matches(self, other: Name, default: str = "public") -> bool:
        """The same table, an unqualified name being in `default` (the schema the search_path
        puts first: public, unless the database says otherwise)."""
        return self.name == other.name and (self.schema or default) == (other.schema or default)


def _fold(token: Token) -> str:
    if token.kind == "quoted_ident":
        return token.text[1:-1].replace('""', '"')
    return token.text.lower() if token.text.isascii() else token.text


class View:
    """The significant tokens of one statement, with its keywords (uppercased words) beside them."""

    __slots__ = ("statement", "tokens", "words")

    def __init__(self, statement: Statement) -> None:
        self.statement = statement
        self.tokens = statement.tokens
        # A keyword test compares against this: quoted identifiers and strings are never keywords.
        self.words = tuple(t.text.upper() if t.kind == "word" else "\0" + t.text for t in self.tokens)

    def __len__(self) -> int:
        return len(self.tokens)

    def at(self, i: int, *keywords: str) -> bool:
        """The tokens from `i` are these keywords."""
        return tuple(self.words[i : i + len(keywords)]) == keywords

    def skip(self, i: int, *keywords: str) -> int:
        """`i` past the keywords if they are there, else `i`."""
        return i + len(keywords) if self.at(i, *keywords) else i

    def find(self, keyword: str, start: int = 0, stop: int | None = None) -> int:
        """The first position of `keyword` outside parentheses in [start, stop), or -1."""
        for i in self.top_level(start, stop):
            if self.words[i] == keyword:
                return i
        return -1

    def has(self, keyword: str, start: int = 0, stop: int | None = None) -> bool:
        """`keyword` anywhere in [start, stop), inside parentheses too."""
        return keyword in self.words[start:stop]

    def top_level(self, start: int = 0, stop: int | None = None) -> Iterator[int]:
        """Positions in [start, stop) that are not inside parentheses."""
        depth = 0
        end = len(self.tokens) if stop is None else stop
        for i in range(start, end):
            text = self.tokens[i].text
            if text == "(":
                depth += 1
            elif text == ")":
                depth = max(depth - 1, 0)
            elif depth == 0:
                yield i

    def split(self, start: int, stop: int | None = None) -> list[tuple[int, int]]:
        """[start, stop) cut at the commas outside parentheses: ALTER TABLE's subcommands."""
        out: list[tuple[int, int]] = []
        end = len(self.tokens) if stop is None else stop
        begin = start
        for i in self.top_level(start, end):
            if self.tokens[i].text == ",":
                out.append((begin, i))
                begin = i + 1
        out.append((begin, end))
        return [(a, b) for a, b in out if a < b]

    def name(self, i: int) -> tuple[Name | None, int]:
        """The (possibly qualified) name at `i` and the position after it; (None, i) if none."""
        parts: list[str] = []
        j = i
        while j < len(self.tokens) and self.tokens[j].kind in ("word", "quoted_ident"):
            parts.append(_fold(self.tokens[j]))
            if j + 2 < len(self.tokens) and self.tokens[j + 1].text == ".":
                j += 2
                continue
            j += 1
            break
        if not parts:
            return None, i
        if len(parts) == 1:
            return Name(None, parts[0]), j
        return Name(parts[-2], parts[-1]), j

    def names(self, i: int, stop: int | None = None) -> list[Name]:
        """A comma-separated list of names from `i` (DROP TABLE a, b; LOCK a, b)."""
        out: list[Name] = []
        j = i
        end = len(self.tokens) if stop is None else stop
        while j < end:
            j = self.skip(j, "ONLY")
            found, j = self.name(j)
            if found is None:
                break
            out.append(found)
            if j < end and self.tokens[j].text == "*":
                j += 1
            if j < end and self.tokens[j].text == ",":
                j += 1
                continue
            break
        return out

    def text(self, start: int, stop: int) -> str:
        """The source between two token positions, as written."""
        if start >= stop:
            return ""
        first, last = self.tokens[start], self.tokens[stop - 1]
        base = self.statement.start
        return self.statement.text[first.start - base : last.start - base + len(last.text)]

    def position(self, i: int) -> tuple[int, int]:
        """line, column of token `i` (the statement's own when out of range)."""
        if 0 <= i < len(self.tokens):
            return self.tokens[i].line, self.tokens[i].column
        return self.statement.line, self.statement.column
