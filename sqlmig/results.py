"""Result records returned by the API and drawn by the renderers.

NamedTuples rather than frozen dataclasses: as immutable, and a tenth of the cost to define, which
every command pays at start-up (about 6 ms for these).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from .errors import Problem
from .migrations import Direction, Migration
from .plan import Entry, at_head


class RunItem(NamedTuple):
    """One migration a run applied or reverted (or would, with --dry-run)."""

    version: int
    name: str
    path: Path
    duration_ms: float | None = None
    retries: int = 0


class MigrateResult(NamedTuple):
    applied: tuple[RunItem, ...]
    dry_run: bool = False
    warnings: tuple[Problem, ...] = ()


class DownResult(NamedTuple):
    reverted: tuple[RunItem, ...]
    dry_run: bool = False
    nothing_applied: bool = False


class StatusResult(NamedTuple):
    entries: tuple[Entry, ...]
    history_table: str
    warnings: tuple[Problem, ...] = ()
    running: str | None = None  # the session of a sqlmig run holding the lock now, if any

    @property
    def is_head(self) -> bool:
        return at_head(self.entries)


class NewResult(NamedTuple):
    version: int
    name: str
    up_path: Path
    down_path: Path


class ValidateResult(NamedTuple):
    """Everything `validate` found: problems block migrate (exit 3), warnings and notes do not."""

    problems: tuple[Problem, ...]
    warnings: tuple[Problem, ...]
    notes: tuple[Problem, ...]
    migrations: int
    applied: int
    history_table: str
    history_checked: bool

    @property
    def ok(self) -> bool:
        return not self.problems


class DiffResult(NamedTuple):
    """The SQL recorded when a migration ran against its up file now (unified diff, empty if equal)."""

    version: int
    name: str
    state: str
    file: Path | None
    recorded_checksum: str
    file_checksum: str | None
    cosmetic_change: bool
    diff: str

    @property
    def identical(self) -> bool:
        return not self.diff


class RepairChange(NamedTuple):
    """One history row repair changed (or would, with --dry-run)."""

    action: str  # "accept", "forget", "resolve"
    version: int
    label: str
    state_before: str
    state_after: str | None  # None: the row was deleted
    checksum_before: str
    checksum_after: str | None


class RepairResult(NamedTuple):
    changes: tuple[RepairChange, ...]
    skipped: tuple[Problem, ...] = ()  # named on the command line, but already as asked
    dry_run: bool = False


class BaselineResult(NamedTuple):
    version: int
    recorded: tuple[Migration, ...]
    dry_run: bool = False


@dataclass(frozen=True)
class Event:  # a dataclass: its field `index` would shadow tuple.index
    """Progress reported through on_event while a run goes on (the library never prints)."""

    kind: str  # "run_start", "migration_start", "migration_done", "retry"
    total: int = 0
    index: int = 0
    item: RunItem | None = None
    direction: Direction = "up"
    message: str = ""
    extra: dict[str, object] = field(default_factory=dict)


class SeedTableResult(NamedTuple):
    """What the seed did to one table (or would do, with --dry-run)."""

    table: str
    rows: int
    inserted: int = 0
    skipped: int = 0
    updated: int = 0
    duration_ms: float = 0.0


class SeedResult(NamedTuple):
    file: Path
    tables: tuple[SeedTableResult, ...]
    migrations: tuple[RunItem, ...] = ()
    dry_run: bool = False
    duration_ms: float = 0.0
