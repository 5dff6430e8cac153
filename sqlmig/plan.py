"""Compute the state of every migration from files on disk and history rows; pure, no database."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from functools import cached_property
from typing import NamedTuple

from .errors import ConfigError, Problem
from .migrations import Migration, SqlFile, parse_directives


class MigrationState(StrEnum):
    """Where a migration stands, as status shows it. A history row records APPLIED or FAILED; the
    rest come from comparing it with the files. Members are strings: JSON and text show the value."""

    PENDING = "pending"
    APPLIED = "applied"
    MODIFIED = "modified"
    MISSING = "missing"
    FAILED = "failed"


class AppliedMigration(NamedTuple):
    """A history row."""

    version: int
    name: str
    checksum: str
    applied_at: datetime | None
    applied_by: str | None
    execution_ms: int | None
    seq: int
    applied_sql: str | None = None
    state: str = MigrationState.APPLIED  # as read: 'applied' or 'failed'
    error: str | None = None


class Entry(NamedTuple):
    """One migration as status shows it: known on disk, in the history, or both."""

    version: int
    name: str
    state: MigrationState
    migration: Migration | None
    applied: AppliedMigration | None
    cosmetic_change: bool = False
    out_of_order: bool = False

    @property
    def checksum(self) -> str | None:
        if self.applied is not None:
            return self.applied.checksum
        return self.migration.checksum if self.migration else None

    @property
    def file_checksum(self) -> str | None:
        return self.migration.checksum if self.migration else None

    @property
    def where(self) -> str:
        """Where a message about it points: its up file, or its history row when the files are gone."""
        return str(self.migration.up.path) if self.migration is not None else f"history version {self.version}"

    def to_dict(self) -> dict[str, object]:
        """Its JSON document, as `status --json` lists it."""
        applied = self.applied
        return {
            "version": self.version,
            "name": self.name,
            "state": self.state,
            "applied_at": applied.applied_at.isoformat() if applied and applied.applied_at else None,
            "checksum": self.checksum,
            "file_checksum": self.file_checksum,
            "cosmetic_change": self.cosmetic_change,
            "out_of_order": self.out_of_order,
            "file": str(self.migration.up.path) if self.migration else None,
            "execution_ms": applied.execution_ms if applied else None,
        }


@dataclass(frozen=True)
class Plan:
    """Every migration's state, and what blocks a run."""

    entries: tuple[Entry, ...]

    @cached_property
    def pending(self) -> tuple[Entry, ...]:
        return tuple(e for e in self.entries if e.state == MigrationState.PENDING)

    @cached_property
    def applied_newest_first(self) -> tuple[Entry, ...]:
        """Applied (and modified/missing/failed) migrations, newest application first: down's order."""
        rows = [e for e in self.entries if e.applied is not None]
        return tuple(sorted(rows, key=lambda e: e.applied.seq if e.applied else 0, reverse=True))

    def applied_as_run(self) -> list[tuple[int, SqlFile]]:
        """(version, the SQL it ran with) of each applied migration, oldest application first: what
        rebuilds the applied schema (verify's start, drift's expectation). A file edited since it
        ran gives way to the SQL the history recorded; a failed migration is left out."""
        files: list[tuple[int, SqlFile]] = []
        missing: list[int] = []
        for e in reversed(self.applied_newest_first):
            assert e.applied is not None
            recorded = e.applied.applied_sql
            if e.state == MigrationState.FAILED:
                continue
            if e.migration is not None and (recorded is None or e.migration.checksum == e.applied.checksum):
                files.append((e.version, e.migration.up))
            elif recorded is not None:
                where = f"history version {e.version} (its recorded SQL)"
                files.append((e.version, SqlFile(where, recorded, parse_directives(recorded, where)[0])))
            else:
                missing.append(e.version)
        if missing:
            raise ConfigError(
                f"cannot build the expected schema: migration {', '.join(map(str, missing))} is applied, but"
                " neither its file nor the SQL it ran with is at hand",
                hint="restore the migration files of the applied versions (`sqlmig status` lists them)",
            )
        return files

    @property
    def is_head(self) -> bool:
        return at_head(self.entries)

    @cached_property
    def highest_applied(self) -> int | None:
        versions = [e.version for e in self.entries if e.applied is not None]
        return max(versions) if versions else None

    def drift_problems(self) -> list[Problem]:
        """Modified, missing and failed migrations: these block migrate and down."""
        problems: list[Problem] = []
        for e in self.entries:
            if e.state == MigrationState.MODIFIED and e.migration and e.applied:
                problems.append(
                    Problem(
                        str(e.migration.up.path),
                        f"applied migration {e.version} was modified after it ran "
                        f"(recorded checksum {e.applied.checksum[:12]}, file now {e.migration.checksum[:12]})",
                        f"see `sqlmig diff {e.version}`; restore the file, or accept it with "
                        f"`sqlmig repair --accept {e.version}`",
                    )
                )
            elif e.state == MigrationState.MISSING and e.applied:
                problems.append(
                    Problem(
                        f"history version {e.version}",
                        f"applied migration {e.version}_{e.applied.name} has no files on disk",
                        f"restore its files, or drop the history row with `sqlmig repair --forget {e.version}`",
                    )
                )
            elif e.state == MigrationState.FAILED and e.applied:
                problems.append(
                    Problem(
                        e.where,
                        f"migration {e.version} failed part-way and needs attention: {e.applied.error or ''}".rstrip(
                            ": "
                        ),
                        f"fix the database by hand, then `sqlmig repair --resolve {e.version}` (mark applied) "
                        f"or `sqlmig repair --forget {e.version}` (run it again)",
                    )
                )
        return problems

    def out_of_order_problems(self) -> list[Problem]:
        """Pending migrations older than the newest applied one (typical after a branch merge)."""
        top = self.highest_applied
        return [
            Problem(
                str(e.migration.up.path) if e.migration else str(e.version),
                f"pending migration {e.version} is older than the highest applied migration {top}",
                "apply it anyway with `sqlmig migrate --allow-out-of-order`, or renumber it",
            )
            for e in self.entries
            if e.out_of_order
        ]


def at_head(entries: Sequence[Entry]) -> bool:
    """Nothing pending, modified, missing or failed: the database matches the directory."""
    return all(e.state == MigrationState.APPLIED for e in entries)


def build_plan(migrations: Sequence[Migration], applied_rows: Sequence[AppliedMigration]) -> Plan:
    """Join files and history by version; decide each state."""
    by_version = {m.version: m for m in migrations}
    rows = {r.version: r for r in applied_rows}
    top = max((r.version for r in applied_rows), default=None)
    entries: list[Entry] = []
    for version in sorted(set(by_version) | set(rows)):
        m = by_version.get(version)
        row = rows.get(version)
        if row is None:
            assert m is not None
            entries.append(
                Entry(
                    version,
                    m.name,
                    MigrationState.PENDING,
                    m,
                    None,
                    out_of_order=top is not None and version < top,
                )
            )
        elif row.state == MigrationState.FAILED:
            entries.append(Entry(version, row.name, MigrationState.FAILED, m, row))
        elif m is None:
            entries.append(Entry(version, row.name, MigrationState.MISSING, None, row))
        elif m.checksum == row.checksum:
            entries.append(Entry(version, m.name, MigrationState.APPLIED, m, row))
        elif is_cosmetic(row.applied_sql, m.up.sql):
            entries.append(Entry(version, m.name, MigrationState.APPLIED, m, row, cosmetic_change=True))
        else:
            entries.append(Entry(version, m.name, MigrationState.MODIFIED, m, row))
    return Plan(tuple(entries))


def is_cosmetic(applied_sql: str | None, current_sql: str) -> bool:
    """Only whitespace or comments changed (token by token); unknown when the old SQL was not kept."""
    if applied_sql is None:
        return False
    from .scanner import significant_tokens  # compiling its patterns is not free; status rarely needs it

    return significant_tokens(applied_sql) == significant_tokens(current_sql)
