"""Which files `lint --files` lints, and in what order: the paths given, as they would run."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ..errors import ConfigError, Problem, plural
from ..migrations import Migration, parse_filename, read_file
from .run import Target


def of_paths(paths: Sequence[str | Path], migrations: Sequence[Migration]) -> list[Target]:
    """Ups in version order, then downs in reverse order; each matched to its migration when it is
    one of the folders' files (its pair is then known: SM401, SM402 need it)."""
    by_path: dict[Path, tuple[Migration, str]] = {}
    for m in migrations:
        by_path[Path(m.up.path).resolve()] = (m, "up")
        by_path[Path(m.down.path).resolve()] = (m, "down")
    problems: list[Problem] = []
    ups: list[tuple[int, int, Target]] = []
    downs: list[tuple[int, int, Target]] = []
    for order, given in enumerate(paths):
        path = Path(given)
        if not path.is_file():
            problems.append(Problem(str(path), "no such file" if not path.exists() else "not a file"))
            continue
        known = by_path.get(path.resolve())
        if known is not None:
            migration, direction = known
            target = Target(migration.up if direction == "up" else migration.down, direction, migration)
            version: int | None = migration.version
        else:
            read, read_problems = read_file(str(path))
            problems.extend(read_problems)
            if read is None:
                continue
            parsed = parse_filename(path.name)
            version = parsed[0] if parsed else None
            direction = "down" if parsed and parsed[2] == "down" else "up"
            target = Target(read, direction, None)
        key = (version if version is not None else 1 << 62, order, target)
        (downs if direction == "down" else ups).append(key)
    if problems:
        raise ConfigError(
            f"lint --files: {plural(len(problems), 'file')} cannot be read: " + "; ".join(map(str, problems)),
            hint="give paths to migration files (e.g. the .sql files a pull request changed)",
        )
    ups.sort(key=lambda k: (k[0], k[1]))
    downs.sort(key=lambda k: (-k[0], k[1]))
    return [t for _, _, t in ups] + [t for _, _, t in downs]
