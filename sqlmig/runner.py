"""The apply loop: run the chosen files in order on a Session and return what it did.

Every file runs once. A transactional file is retried on a lock timeout (its transaction was
rolled back, so nothing of it took effect); a no-transaction file only while none of its
statements has taken effect. Whatever stops a run, the error it raises is built once, complete
(what failed, where, what stays), by failures.py, and the history says the same: a no-transaction
file that stopped after a statement took effect is recorded `failed`, on Ctrl-C and lost
connections too. Nothing is reported done before it is committed.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from .config import Settings
from .errors import ConnectionFailed, Interrupted, MigrationFailed, done_verb, what_stays
from .events import EventHandler, LockRetry, MigrationDone, MigrationRehearsed, MigrationStarted, RunStarted
from .failures import Failures, versions_of
from .migrations import Direction, Migration, SqlFile, label
from .plan import Entry
from .results import MigrationStep
from .statements import Piece, split_plain

if TYPE_CHECKING:
    from .db.catalog import InvalidIndex
    from .db.execute import Job, Query
    from .db.history import History
    from .db.session import Session
    from .scanner import Statement

LOCK_NOT_AVAILABLE = "55P03"


def statements_of(file: SqlFile) -> Sequence[Statement | Piece]:
    """The file's statements as psql would send them; plain files skip the scanner's import."""
    plain = split_plain(file.sql)
    if plain is not None:
        return plain
    from .scanner import split_statements

    return split_statements(file.sql)


def step_of(entry: Entry, direction: Direction) -> MigrationStep:
    m = entry.migration
    path = m.file(direction).path if m else Path(label(entry.version, entry.name))
    return MigrationStep(entry.version, entry.name, path)


class Runner:
    """Runs files on one Session with one run's settings; reports progress through `emit`."""

    def __init__(self, session: Session, settings: Settings, emit: EventHandler | None = None) -> None:
        self.session = session
        self.settings = settings
        self.emit: EventHandler = emit or (lambda _event: None)
        self.failures = Failures(session, settings)

    # ---- public --------------------------------------------------------------------------------

    def run(
        self, todo: Sequence[Entry], direction: Direction, *, single_transaction: bool = False
    ) -> list[MigrationStep]:
        """Apply (direction "up") or revert ("down") each entry in order; what this run completed."""
        self.emit(RunStarted(len(todo), direction))
        if single_transaction:
            return self._whole_run(todo, direction)
        done: list[MigrationStep] = []
        at = 0
        failures = 0  # of todo[at], each a lock timeout retried
        while at < len(todo):
            entry = todo[at]
            item = step_of(entry, direction)
            self._check_lock(item, done, direction)
            if failures == 0:
                self.emit(MigrationStarted(item, at + 1, len(todo), direction))
            if _file_of(entry, direction).directives.no_transaction:
                duration, retries = self._without_transaction(entry, direction, item, done)
                item = item._replace(duration_ms=duration, retries=retries)
                done.append(item)
                self.emit(MigrationDone(item, at + 1, len(todo), direction))
                at += 1
                continue
            batch = todo[at : at + _batch_size(todo, at, direction)]
            committed, retry = self._in_transactions(todo, at, batch, direction, done, failures)
            at += committed
            failures = failures + 1 if retry and committed == 0 else int(retry)
        if done:
            self._check_lock(None, done, direction)
        return done

    def rehearse(self, migrations: Sequence[Migration]) -> list[MigrationStep]:
        """Run up files inside the caller's open transaction on the work connection, recording
        nothing (seed --dry-run, migrate --dry-run --execute: the caller rolls everything back);
        each with how long it took."""
        from .db.execute import FileFailed

        done: list[MigrationStep] = []
        for m in migrations:
            item = MigrationStep(m.version, m.name, m.up.path)
            try:
                duration, retries = self._in_savepoint(m, m.up, "up", item, record=False)
            except FileFailed as exc:
                raise self.failures.failed(
                    m, m.up, "up", exc, outcome="the rehearsal was rolled back: nothing of it stays", done=()
                ) from None
            item = item._replace(duration_ms=duration, retries=retries)
            done.append(item)
            self.emit(MigrationRehearsed(item, len(migrations)))
        return done

    # ---- transactional files: sent together, each in its own transaction ----------------------------

    def _in_transactions(
        self,
        todo: Sequence[Entry],
        at: int,
        batch: Sequence[Entry],
        direction: Direction,
        done: list[MigrationStep],
        failures: int,
    ) -> tuple[int, bool]:
        """Run `batch` (todo[at:...], transactional files) in one pipeline, each file and its
        history change in a transaction of its own; each is reported done as its COMMIT returns.
        (How many committed, whether the next is to be tried again after a lock timeout.)
        `failures`: the lock timeouts batch[0] already had."""
        from .db.execute import FileFailed, send_in_transactions

        items = [step_of(entry, direction) for entry in batch]
        before = len(done)

        def committed(i: int, ms: float) -> None:
            item = items[i]._replace(duration_ms=ms, retries=failures if i == 0 else 0)
            done.append(item)
            self.emit(MigrationDone(item, at + i + 1, len(todo), direction))
            if i + 1 < len(items):
                self.emit(MigrationStarted(items[i + 1], at + i + 2, len(todo), direction))

        jobs = [self._job(_migration_of(entry), direction) for entry in batch]
        try:
            send_in_transactions(self.session.work, jobs, committed)
        except FileFailed as exc:
            m, file = _migration_of(batch[exc.job]), jobs[exc.job].file
            tried = failures if exc.job == 0 else 0
            statement = exc.failure.statement
            if exc.failure.sqlstate == LOCK_NOT_AVAILABLE and self._may_retry(
                tried, file, items[exc.job], direction, statement
            ):
                return exc.job, True
            raise self.failures.transaction_failed(m, file, direction, exc, done) from None
        except KeyboardInterrupt:
            running = len(done) - before
            if running >= len(batch):  # between the last COMMIT and the end of the pipeline
                self.session.drop_work()
                raise Interrupted(
                    f"interrupted after {items[-1].path}",
                    hint=what_stays(versions_of(done), direction),
                    ran=versions_of(done),
                    stayed=versions_of(done),
                ) from None
            m = _migration_of(batch[running])
            raise self.failures.interrupted_in_transaction(m, jobs[running].file, direction, done) from None
        return len(done) - before, False

    def _job(self, m: Migration, direction: Direction, *, in_savepoint: bool = False, record: bool = True) -> Job:
        return job_of(self.session.history, self.settings, m, direction, in_savepoint=in_savepoint, record=record)

    def _in_savepoint(
        self, m: Migration, file: SqlFile, direction: Direction, item: MigrationStep, *, record: bool = True
    ) -> tuple[float, int]:
        """The file and its history change in a savepoint of the caller's transaction (the whole
        run's, or a rehearsal's); failures are re-raised for the caller to describe."""
        from .db.execute import FileFailed, send_in_savepoint

        job = self._job(m, direction, in_savepoint=True, record=record)
        for attempt in range(self.settings.lock_retries + 1):
            try:
                return send_in_savepoint(self.session.work, job), attempt
            except FileFailed as exc:
                if exc.failure.sqlstate == LOCK_NOT_AVAILABLE and self._may_retry(
                    attempt, file, item, direction, exc.failure.statement
                ):
                    continue
                raise
        raise AssertionError("unreachable")  # pragma: no cover

    # ---- a no-transaction file, statement by statement ---------------------------------------------

    def _without_transaction(
        self, entry: Entry, direction: Direction, item: MigrationStep, done: Sequence[MigrationStep]
    ) -> tuple[float, int]:
        from .db.execute import FileFailed, Progress, send_statements
        from .db.session import HistoryAccessFailed

        m = _migration_of(entry)
        file = _file_of(entry, direction)

        statements = statements_of(file)
        watch = "concurrently" in file.sql.lower()  # only a CONCURRENTLY build leaves an INVALID index
        before = {ix.drop_statement for ix in self._left_invalid(set())} if watch else set()
        lock_timeout, statement_timeout = timeouts(file, self.settings)
        progress = Progress()
        for attempt in range(self.settings.lock_retries + 1):
            try:
                duration = send_statements(
                    self.session.work,
                    file,
                    statements,
                    lock_timeout=lock_timeout,
                    statement_timeout=statement_timeout,
                    progress=progress,
                )
                break
            except FileFailed as exc:
                left = self._left_invalid(before) if watch else []
                untouched = exc.took_effect == 0 and not left and not exc.lost and not exc.self_committing
                retryable = untouched and exc.failure.sqlstate == LOCK_NOT_AVAILABLE
                if retryable and self._may_retry(attempt, file, item, direction, exc.failure.statement):
                    continue
                if untouched:
                    raise self.failures.failed(
                        m, file, direction, exc, outcome="nothing of it took effect", done=done
                    ) from None
                raise self.failures.stopped_part_way(m, file, direction, exc, left, done) from None
            except KeyboardInterrupt:
                self.session.drop_work()
                left = self._left_invalid(before) if watch else []
                raise self.failures.interrupted_part_way(m, file, direction, progress, left, done) from None
        else:  # pragma: no cover - the loop breaks or raises
            raise AssertionError("unreachable")
        try:
            try:
                self._record_done(m, direction, duration)
            except KeyboardInterrupt:
                # The file ran to its end: the history must say so before the run stops.
                self._record_done(m, direction, duration, unless_recorded=True)
                raise Interrupted(
                    f"interrupted after {file.path} ran to its end; the history records it as {done_verb(direction)}",
                    hint=what_stays(versions_of(done), direction),
                    ran=(*versions_of(done), m.version),
                    stayed=(*versions_of(done), m.version),
                ) from None
        except HistoryAccessFailed as exc:
            # The truth the history can still hold: the file's work stays, unrecorded as done.
            verb = done_verb(direction)
            note = self.failures.record_failed(
                m, direction, f"ran to its end, but recording it as {verb} failed: {exc}"
            )
            raise MigrationFailed(
                f"{file.path} ran to its end, but the history could not record it as {verb}: {exc}",
                version=m.version,
                path=str(file.path),
                direction=direction,
                outcome=f"its statements took effect and stay; {note}",
                hint=f"sqlmig's role needs INSERT, UPDATE and DELETE on {self.settings.history_name}; then "
                f"`sqlmig repair --{'resolve' if direction == 'up' else 'forget'} {m.version}`",
                ran=versions_of(done),
                stayed=versions_of(done),
            ) from None
        return duration, attempt

    def _record_done(
        self, m: Migration, direction: Direction, duration: float, *, unless_recorded: bool = False
    ) -> None:
        """The history row of a no-transaction file that ran to its end (on the control connection)."""
        if unless_recorded and self.failures.committed(m.version, direction):
            return
        if direction == "up":
            from .db.history import AppliedRow

            self.session.record_applied(AppliedRow.of(m), round(duration))
        else:
            self.session.record_reverted(m.version)

    # ---- the whole run in one transaction ------------------------------------------------------

    def _whole_run(self, todo: Sequence[Entry], direction: Direction) -> list[MigrationStep]:
        from .db.execute import FileFailed, whole_run

        ran: list[MigrationStep] = []
        current: tuple[Migration, SqlFile] | None = None
        rolled_back = "every migration of this run was rolled back with it (--single-transaction)"
        try:
            with whole_run(self.session.work):
                for index, entry in enumerate(todo, start=1):
                    m = _migration_of(entry)
                    file = m.file(direction)
                    current = (m, file)
                    item = step_of(entry, direction)
                    self._check_lock(item, (), direction)
                    self.emit(MigrationStarted(item, index, len(todo), direction))
                    duration, retries = self._in_savepoint(m, file, direction, item)
                    ran.append(item._replace(duration_ms=duration, retries=retries))
                current = None
        except FileFailed as exc:
            if current is None:  # the final COMMIT: a deferred constraint or trigger
                failure = exc.failure
                raise MigrationFailed(
                    f"COMMIT of the --single-transaction run failed: {failure.message}",
                    version=todo[-1].version,
                    path=str(ran[-1].path) if ran else "(run)",
                    sqlstate=failure.sqlstate,
                    detail=failure.detail,
                    hint=failure.hint,
                    direction=direction,
                    outcome=rolled_back,
                    ran=versions_of(ran),
                ) from None
            m, file = current
            raise self.failures.transaction_failed(m, file, direction, exc, ran, whole_run=True) from None
        except KeyboardInterrupt:
            self.session.drop_work()
            where = f" while running {current[1].path}" if current else ""
            raise Interrupted(
                f"interrupted{where}; the run's one transaction was rolled back: nothing of this run stays",
                ran=versions_of(ran),
            ) from None
        for index, item in enumerate(ran, start=1):  # reported only now that it is committed
            self.emit(MigrationDone(item, index, len(todo), direction))
        return ran

    def _check_lock(self, item: MigrationStep | None, done: Sequence[MigrationStep], direction: Direction) -> None:
        """Before a file, or a batch of files, and at the end of the run (item None): sqlmig's lock
        is still held (its connection can be ended from outside, by an administrator, an idle-
        connection killer or a file); without it another run could be running the same files. The
        files of one batch run back to back on the server, so a lock lost during a batch is seen
        after it; their history rows still commit with them, so the history tells the truth."""
        if self.session.lock_held():
            return
        if item is None:
            last = f" (after {done[-1].path})" if done else ""
            message = f"the connection holding sqlmig's lock was lost during this run{last}"
        else:
            message = f"the connection holding sqlmig's lock was lost before {item.path}; nothing more was run"
        raise ConnectionFailed(
            message, hint=f"{what_stays(versions_of(done), direction)}; run `sqlmig status`, then migrate again"
        )

    # ---- what went wrong, said once ------------------------------------------------------------

    def _may_retry(
        self, attempt: int, file: SqlFile, item: MigrationStep, direction: Direction, statement: str | None = None
    ) -> bool:
        retries = self.settings.lock_retries
        if attempt >= retries:
            return False
        pause = min(0.5 * 2**attempt, 30.0)
        self.emit(
            LockRetry(
                item,
                direction,
                f"{file.path}: could not get a lock within lock_timeout "
                f"(retry {attempt + 1} of {retries} in {pause:g}s){self._holders(statement)}",
            )
        )
        time.sleep(pause)
        return True

    def _holders(self, statement: str | None) -> str:
        """'; pid 123 (...) holds a lock on busy': the sessions the statement that timed out may
        have waited for (locks on tables its words name), or nothing when none is found."""
        from .db.session import HistoryAccessFailed

        # Words and "quoted names", compared in lowercase with the catalog's names.
        names = {w.strip('"').lower() for w in re.findall(r'[A-Za-z_][A-Za-z0-9_$]*|"[^"]+"', statement or "")}
        try:
            holders = self.session.lock_holders(names)
        except HistoryAccessFailed:
            return ""
        return "".join(f"; {h}" for h in holders)

    # ---- small helpers -------------------------------------------------------------------------

    def _left_invalid(self, before: set[str]) -> list[InvalidIndex]:
        from .db.session import HistoryAccessFailed

        try:
            return [ix for ix in self.session.invalid_indexes() if ix.drop_statement not in before]
        except HistoryAccessFailed:
            return []


def timeouts(file: SqlFile, settings: Settings) -> tuple[str | None, str | None]:
    """(lock_timeout, statement_timeout) for a file: its own directives override the run's settings."""
    d = file.directives
    return d.lock_timeout or settings.lock_timeout, d.statement_timeout or settings.statement_timeout


def history_row(history: History, m: Migration, direction: Direction, *, in_savepoint: bool = False) -> Query:
    """The history change of a file: the applied row of an up, the removal of a down's."""
    if direction == "up":
        from .db.history import AppliedRow

        return history.insert_query(AppliedRow.of(m), in_savepoint=in_savepoint)
    return history.delete_query(m.version)


def job_of(
    history: History,
    settings: Settings,
    m: Migration,
    direction: Direction,
    *,
    in_savepoint: bool = False,
    record: bool = True,
) -> Job:
    """A transactional file as the executor takes it: statements, timeouts, history change (a run's,
    and a printed script's)."""
    from .db.execute import Job

    file = m.file(direction)
    row = history_row(history, m, direction, in_savepoint=in_savepoint)
    lock_timeout, statement_timeout = timeouts(file, settings)
    return Job(file, statements_of(file), lock_timeout, statement_timeout, [row] if record else [])


# Consecutive transactional files sent in one pipeline: at most this many, and this much SQL. Enough
# to keep the server busy between round trips; few enough that a lost lock (checked between
# batches) is noticed soon, and that a Ctrl-C has little in flight.
_BATCH_FILES = 25
_BATCH_BYTES = 1 << 20


def _batch_size(todo: Sequence[Entry], at: int, direction: Direction) -> int:
    """How many transactional files from todo[at] on go in one pipeline (at least one)."""
    size, total = 0, 0
    for entry in todo[at : at + _BATCH_FILES]:
        file = _file_of(entry, direction)
        total += len(file.sql)
        if file.directives.no_transaction or (size and total > _BATCH_BYTES):
            break
        size += 1
    return max(size, 1)


def _migration_of(entry: Entry) -> Migration:
    assert entry.migration is not None  # drift checks refuse missing files before a run starts
    return entry.migration


def _file_of(entry: Entry, direction: Direction) -> SqlFile:
    return _migration_of(entry).file(direction)
