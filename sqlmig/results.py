"""Result records returned by the API and drawn by the renderers, and their JSON documents.

Each record's `to_dict()` is the document `--json` prints for it (README lists the keys; a test
holds README to them): the one place the JSON contract is written, for the CLI and the API alike.

NamedTuples rather than frozen dataclasses: as immutable, and a tenth of the cost to define, which
every command pays at start-up (about 6 ms for these).
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Literal, NamedTuple

from .errors import Problem
from .migrations import Migration
from .plan import Entry, MigrationState, at_head

if TYPE_CHECKING:
    from .snapshot import Difference


class MigrationStep(NamedTuple):
    """One step of a migrate or down run: a migration applied or reverted (or that would be, with --dry-run)."""

    version: int
    name: str
    path: Path
    duration_ms: float | None = None
    retries: int = 0

    def to_dict(self) -> dict[str, object]:
        return {
            "version": self.version,
            "name": self.name,
            "file": str(self.path),
            "duration_ms": None if self.duration_ms is None else round(self.duration_ms, 3),
        }


class NotExecuted(NamedTuple):
    """A pending migration `migrate --dry-run --execute` did not run, and why."""

    version: int
    name: str
    path: Path
    reason: str

    def to_dict(self) -> dict[str, object]:
        return {"version": self.version, "name": self.name, "file": str(self.path), "reason": self.reason}


class MigrateResult(NamedTuple):
    """What migrate applied; with dry_run, what it would apply; with `executed` too (--dry-run
    --execute), each ran in a transaction that was rolled back, with its duration, but for
    `not_executed`."""

    applied: tuple[MigrationStep, ...]
    dry_run: bool = False
    warnings: tuple[Problem, ...] = ()
    executed: bool = False
    not_executed: tuple[NotExecuted, ...] = ()

    def to_dict(self) -> dict[str, object]:
        return {
            "applied": [i.to_dict() for i in self.applied],
            "dry_run": self.dry_run,
            "executed": self.executed,
            "not_executed": [n.to_dict() for n in self.not_executed],
        }


class ScriptStep(NamedTuple):
    """One file of a printed script."""

    version: int
    name: str
    path: Path
    no_transaction: bool

    def to_dict(self) -> dict[str, object]:
        return {
            "version": self.version,
            "name": self.name,
            "file": str(self.path),
            "no_transaction": self.no_transaction,
        }


class SqlScript(NamedTuple):
    """`migrate --print-sql` / `down --print-sql`: the script, and what it was made from
    (`database`: the redacted URL read, None with --from-empty)."""

    command: Literal["migrate", "down"]
    text: str
    steps: tuple[ScriptStep, ...]
    database: str | None
    generated_at: str

    def to_dict(self) -> dict[str, object]:
        return {
            "command": self.command,
            "database": self.database,
            "from_empty": self.database is None,
            "generated_at": self.generated_at,
            "migrations": [s.to_dict() for s in self.steps],
            "script": self.text,
        }


class DownResult(NamedTuple):
    reverted: tuple[MigrationStep, ...]
    dry_run: bool = False
    nothing_applied: bool = False

    def to_dict(self) -> dict[str, object]:
        return {
            "reverted": [i.to_dict() for i in self.reverted],
            "dry_run": self.dry_run,
            "nothing_applied": self.nothing_applied,
        }


class StatusResult(NamedTuple):
    entries: tuple[Entry, ...]
    history_table: str
    warnings: tuple[Problem, ...] = ()
    running: str | None = None  # the session of a sqlmig run holding the lock now, if any

    @property
    def is_head(self) -> bool:
        return at_head(self.entries)

    def to_dict(self) -> dict[str, object]:
        return {
            "history_table": self.history_table,
            "at_head": self.is_head,
            "migrations": [e.to_dict() for e in self.entries],
            "warnings": [p.to_dict() for p in self.warnings],
            "running": self.running,
        }


class NewResult(NamedTuple):
    version: int
    name: str
    up_path: Path
    down_path: Path

    def to_dict(self) -> dict[str, object]:
        return {"version": self.version, "name": self.name, "up": str(self.up_path), "down": str(self.down_path)}


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

    def to_dict(self) -> dict[str, object]:
        return {
            "ok": self.ok,
            "history_table": self.history_table,
            "history_checked": self.history_checked,
            "migrations": self.migrations,
            "applied": self.applied,
            "problems": [p.to_dict() for p in self.problems],
            "warnings": [p.to_dict() for p in self.warnings],
            "notes": [p.to_dict() for p in self.notes],
        }


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

    def to_dict(self) -> dict[str, object]:
        return {
            "version": self.version,
            "name": self.name,
            "state": self.state,
            "file": str(self.file) if self.file else None,
            "checksum": self.recorded_checksum,
            "file_checksum": self.file_checksum,
            "cosmetic_change": self.cosmetic_change,
            "identical": self.identical,
            "diff": self.diff,
        }


# What repair does to a history row: record the file's new text, delete the row, or mark it applied.
RepairAction = Literal["accept", "forget", "resolve"]


class RepairChange(NamedTuple):
    """One history row repair changed (or would, with --dry-run)."""

    action: RepairAction
    version: int
    label: str
    state_before: MigrationState
    state_after: MigrationState | None  # None: the row was deleted
    checksum_before: str
    checksum_after: str | None

    def to_dict(self) -> dict[str, object]:
        """Its fields in order, `label` called "name" as in every other document."""
        return {"name" if key == "label" else key: value for key, value in self._asdict().items()}


class RepairResult(NamedTuple):
    changes: tuple[RepairChange, ...]
    skipped: tuple[Problem, ...] = ()  # named on the command line, but already as asked
    dry_run: bool = False

    def to_dict(self) -> dict[str, object]:
        return {
            "changes": [c.to_dict() for c in self.changes],
            "skipped": [p.to_dict() for p in self.skipped],
            "dry_run": self.dry_run,
        }


class BaselineResult(NamedTuple):
    version: int
    recorded: tuple[Migration, ...]
    dry_run: bool = False

    def to_dict(self) -> dict[str, object]:
        recorded = [
            {"version": m.version, "name": m.name, "file": str(m.up.path), "checksum": m.checksum}
            for m in self.recorded
        ]
        return {"version": self.version, "recorded": recorded, "dry_run": self.dry_run}


class SeedTableResult(NamedTuple):
    """What the seed did to one table (or would do, with --dry-run)."""

    table: str
    rows: int
    inserted: int = 0
    skipped: int = 0
    updated: int = 0
    duration_ms: float = 0.0

    def to_dict(self) -> dict[str, object]:
        return {"table": self.table, "inserted": self.inserted, "skipped": self.skipped, "updated": self.updated}


class SeedResult(NamedTuple):
    file: Path
    tables: tuple[SeedTableResult, ...]
    migrations: tuple[MigrationStep, ...] = ()
    dry_run: bool = False
    duration_ms: float = 0.0

    def to_dict(self) -> dict[str, object]:
        return {
            "tables": [t.to_dict() for t in self.tables],
            "migrations_applied": len(self.migrations),
            "dry_run": self.dry_run,
        }


# ---- verify ------------------------------------------------------------------------------------


class VerdictKind(StrEnum):
    """What verify concluded about one migration (see `sqlmig verify --help`)."""

    OK = "ok"  # down restored the schema before up, and up again the schema after it
    COSMETIC = "cosmetic"  # only differences that cannot change behaviour (column order, generated names)
    DIFFERS = "differs"
    UP_FAILS = "up fails"
    DOWN_FAILS = "down fails"
    REUP_FAILS = "re-up fails"
    IRREVERSIBLE = "irreversible"  # an empty or comment-only down


# Verdicts that pass; IRREVERSIBLE passes too unless --strict.
PASSING = frozenset({VerdictKind.OK, VerdictKind.COSMETIC})

VerifyStep = Literal["up", "down", "re-up"]


class StepFailure(NamedTuple):
    """A file that failed on the scratch database: which step, where, and the server's words."""

    step: VerifyStep
    path: Path
    line: int | None
    column: int | None
    message: str
    sqlstate: str | None = None
    detail: str | None = None
    hint: str = ""

    @property
    def location(self) -> str:
        place = f":{self.line}:{self.column}" if self.line is not None else ""
        return f"{self.path}{place}"

    def to_dict(self) -> dict[str, object]:
        return {
            "step": self.step,
            "file": str(self.path),
            "line": self.line,
            "column": self.column,
            "message": self.message,
            "sqlstate": self.sqlstate,
            "detail": self.detail,
            "hint": self.hint or None,
        }


class StatementEffect(NamedTuple):
    """Locks one statement took first, and tables it rewrote, on relations that existed before."""

    line: int
    column: int
    statement: str  # the statement's first line
    locks: tuple[tuple[str, str], ...]  # (relation, mode), e.g. ("public.users", "AccessExclusiveLock")
    rewrites: tuple[str, ...]

    @property
    def blocks_everything(self) -> tuple[str, ...]:
        """Tables this statement locked ACCESS EXCLUSIVE: no read or write of them until commit."""
        return tuple(rel for rel, mode in self.locks if mode == "AccessExclusiveLock")

    def to_dict(self) -> dict[str, object]:
        return {
            "line": self.line,
            "column": self.column,
            "statement": self.statement,
            "locks": [{"relation": rel, "mode": mode} for rel, mode in self.locks],
            "rewrites": list(self.rewrites),
        }


class MigrationVerdict(NamedTuple):
    """One migration verified: its verdict, every difference found, and what its statements locked.

    `after_down`: the schema before up compared with the schema after down; `after_reup`: the
    schema after up compared with the schema after up ran again. `up_effects`/`down_effects`: the
    statements that locked or rewrote tables that existed before the step; `measured` is False
    when a file ran outside a transaction, where locks are not measured.
    """

    version: int
    name: str
    path: Path  # the up file
    down_path: Path
    verdict: VerdictKind
    after_down: tuple[Difference, ...] = ()
    after_reup: tuple[Difference, ...] = ()
    failure: StepFailure | None = None
    up_effects: tuple[StatementEffect, ...] = ()
    down_effects: tuple[StatementEffect, ...] = ()
    measured: bool = True
    duration_ms: float = 0.0
    note: str = ""

    def passes(self, *, strict: bool) -> bool:
        return self.verdict in PASSING or (self.verdict == VerdictKind.IRREVERSIBLE and not strict)

    def to_dict(self) -> dict[str, object]:
        return {
            "version": self.version,
            "name": self.name,
            "file": str(self.path),
            "down_file": str(self.down_path),
            "verdict": str(self.verdict),
            "after_down": [d.to_dict() for d in self.after_down],
            "after_reup": [d.to_dict() for d in self.after_reup],
            "failure": None if self.failure is None else self.failure.to_dict(),
            "locks": {
                "measured": self.measured,
                "up": [e.to_dict() for e in self.up_effects],
                "down": [e.to_dict() for e in self.down_effects],
            },
            "duration_ms": round(self.duration_ms, 3),
            "note": self.note or None,
        }


class VerifyResult(NamedTuple):
    """Every migration verify judged, in order, and where it worked."""

    verdicts: tuple[MigrationVerdict, ...]
    scope: str  # "all", "pending", or how --from/--to narrowed it
    prepared: int  # migrations applied first, unverified, to reach the state before the first one
    scratch: str  # the server the scratch database was on (password redacted)
    strict: bool = False

    @property
    def ok(self) -> bool:
        return all(v.passes(strict=self.strict) for v in self.verdicts)

    @property
    def counts(self) -> dict[str, int]:
        """How many migrations got each verdict, in the order verdicts first appear."""
        found: dict[str, int] = {}
        for v in self.verdicts:
            found[str(v.verdict)] = found.get(str(v.verdict), 0) + 1
        return found

    def to_dict(self) -> dict[str, object]:
        return {
            "ok": self.ok,
            "scope": self.scope,
            "prepared": self.prepared,
            "scratch": self.scratch,
            "strict": self.strict,
            "counts": self.counts,
            "migrations": [v.to_dict() for v in self.verdicts],
        }


class DriftResult(NamedTuple):
    """The live schema compared with the one its applied migrations build: `differences` go from
    expected (before) to live (after)."""

    differences: tuple[Difference, ...]
    applied: int
    scratch: str
    notes: tuple[str, ...] = ()  # what else explains a difference: a migration that failed part-way

    @property
    def ok(self) -> bool:
        return all(d.cosmetic for d in self.differences)

    def to_dict(self) -> dict[str, object]:
        return {
            "ok": self.ok,
            "applied": self.applied,
            "scratch": self.scratch,
            "differences": [d.to_dict() for d in self.differences],
            "notes": list(self.notes),
        }


class DumpResult(NamedTuple):
    """The schema as `sqlmig dump` writes it, and the file it went to (None: stdout)."""

    text: str
    path: Path | None
    objects: int

    def to_dict(self) -> dict[str, object]:
        return {"file": None if self.path is None else str(self.path), "objects": self.objects, "schema": self.text}


class SumResult(NamedTuple):
    """`sqlmig sum`: the list file written (or already up to date)."""

    path: Path
    migrations: int
    changed: bool

    def to_dict(self) -> dict[str, object]:
        return {"file": str(self.path), "migrations": self.migrations, "changed": self.changed}


class RenumberResult(NamedTuple):
    """`sqlmig renumber`: a pair moved to a new version (or, with dry_run, that would be)."""

    old: int
    new: int
    name: str
    moves: tuple[tuple[Path, Path], ...]
    history_checked: str | None  # the history it was checked against; None: no database configured
    sum_updated: bool
    dry_run: bool = False

    def to_dict(self) -> dict[str, object]:
        return {
            "old": self.old,
            "new": self.new,
            "name": self.name,
            "renamed": [{"from": str(a), "to": str(b)} for a, b in self.moves],
            "history_checked": self.history_checked,
            "sum_updated": self.sum_updated,
            "dry_run": self.dry_run,
        }


LintSeverity = Literal["info", "warning", "error"]
_SEVERITY_RANK = {"info": 0, "warning": 1, "error": 2}


class LintFinding(NamedTuple):
    """One statement a lint rule flags: where, how bad, what happens and the safe way.

    `severity` is after table size and settings; `waived` is the reason given next to the
    statement (`-- sqlmig:allow CODE reason`), None when it stands."""

    code: str
    name: str
    severity: LintSeverity
    path: str
    line: int
    column: int
    direction: str  # "up" or "down"
    statement: str  # its first line
    detail: str  # what this statement does, in its own names ("CREATE INDEX on users")
    message: str  # what happens (the rule's explanation)
    safe: str
    table: str | None = None
    size: str | None = None  # e.g. "about 100,000 rows, 12 MB"; None without a database
    waived: str | None = None

    @property
    def where(self) -> str:
        return f"{self.path}:{self.line}:{self.column}"

    def to_dict(self) -> dict[str, object]:
        return {
            "code": self.code,
            "name": self.name,
            "severity": self.severity,
            "path": self.path,
            "line": self.line,
            "column": self.column,
            "direction": self.direction,
            "statement": self.statement,
            "detail": self.detail,
            "message": self.message,
            "safe": self.safe,
            "table": self.table,
            "size": self.size,
            "waived": self.waived,
        }


class LintResult(NamedTuple):
    """A lint of a set of files. `context`: "database" (pending files, sizes from the target),
    "files" (the files given, in version order) or "static" (every file, each on its own)."""

    findings: tuple[LintFinding, ...]
    files: int
    context: str
    server_version: int | None
    fail_on: LintSeverity = "error"

    @property
    def failing(self) -> tuple[LintFinding, ...]:
        """Findings not waived at or above `fail_on`: what makes the exit code 3."""
        floor = _SEVERITY_RANK[self.fail_on]
        return tuple(f for f in self.findings if f.waived is None and _SEVERITY_RANK[f.severity] >= floor)

    @property
    def ok(self) -> bool:
        return not self.failing

    @property
    def counts(self) -> dict[str, int]:
        """Findings that stand, by severity, and the waived ones."""
        out = {"error": 0, "warning": 0, "info": 0, "waived": 0}
        for f in self.findings:
            out["waived" if f.waived is not None else f.severity] += 1
        return out

    def to_dict(self) -> dict[str, object]:
        return {
            "ok": self.ok,
            "context": self.context,
            "server_version": self.server_version,
            "fail_on": self.fail_on,
            "files": self.files,
            "counts": self.counts,
            "findings": [f.to_dict() for f in self.findings],
        }
