"""What a run that ends early tells its user: one complete error per way a file can fail, stop
part way, be interrupted or lose its connection, built once (nothing edits it afterwards), with the
history saying the same (`failed` where part of a file stays)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

from .config import EMBEDDED, Settings
from .errors import ConnectionFailed, Interrupted, MigrationFailed, agree, done_verb, plural, what_stays
from .migrations import Direction, Migration, SqlFile
from .results import MigrationStep

if TYPE_CHECKING:
    from .db.catalog import InvalidIndex
    from .db.execute import Failure, FileFailed, Progress
    from .db.session import Session

INSUFFICIENT_PRIVILEGE = "42501"
UNDEFINED_TABLE = "42P01"
UNDEFINED_SCHEMA = "3F000"
MULTIPLE_COMMANDS = "cannot insert multiple commands into a prepared statement"


class Failures:
    """Builds a run's errors on its Session (to record `failed`, to ask whether a file committed)."""

    def __init__(self, session: Session, settings: Settings) -> None:
        self.session = session
        self.settings = settings

    def transaction_failed(
        self,
        m: Migration,
        file: SqlFile,
        direction: Direction,
        exc: FileFailed,
        done: Sequence[MigrationStep],
        *,
        whole_run: bool = False,
    ) -> MigrationFailed | ConnectionFailed:
        """A transactional file failed: its transaction (or savepoint) was rolled back, unless the
        file ended it itself; each stage of failure says so in its own words."""
        if exc.lost and not whole_run:
            return self.lost(m, file, direction, exc, done)
        message, hint = None, None
        outcome = "the migration was rolled back" if direction == "up" else "the revert was rolled back"
        if whole_run:
            outcome = "it was rolled back, and every migration of this run with it (--single-transaction)"
        if exc.stage == "guard" and whole_run:
            message = f"{file.path} ended the savepoint sqlmig runs it in, so its work cannot be told apart"
        elif exc.stage == "guard":
            note = self.record_failed(m, direction, "the file ended the transaction sqlmig opened for it")
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
        return self.failed(
            m, file, direction, exc, message=message, outcome=outcome, hint=hint, done=done, whole_run=whole_run
        )

    def stopped_part_way(
        self,
        m: Migration,
        file: SqlFile,
        direction: Direction,
        exc: FileFailed,
        left: list[InvalidIndex],
        done: Sequence[MigrationStep],
    ) -> MigrationFailed:
        """A no-transaction file stopped after some of it took effect: recorded `failed`."""
        failure = exc.failure
        error = f"{file.path}:{failure.line}:{failure.column}: {failure.message}" if failure.line else failure.message
        note = self.record_failed(m, direction, error)
        stays = _what_stays(exc.took_effect, left)
        if exc.lost:
            stays += "; the statement that was running when the connection was lost may have taken effect too"
        if exc.self_committing:
            stays += "; the failing statement may have committed part of its own work before it failed"
        return self.failed(
            m,
            file,
            direction,
            exc,
            outcome=f"{stays}; {note}",
            hint=_resolve_hint(m.version, direction, left),
            done=done,
        )

    def interrupted_part_way(
        self,
        m: Migration,
        file: SqlFile,
        direction: Direction,
        progress: Progress,
        left: list[InvalidIndex],
        done: Sequence[MigrationStep],
    ) -> Interrupted:
        took, running = progress.took_effect, progress.running
        where = f"{file.path}:{running.line}:{running.column}" if running is not None else str(file.path)
        if took == 0 and not left:
            return Interrupted(
                f"interrupted while running {where}; nothing of it took effect",
                hint=what_stays(versions_of(done), direction),
                ran=versions_of(done),
                stayed=versions_of(done),
            )
        note = self.record_failed(m, direction, f"interrupted at {where}")
        return Interrupted(
            f"interrupted while running {where}; {_what_stays(took, left)}; {note}",
            hint=f"{_resolve_hint(m.version, direction, left)}; {what_stays(versions_of(done), direction)}",
            ran=versions_of(done),
            stayed=versions_of(done),
        )

    def interrupted_in_transaction(
        self, m: Migration, file: SqlFile, direction: Direction, done: Sequence[MigrationStep]
    ) -> Interrupted:
        self.session.drop_work()  # closing the connection ends its transaction, whatever state the cancel left
        committed = self.committed(m.version, direction)
        if committed:
            what = f"it had already committed and stays {done_verb(direction)}"
            stayed = (*versions_of(done), m.version)
        else:
            what = "its transaction was rolled back"
            stayed = versions_of(done)
        return Interrupted(
            f"interrupted while running {file.path}; {what}",
            hint=what_stays(versions_of(done), direction),
            ran=stayed,
            stayed=stayed,
        )

    def lost(
        self, m: Migration, file: SqlFile, direction: Direction, exc: FileFailed, done: Sequence[MigrationStep]
    ) -> ConnectionFailed:
        committed = self.committed(m.version, direction)
        if committed is None:
            what = "sqlmig cannot reach the history to tell whether it committed; run `sqlmig status`"
        elif committed:
            what = "the history shows it committed"
        else:
            what = "it was rolled back (the history does not record it)"
        return ConnectionFailed(
            f"the connection was lost while running {file.path}: {exc.failure.message}; {what}",
            hint=what_stays(versions_of(done), direction),
        )

    def failed(
        self,
        m: Migration,
        file: SqlFile,
        direction: Direction,
        exc: FileFailed,
        *,
        outcome: str,
        done: Sequence[MigrationStep],
        message: str | None = None,
        hint: str | None = None,
        whole_run: bool = False,
    ) -> MigrationFailed:
        hint_here = hint
        if self.settings.database_url == EMBEDDED:
            hint_here = embedded_hint(exc.failure.sqlstate, exc.failure.message) or hint
        return failed_at(
            exc.failure,
            m.version,
            file,
            direction=direction,
            outcome=outcome,
            message=message,
            hint=hint_here,
            ran=versions_of(done),
            stayed=() if whole_run else versions_of(done),
        )

    def record_failed(self, m: Migration, direction: Direction, error: str) -> str:
        """Record `failed`; the sentence that says so (or why it could not)."""
        from .db.history import AppliedRow
        from .db.session import HistoryAccessFailed

        try:
            self.session.record_failed(AppliedRow.of(m), error, up=direction == "up")
        except HistoryAccessFailed as exc:
            return (
                f"the history could not record this ({exc}): it does not show {m.version} as failed, so look "
                "at the database before the next run"
            )
        return f"the history marks {m.version} as failed"

    def committed(self, version: int, direction: Direction) -> bool | None:
        """Whether the history shows this file's change committed (None: the history is out of reach)."""
        from .db.session import HistoryAccessFailed

        try:
            present = self.session.has_row(version)
        except HistoryAccessFailed:
            return None
        return present if direction == "up" else not present


def embedded_hint(sqlstate: str | None, message: str) -> str | None:
    """An extension the embedded server lacks: say which sources have it, instead of PostgreSQL's 'install it'."""
    if sqlstate not in ("0A000", "58P01") or "extension" not in message.lower():
        return None
    from .pg_sources import packages_with

    named = re.search(r'extension "([^"]+)"|/([^/"]+)\.control', message)
    name = (named[1] or named[2]) if named else None
    offers = packages_with(name) if name else []
    where = f"{name} is in {'; '.join(offers)}, then" if offers else "then"
    return (
        "the embedded server has only the extensions `sqlmig embedded status` lists; "
        f"{where} set embedded_version for a new data folder, or run against a full PostgreSQL: "
        "--database-url postgresql://user:password@host:5432/dbname, SQLMIG_DATABASE_URL or DATABASE_URL"
    )


def versions_of(items: Sequence[MigrationStep]) -> tuple[int, ...]:
    return tuple(i.version for i in items)


def _what_stays(took_effect: int, left: Sequence[InvalidIndex]) -> str:
    parts = []
    if took_effect:
        parts.append(f"{plural(took_effect, 'statement')} before it took effect and {agree(took_effect, 'stay')}")
    for ix in left:
        parts.append(f"it left index {ix.schema}.{ix.name} on {ix.table} INVALID")
    return "; ".join(parts) or "nothing of it took effect"


def _resolve_hint(version: int, direction: Direction, left: Sequence[InvalidIndex]) -> str:
    drops = "".join(f"drop the INVALID index with: {ix.drop_statement} " for ix in left)
    again = "applied" if direction == "up" else "applied again"
    return (
        f"{drops}fix the database, then `sqlmig repair --resolve {version}` (mark it {again}) "
        f"or `sqlmig repair --forget {version}`"
    ).strip()


def failed_at(
    failure: Failure,
    version: int,
    file: SqlFile,
    *,
    direction: Direction = "up",
    outcome: str,
    message: str | None = None,
    hint: str | None = None,
    ran: tuple[int, ...] = (),
    stayed: tuple[int, ...] = (),
) -> MigrationFailed:
    """The error of a file that failed on the server, placed where the failure says (a run, or a
    file applied on verify's and drift's scratch database)."""
    text = message or failure.message
    extra = hint if hint is not None else failure.hint
    if failure.message == MULTIPLE_COMMANDS:
        text = "sqlmig's scanner took this for one statement, but the server found several in it; nothing ran"
        extra = (
            "end each statement with ';' on its own; if it is valid SQL that psql splits the same way, "
            "report it with the file"
        )
    return MigrationFailed(
        text,
        version=version,
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
        ran=ran,
        stayed=stayed,
    )
