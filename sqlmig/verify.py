"""`sqlmig verify`: prove, on a scratch database, that each down undoes its up.

For each migration in order: snapshot S0, apply up (measuring each statement's locks) and commit,
snapshot S1; then, in one transaction that is always rolled back, apply down (measured), snapshot
S0', apply up again, snapshot S1'. Down must give back S0 and the second up S1. Rolling the trial
back leaves the database at S1 whatever the down did, so the next migration starts where a real
migrate would have left it, and S1 is the next migration's S0 (one snapshot fewer each). A failure
never stops the run: every migration gets a verdict.

A file marked no-transaction cannot run inside that trial: its pair runs down and up again for
real, committed, and the next migration starts from whatever they left.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from .config import EMBEDDED, SAME_SERVER, Settings, redact_url
from .errors import ConfigError
from .events import EventHandler, MigrationVerified, VerifyStarted
from .failures import failed_at
from .file_checks import refuse_unrunnable
from .migrations import Migration, SqlFile
from .plan import MigrationState, Plan
from .results import MigrationVerdict, StatementEffect, StepFailure, VerdictKind, VerifyResult, VerifyStep
from .runner import statements_of
from .snapshot import Difference, Snapshot, compare

if TYPE_CHECKING:
    from .db.execute import FileFailed
    from .db.scratch import Applied, Scratch


def run(
    settings: Settings,
    migrations: Sequence[Migration],
    plan: Plan | None,
    first: int | None,
    last: int | None,
    *,
    strict: bool,
    emit: EventHandler | None,
) -> VerifyResult:
    """verify from start to end: which migrations, on which server, each judged.

    `plan`: the target's (None: every migration from an empty database, `--all`). With a plan, the
    pending migrations are verified, after the applied ones are applied as they ran (the SQL
    recorded in the history when a file was edited since); `first`/`last` narrow either choice.
    Files that cannot run are refused first, as migrate refuses them.
    """
    _check_range(migrations, plan, first, last)
    narrowed = "" if first is None and last is None else f" from {first or 'the first'} to {last or 'the last'}"

    def inside(v: int) -> bool:
        return (first is None or v >= first) and (last is None or v <= last)

    if plan is None:
        what = "all" + narrowed
        chosen = [m for m in migrations if inside(m.version)]
        start = chosen[0].version if chosen else None
        setup = [(m.version, m.up) for m in migrations if start is not None and m.version < start]
    else:
        what = "pending" + narrowed
        pending = {e.version for e in plan.pending}
        chosen = [m for m in migrations if m.version in pending and inside(m.version)]
        start = chosen[0].version if chosen else None
        before = [(m.version, m.up) for m in migrations if m.version in pending and start and m.version < start]
        setup = plan.applied_as_run() + before
    if not chosen:
        return VerifyResult((), what, 0, "-", strict)
    refuse_unrunnable([f for _, f in setup] + [f for m in chosen for f in (m.up, m.down)])
    from .db.scratch import Scratch

    server, shown = scratch_server(settings)
    with Scratch(server, exclude=[(settings.history_schema, settings.history_table)], owners=True) as scratch:
        prepare(scratch, setup, "before the first migration to verify: nothing was verified")
        verdicts = verify(scratch, chosen, emit)
    return VerifyResult(tuple(verdicts), what, len(setup), shown, strict)


def _check_range(migrations: Sequence[Migration], plan: Plan | None, first: int | None, last: int | None) -> None:
    """--from and --to name migrations on disk, in order; without --all, pending ones."""
    versions = {m.version for m in migrations}
    states = {} if plan is None else {e.version: e.state for e in plan.entries}
    for option, v in (("--from", first), ("--to", last)):
        if v is not None and v not in versions:
            raise ConfigError(
                f"{option} {v}: no migration with that version on disk", hint="`sqlmig status` lists every version"
            )
        if v is not None and states.get(v, MigrationState.PENDING) != MigrationState.PENDING:
            raise ConfigError(
                f"{option} {v}: migration {v} is {states[v]}, and verify checks the pending ones",
                hint="give --all to verify every migration from an empty database (--from and --to narrow it)",
            )
    if first is not None and last is not None and first > last:
        raise ConfigError(
            f"--from {first} comes after --to {last}: no migration lies between",
            hint="give --from VERSION --to VERSION with the lower version first",
        )


def scratch_server(settings: Settings) -> tuple[str, str]:
    """The server where scratch databases are created, and how to name it (no password)."""
    where = settings.scratch_url
    if where == SAME_SERVER:
        if not settings.database_url:
            raise ConfigError(
                "scratch_url 'same' names the target's server, but no database URL is set",
                hint="give --database-url, or --scratch-url URL of a server where sqlmig may create databases",
            )
        where = settings.database_url
    if where == EMBEDDED:
        from . import embedded

        url = embedded.ensure_running(settings.embedded_dir, settings.embedded_version, settings.embedded_port)
        return url, "the embedded server"
    return where, redact_url(where)


def prepare(scratch: Scratch, files: Sequence[tuple[int, SqlFile]], when: str) -> None:
    """Apply files (version, up file) in order, unmeasured: what comes before what is judged.
    A failure is the migration's error, placed, saying `when` it happened."""
    from .db.execute import FileFailed

    for version, file in files:
        try:
            scratch.apply(file, statements_of(file))
        except FileFailed as exc:
            raise failed_at(exc.failure, version, file, outcome=f"on a scratch database, {when}") from None


def verify(
    scratch: Scratch, migrations: Sequence[Migration], emit: EventHandler | None = None
) -> list[MigrationVerdict]:
    """A verdict for each migration, in order, starting from the scratch database's schema now."""
    tell: EventHandler = emit or (lambda _event: None)
    tell(VerifyStarted(len(migrations)))
    verdicts: list[MigrationVerdict] = []
    before = scratch.snapshot()
    for position, m in enumerate(migrations, 1):
        verdict, before = _judge(scratch, m, before)
        verdicts.append(verdict)
        tell(MigrationVerified(verdict, position, len(migrations)))
    return verdicts


def _judge(scratch: Scratch, m: Migration, s0: Snapshot) -> tuple[MigrationVerdict, Snapshot]:
    """One migration's verdict, and the schema the next one starts from."""
    from .db.execute import FileFailed

    verdict = _Verdict(m)
    try:
        existing = scratch.existing()  # what the migration finds: only locks on these count
        up = scratch.apply(m.up, statements_of(m.up), measure=existing)
    except FileFailed as exc:
        # a transactional up was rolled back; a no-transaction one may have left part of its work
        now = scratch.snapshot() if m.up.directives.no_transaction else s0
        return verdict.failed("up", m.up, exc), now
    verdict.took(up)
    verdict.up_effects = up.effects
    verdict.measured = up.measured
    s1 = scratch.snapshot()
    if m.down.is_empty:
        return verdict.done(VerdictKind.IRREVERSIBLE), s1
    if m.up.directives.no_transaction or m.down.directives.no_transaction:
        return _judge_committed(scratch, m, s0, s1, verdict, existing)
    with scratch.trial():
        try:
            down = scratch.run_inside(m.down, statements_of(m.down), measure=existing)
            scratch.check_deferred()
        except FileFailed as exc:
            return verdict.failed("down", m.down, exc), s1
        verdict.took(down)
        verdict.down_effects = down.effects
        verdict.after_down = compare(s0, scratch.snapshot())
        try:
            verdict.took(scratch.run_inside(m.up, statements_of(m.up)))
            scratch.check_deferred()
        except FileFailed as exc:
            return verdict.failed("re-up", m.up, exc), s1
        verdict.after_reup = compare(s1, scratch.snapshot())
    return verdict.judged(), s1


def _judge_committed(
    scratch: Scratch, m: Migration, s0: Snapshot, s1: Snapshot, verdict: _Verdict, existing: frozenset[int]
) -> tuple[MigrationVerdict, Snapshot]:
    """A pair with a no-transaction file: down and up again run for real, each committed."""
    from .db.execute import FileFailed

    note = "a file of this pair runs outside a transaction, so down and up ran again for real"
    verdict.note = note
    try:
        down = scratch.apply(m.down, statements_of(m.down), measure=existing)
    except FileFailed as exc:
        verdict.note = f"{note}; the next migrations start from what the failed down left"
        return verdict.failed("down", m.down, exc), scratch.snapshot()
    verdict.took(down)
    verdict.down_effects = down.effects
    verdict.measured = verdict.measured and down.measured
    verdict.after_down = compare(s0, scratch.snapshot())
    try:
        verdict.took(scratch.apply(m.up, statements_of(m.up)))
    except FileFailed as exc:
        verdict.note = f"{note}; the next migrations start from what the failed re-up left"
        return verdict.failed("re-up", m.up, exc), scratch.snapshot()
    s1_again = scratch.snapshot()
    verdict.after_reup = compare(s1, s1_again)
    return verdict.judged(), s1_again


class _Verdict:
    """A verdict being found: what is known so far about one migration."""

    def __init__(self, m: Migration) -> None:
        self.m = m
        self.after_down: list[Difference] = []
        self.after_reup: list[Difference] = []
        self.up_effects: tuple[StatementEffect, ...] = ()
        self.down_effects: tuple[StatementEffect, ...] = ()
        self.measured = True
        self.ms = 0.0
        self.note = ""

    def took(self, applied: Applied) -> None:
        self.ms += applied.took_ms

    def judged(self) -> MigrationVerdict:
        """ok, cosmetic or differs, from the two comparisons."""
        found = self.after_down + self.after_reup
        if any(not d.cosmetic for d in found):
            return self.done(VerdictKind.DIFFERS)
        return self.done(VerdictKind.COSMETIC if found else VerdictKind.OK)

    def failed(self, step: VerifyStep, file: SqlFile, exc: FileFailed) -> MigrationVerdict:
        """A step failed. A down that left something behind is the cause of a re-up's failure (say,
        'type "mood" already exists'): it is reported as differs, with the failure beside it."""
        failure = _failure(step, file, exc)
        if step == "re-up" and any(not d.cosmetic for d in self.after_down):
            return self.done(VerdictKind.DIFFERS, failure)
        kind = {"up": VerdictKind.UP_FAILS, "down": VerdictKind.DOWN_FAILS, "re-up": VerdictKind.REUP_FAILS}[step]
        return self.done(kind, failure)

    def done(self, kind: VerdictKind, failure: StepFailure | None = None) -> MigrationVerdict:
        m = self.m
        return MigrationVerdict(
            m.version,
            m.name,
            m.up.path,
            m.down.path,
            kind,
            tuple(self.after_down),
            tuple(self.after_reup),
            failure,
            self.up_effects,
            self.down_effects,
            self.measured,
            self.ms,
            self.note,
        )


def _failure(step: VerifyStep, file: SqlFile, exc: FileFailed) -> StepFailure:
    f = exc.failure
    return StepFailure(step, file.path, f.line, f.column, f.message, f.sqlstate, f.detail, f.hint)
