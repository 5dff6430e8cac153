"""Result records returned by the API and drawn by the renderers."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .errors import Problem
from .migrations import Migration
from .plan import Entry


@dataclass(frozen=True)
class RunItem:
    """One migration a run applied or reverted (or would, with --dry-run)."""

    version: int
    name: str
    path: Path
    duration_ms: float | None = None
    retries: int = 0


@dataclass(frozen=True)
class MigrateResult:
    applied: tuple[RunItem, ...]
    dry_run: bool = False
    warnings: tuple[Problem, ...] = ()


@dataclass(frozen=True)
class DownResult:
    reverted: tuple[RunItem, ...]
    dry_run: bool = False
    nothing_applied: bool = False


@dataclass(frozen=True)
class StatusResult:
    entries: tuple[Entry, ...]
    history_table: str
    warnings: tuple[Problem, ...] = ()

    @property
    def is_head(self) -> bool:
        return all(e.state == "applied" for e in self.entries)


@dataclass(frozen=True)
class NewResult:
    version: int
    name: str
    up_path: Path
    down_path: Path


@dataclass(frozen=True)
class ValidateResult:
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


@dataclass(frozen=True)
class DiffResult:
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


@dataclass(frozen=True)
class RepairChange:
    """One history row repair changed (or would, with --dry-run)."""

    action: str  # "accept", "forget", "resolve"
    version: int
    label: str
    state_before: str
    state_after: str | None  # None: the row was deleted
    checksum_before: str
    checksum_after: str | None


@dataclass(frozen=True)
class RepairResult:
    changes: tuple[RepairChange, ...]
    skipped: tuple[Problem, ...] = ()  # named on the command line, but already as asked
    dry_run: bool = False


@dataclass(frozen=True)
class BaselineResult:
    version: int
    recorded: tuple[Migration, ...]
    dry_run: bool = False


@dataclass(frozen=True)
class Event:
    """Progress reported through on_event while a run goes on (the library never prints)."""

    kind: str  # "run_start", "migration_start", "migration_done", "retry"
    total: int = 0
    index: int = 0
    item: RunItem | None = None
    direction: str = "up"
    message: str = ""
    extra: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class SeedTableResult:
    """What the seed did to one table (or would do, with --dry-run)."""

    table: str
    rows: int
    inserted: int = 0
    skipped: int = 0
    updated: int = 0
    duration_ms: float = 0.0


@dataclass(frozen=True)
class SeedResult:
    file: Path
    tables: tuple[SeedTableResult, ...]
    migrations: tuple[RunItem, ...] = ()
    dry_run: bool = False
    duration_ms: float = 0.0
