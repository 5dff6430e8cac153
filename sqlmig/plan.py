"""Compute the state of every migration from files on disk and history rows; pure, no database."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from functools import cached_property
from typing import NamedTuple

from .errors import ConfigError, Problem
from .migrations import Migration, SqlFile, label, parse_directives


class MigrationState(StrEnum):
    """Where a migration stands, as status shows it. A history row records APPLIED or FAILED; the
    rest come from comparing it with the files. Members are strings: JSON and text show the value."""

    PENDING = "pending"
    APPLIED = "applied"
    MODIFIED = "modified"
    MISSING = "missing"
    FAILED = "failed"


class DownChange(StrEnum):
    """How an applied migration's down file differs from the down recorded when its up ran: a
    warning either way (migrate goes by the up); `down` runs the file as it is now."""

    COSMETIC = "cosmetic"  # only whitespace or comments, compared as the up's cosmetic edits are
    MODIFIED = "modified"


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
    down_checksum: str | None = None  # None: applied by a sqlmig that did not record the down
    down_sql: str | None = None  # read only where needed (an edited down file, --use-recorded)


class Entry(NamedTuple):
    """One migration as status shows it: known on disk, in the history, or both."""

    version: int
    name: str
    state: MigrationState
    migration: Migration | None
    applied: AppliedMigration | None
    cosmetic_change: bool = False
    out_of_order: bool = False
    down_change: DownChange | None = None

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
            "down_checksum": applied.down_checksum if applied else None,
            "down_file_checksum": self.migration.down_checksum if self.migration else None,
            "down_change": self.down_change,
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

    def drift_problems(self, *, use_recorded: bool = False) -> list[Problem]:
        """Modified, missing and failed migrations: these block migrate and down. `use_recorded`
        (down --use-recorded): a missing migration whose down SQL was recorded (and read into the
        plan) blocks nothing; one applied by a sqlmig that recorded none still does, saying so."""
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
                if use_recorded and e.applied.down_sql is not None:
                    continue
                problems.append(self._missing_problem(e, e.applied, use_recorded))
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

    def _missing_problem(self, e: Entry, applied: AppliedMigration, use_recorded: bool) -> Problem:
        where, name = f"history version {e.version}", label(e.version, applied.name)
        forget = f"`sqlmig repair --forget {e.version}`"
        if applied.down_checksum is None or (use_recorded and applied.down_sql is None):
            return Problem(
                where,
                f"applied migration {name} has no files on disk, and its history row holds no down SQL to "
                "revert it with (it was applied by a sqlmig that did not record the down)",
                f"restore its files ({name}.down.sql is what `sqlmig down` runs), or undo it by hand and drop "
                f"the history row with {forget}",
            )
        below = [x.version for x in self.entries if x.version < e.version]
        revert = f"--to {max(below)}" if below else "--all"
        return Problem(
            where,
            f"applied migration {name} has no files on disk; its down SQL was recorded when it was applied",
            f"revert it (and whatever was applied after it) with that SQL: `sqlmig down --use-recorded {revert}`; "
            f"or restore its files, or drop the history row with {forget}",
        )

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
        elif m is None:
            state = MigrationState.FAILED if row.state == MigrationState.FAILED else MigrationState.MISSING
            entries.append(Entry(version, row.name, state, None, row))
        else:
            down = down_change(m, row)
            if row.state == MigrationState.FAILED:
                entries.append(Entry(version, row.name, MigrationState.FAILED, m, row, down_change=down))
            elif m.checksum == row.checksum:
                entries.append(Entry(version, m.name, MigrationState.APPLIED, m, row, down_change=down))
            elif is_cosmetic(row.applied_sql, m.up.sql):
                entries.append(
                    Entry(version, m.name, MigrationState.APPLIED, m, row, cosmetic_change=True, down_change=down)
                )
            else:
                entries.append(Entry(version, m.name, MigrationState.MODIFIED, m, row, down_change=down))
    return Plan(tuple(entries))


def down_change(m: Migration, row: AppliedMigration) -> DownChange | None:
    """How the down file differs from the down recorded with the row (None: the same, or nothing
    recorded to compare with). The recorded text must be in the row for a cosmetic verdict."""
    if row.down_checksum is None or row.down_checksum == m.down_checksum:
        return None
    return DownChange.COSMETIC if is_cosmetic(row.down_sql, m.down.sql) else DownChange.MODIFIED


def with_recorded_down(entry: Entry) -> Entry:
    """A missing migration as `down --use-recorded` reverts it: a Migration whose down is the SQL
    its history row recorded (markers read from that text, as from a file), named
    `<version>_<name> (recorded down)` wherever a file's path would be. Entries with files, or
    without a recorded down, are returned as they are."""
    row = entry.applied
    if entry.migration is not None or row is None or row.down_sql is None:
        return entry
    name = label(entry.version, row.name)
    up_where, down_where = f"{name} (recorded up)", f"{name} (recorded down)"
    up = SqlFile(up_where, row.applied_sql or "", parse_directives(row.applied_sql or "", up_where)[0])
    down = SqlFile(down_where, row.down_sql, parse_directives(row.down_sql, down_where)[0])
    return entry._replace(migration=Migration(entry.version, row.name, up, down, row.checksum))


def is_cosmetic(applied_sql: str | None, current_sql: str) -> bool:
    """Only whitespace or comments changed (token by token); unknown when the old SQL was not kept."""
    if applied_sql is None:
        return False
    from .scanner import significant_tokens  # compiling its patterns is not free; status rarely needs it

    return significant_tokens(applied_sql) == significant_tokens(current_sql)
