"""Seed problems: collected across stages and reported all at once, each at a place a reader can find.

Every stage of a seed (the JSON, the schema, the catalog, the values) adds what it finds to one
Problems; the place is a JSON Pointer (or file:line:col), and values are quoted shortened.
"""

from __future__ import annotations

import difflib
from pathlib import Path

from ..errors import Problem, SeedInvalid, plural

MAX_PROBLEMS = 100  # beyond this a file is wrong wholesale; more lines would only bury the first ones
SHOWN = 60  # characters of a value quoted in a message


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

    def take(self, other: Problems) -> None:
        """Add another collection's problems after these, and count the ones it left out."""
        for problem in other.items:
            self.add(problem)
        self.more += other.more

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


def pointer(base: str, key: str | int) -> str:
    """Extend a JSON Pointer (RFC 6901) by one key; a character that cannot be printed (NUL, a
    lone surrogate) is shown as its JSON escape, so the pointer can be printed and read."""
    text = str(key).replace("~", "~0").replace("/", "~1")
    if not text.isprintable():
        text = "".join(
            c if c.isprintable() else f"\\u{ord(c):04x}" if ord(c) <= 0xFFFF else f"\\U{ord(c):08x}" for c in text
        )
    return f"{base}/{text}"


def also_in(more: int) -> str:
    """The tail of a problem found in many rows, named at the first of them."""
    return f" (also in {plural(more, 'more row')})" if more else ""


def did_you_mean(name: str, names: list[str]) -> str:
    """The hint for a column name the table does not have: the closest name, or the names there are."""
    close = difflib.get_close_matches(name, names, n=1)
    if close:
        return f"did you mean {close[0]}? names are exact and case-sensitive"
    listed = ", ".join(names[:20]) + (", ..." if len(names) > 20 else "")
    return f"columns: {listed}"


def shortened(text: str) -> str:
    """A value's text cut to SHOWN characters for a message."""
    return text if len(text) <= SHOWN else text[: SHOWN - 3] + "..."
