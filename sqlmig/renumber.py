"""The decisions behind `sqlmig renumber`: which pair moves, whether a history forbids it, and the
list file with its line moved; pure but for listing the folders."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

from . import sum_file
from .errors import ConfigError, Problem, RefusedError
from .migrations import MAX_VERSION, parse_filename
from .plan import AppliedMigration


class Pair(NamedTuple):
    """A migration's files as the folder names them (one half may be missing: it moves alone)."""

    version: int
    name: str
    files: dict[str, Path]  # "up" / "down" -> path

    @property
    def stem(self) -> str:
        any_file = next(iter(self.files.values()))
        return any_file.name.removesuffix(".up.sql").removesuffix(".down.sql")

    def stem_version(self, new: int) -> str:
        """`new` padded like this pair's version is (0042 stays four digits wide)."""
        return f"{new:0{len(self.stem.split('_', 1)[0])}d}"

    def moves(self, new: int) -> tuple[tuple[Path, Path], ...]:
        prefix = self.stem_version(new)
        return tuple((p, p.with_name(f"{prefix}_{self.name}.{kind}.sql")) for kind, p in sorted(self.files.items()))


def pairs(dirs: Sequence[Path]) -> list[Pair]:
    """Every pair in the folders, read by name only: discovery would refuse the folder a merge of
    two branches leaves (two pairs with one version), which is what renumber is for."""
    found: dict[tuple[int, str], dict[str, Path]] = {}
    for directory in dirs:
        with contextlib.suppress(OSError):
            for entry in sorted(os.listdir(directory)):
                parsed = parse_filename(entry)
                if parsed:
                    found.setdefault((parsed[0], parsed[1]), {})[parsed[2]] = Path(directory) / entry
    return [Pair(v, n, files) for (v, n), files in found.items()]


def choose(candidates: Sequence[Pair], old: str, new: int) -> Pair:
    """The pair `old` names (a version, or VERSION_NAME), checked against `new`."""
    as_version = int(old) if old.isascii() and old.isdigit() else None  # 2, 0002: as the file names write it
    chosen = [p for p in candidates if p.version == as_version or old in (f"{p.version}_{p.name}", p.stem)]
    if not chosen:
        raise ConfigError(f"renumber {old}: no migration with that version on disk", hint="`sqlmig status` lists them")
    if len(chosen) > 1:
        names = ", ".join(p.stem for p in chosen)
        raise ConfigError(
            f"renumber {old}: {len(chosen)} migrations have that version ({names})",
            hint=f"name the one to move: `sqlmig renumber {chosen[-1].stem} {new}`",
        )
    if not 1 <= new <= MAX_VERSION:
        raise ConfigError(f"renumber {old} {new}: a version is from 1 to {MAX_VERSION}")
    taken = sorted(p.stem for p in candidates if p.version == new)
    if taken:
        raise ConfigError(f"renumber {old} {new}: version {new} is taken by {', '.join(taken)}", hint="choose another")
    return chosen[0]


def refuse_recorded(rows: Sequence[AppliedMigration], pair: Pair, new: int, history: str) -> None:
    """A history that records this pair (by version and name: after a merge, the other pair of the
    same version may be the applied one), or any migration at the new version, forbids the move."""
    for row in rows:
        if row.version == pair.version and row.name == pair.name:
            raise RefusedError(
                f"{pair.version}_{pair.name} is recorded in {history} ({row.state}); renumbering it would leave "
                "a missing migration there and a new pending one; nothing was renamed",
                [Problem(history, f"records version {pair.version} ({pair.name})")],
                hint="renumber only a migration no database has applied; to change an applied one, "
                "write a new migration",
            )
        if row.version == new:
            raise RefusedError(
                f"version {new} is recorded in {history} ({row.name}); nothing was renamed",
                [Problem(history, f"records version {new} ({row.name})")],
                hint="choose a version no database has applied",
            )


def sum_moved(text: str, where: str, pair: Pair, new: int) -> str | None:
    """sqlmig.sum with the pair's line given its new version and put in order; None when the file
    cannot be read (conflict markers): `sqlmig sum` rewrites it once the folder is whole."""
    listing = sum_file.parse(text, where)
    if listing.problems:
        return None
    lines = [
        (
            pair.stem_version(new) if (e.version, e.name) == (pair.version, pair.name) else e.stem_version,
            e.name,
            e.checksum,
        )
        for e in listing.entries
    ]
    lines.sort(key=lambda e: int(e[0]))
    return sum_file.render([" ".join(e) for e in lines])
