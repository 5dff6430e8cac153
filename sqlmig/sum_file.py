"""`sqlmig.sum`: every migration listed in order, so that two branches adding a migration collide
in git; pure.

Two developers who each run `sqlmig new` on their branch both get 0042. Without a shared file git
merges both pairs silently, and the duplicate is found only after the merge. With this file
committed beside the migrations, each branch changes its total line and appends a line at its end:
git stops the merge with a conflict here, before two 0042 files land (Atlas's atlas.sum does the
same).

The file:

    # sqlmig.sum ... (comment lines)
    total 3f2a...            sha-256 of the migration lines below, as written
    0001 create_customer 9c1e...   version as the file names it, name, checksum of the up file
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

from .errors import Problem
from .migrations import Migration

FILE_NAME = "sqlmig.sum"
HEADER = (
    "# sqlmig.sum: every migration in order (version, name, checksum of the up file), written by\n"
    "# `sqlmig new`, `sqlmig renumber` and `sqlmig sum`. Commit it with the migrations. A merge conflict\n"
    "# here means two branches added migrations: `sqlmig renumber` the one that must run last, then\n"
    "# `sqlmig sum` rewrites this file.\n"
)
_CONFLICT_MARKERS = ("<<<<<<<", "=======", ">>>>>>>", "|||||||")


class Entry(NamedTuple):
    """One migration as the file lists it."""

    line: int
    stem_version: str  # the version as its file names it (zero-padded)
    name: str
    checksum: str

    @property
    def version(self) -> int:
        return int(self.stem_version)

    @property
    def label(self) -> str:
        return f"{self.stem_version}_{self.name}"


class Listing(NamedTuple):
    """The file as read: its entries, its total line (and where), and what could not be read."""

    entries: tuple[Entry, ...]
    total: str | None
    total_line: int
    problems: tuple[Problem, ...]


def path_in(dirs: Sequence[Path]) -> Path:
    """Where the file is: the first migration folder (one file lists the migrations of every folder)."""
    return dirs[0] / FILE_NAME


def line_of(m: Migration) -> str:
    stem = m.up.path.name.removesuffix(".up.sql")
    version = stem.split("_", 1)[0]
    return f"{version} {m.name} {m.checksum}"


def render(lines: Sequence[str]) -> str:
    """The whole file for these migration lines (in order)."""
    body = "".join(f"{line}\n" for line in lines)
    return f"{HEADER}total {_total(body)}\n{body}"


def render_migrations(migrations: Sequence[Migration]) -> str:
    return render([line_of(m) for m in sorted(migrations, key=lambda m: m.version)])


def _total(body: str) -> str:
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


def parse(text: str, where: str) -> Listing:
    """The entries of a file's text; a problem for each line that is not a comment, the total or a
    migration line, and one for merge conflict markers (what two branches adding migrations leave)."""
    entries: list[Entry] = []
    problems: list[Problem] = []
    total: str | None = None
    total_line = 0
    conflict = 0
    for number, raw in enumerate(text.split("\n"), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith(_CONFLICT_MARKERS):
            conflict = conflict or number
            continue
        words = line.split()
        if words[0] == "total" and len(words) == 2:
            if total is None:
                total, total_line = words[1], number
            continue
        if len(words) == 3 and words[0].isascii() and words[0].isdigit():
            entries.append(Entry(number, words[0], words[1], words[2]))
            continue
        problems.append(
            Problem(f"{where}:{number}", f"not a migration line: {line[:80]!r}", "each line is VERSION NAME CHECKSUM")
        )
    if conflict:
        problems.insert(
            0,
            Problem(
                f"{where}:{conflict}",
                "merge conflict markers: two branches added migrations (each changed this list)",
                "give the migration that must run last a new version with `sqlmig renumber VERSION_NAME NEW` "
                "(if no database has applied it), then `sqlmig sum` rewrites this file from the folder",
            ),
        )
    return Listing(tuple(entries), total, total_line, tuple(problems))


def check(text: str, where: str, migrations: Sequence[Migration]) -> tuple[list[Problem], list[Problem]]:
    """What the file says against the migrations on disk, each disagreement exactly: (problems,
    warnings). A file edited since it was listed is a warning: `new`, then writing the SQL in the
    file, is the everyday way to make a migration; the edit of an applied one is the history's to
    refuse."""
    listing = parse(text, where)
    problems = list(listing.problems)
    edited: list[Problem] = []
    if listing.problems:
        return problems, edited  # conflict markers or unreadable lines: the rest would only repeat them
    by_version = {m.version: m for m in migrations}
    listed: dict[int, Entry] = {}
    fix = "`sqlmig sum` rewrites the list from the folder once the change is intended"
    for entry in listing.entries:
        if entry.version in listed:
            problems.append(
                Problem(
                    f"{where}:{entry.line}",
                    f"version {entry.version} is listed twice ({listed[entry.version].label} on line "
                    f"{listed[entry.version].line}, {entry.label} here): two branches chose the same number",
                    "give one of them a new version: `sqlmig renumber OLD NEW`, then `sqlmig sum`",
                )
            )
            continue
        listed[entry.version] = entry
        m = by_version.get(entry.version)
        if m is None:
            problems.append(
                Problem(
                    f"{where}:{entry.line}", f"lists {entry.label}, which is not in the folder", f"restore it, or {fix}"
                )
            )
        elif m.name != entry.name:
            problems.append(
                Problem(
                    f"{where}:{entry.line}",
                    f"lists version {entry.version} as {entry.name}, the folder has {m.label}",
                    f"renamed on purpose? {fix}; else another branch took this number: `sqlmig renumber`",
                )
            )
        elif m.checksum != entry.checksum:
            edited.append(
                Problem(
                    f"{where}:{entry.line}",
                    f"{m.label}: {m.up.path.name} changed since it was listed",
                    "`sqlmig sum` records it (commit the list with the file)",
                )
            )
    for m in migrations:
        if m.version not in listed:
            problems.append(
                Problem(
                    str(m.up.path),
                    f"{m.label} is not listed in {where}",
                    "`sqlmig new` lists the pairs it creates; `sqlmig sum` adds pairs made by hand",
                )
            )
    versions = [e.version for e in listing.entries]
    if not problems and versions != sorted(versions):
        problems.append(Problem(where, "migrations are not listed in version order", fix))
    body = "".join(f"{e.stem_version} {e.name} {e.checksum}\n" for e in listing.entries)
    if not problems and listing.total != _total(body):
        problems.append(
            Problem(
                f"{where}:{listing.total_line or 1}",
                "the total line does not match the migration lines (edited by hand?)",
                fix,
            )
        )
    return problems, edited


def lines_with(text: str, where: str, added: Sequence[str]) -> list[str]:
    """The file's migration lines as they are, with `added` (lines, as `line_for` writes them)
    appended: what `new` writes. Lines that disagree with the folder stay as they are, for
    `validate` to report; a file that cannot be read (conflict markers) is refused."""
    listing = parse(text, where)
    if listing.problems:
        from .errors import RefusedError

        raise RefusedError(
            f"{where} cannot be read; nothing was written",
            list(listing.problems),
            hint="resolve it first (see the message), then run the command again",
        )
    lines = [f"{e.stem_version} {e.name} {e.checksum}" for e in listing.entries]
    return lines + list(added)


def line_for(stem: str, up_sql: str) -> str:
    """The line of a pair not discovered yet (the one `new` is writing): its stem and up text."""
    from .migrations import checksum, normalize

    version, name = stem.split("_", 1)
    return f"{version} {name} {checksum(normalize(up_sql))}"
