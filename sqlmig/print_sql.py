"""`migrate --print-sql` and `down --print-sql`: the run of chosen migrations as one psql script,
built from the same jobs a run sends (runner.job_of) and composed by db/script.py; nothing runs."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal

from . import __version__, results
from .config import Settings
from .errors import RefusedError, plural
from .migrations import Direction, Migration
from .plan import Entry

if TYPE_CHECKING:
    from .db.connect import Conn
    from .db.history import History


def script(
    settings: Settings,
    command: Literal["migrate", "down"],
    direction: Direction,
    todo: Sequence[Entry],
    history: History,
    ensure: Sequence[str],
    single_transaction: bool,
    conn: Conn | None,
) -> results.SqlScript:
    """The script of a run of `todo`; refused when a file holds text psql would read differently."""
    from datetime import UTC, datetime

    from . import file_checks
    from .config import redact_url
    from .db import lock, script
    from .runner import history_row, job_of

    chosen = [_migration_of(e) for e in todo]
    problems = file_checks.psql_problems([m.file(direction) for m in chosen])
    if problems:
        raise RefusedError(
            f"{plural(len(problems), 'problem')} in the files for a psql script; nothing was printed",
            problems,
        )
    steps = []
    for m in chosen:
        no_transaction = m.file(direction).directives.no_transaction
        inside = single_transaction or no_transaction  # a no-transaction up's row is timed as a savepoint's
        job = job_of(history, settings, m, direction, in_savepoint=single_transaction)
        steps.append(script.Step(m, direction, job, history_row(history, m, direction, in_savepoint=inside)))
    url = settings.database_url
    database = None if conn is None else (redact_url(url) if url else "")
    generated = datetime.now(UTC).isoformat(timespec="seconds")
    done = "apply" if direction == "up" else "revert"
    listed = ", ".join(m.label for m in chosen) if chosen else "none"
    flags = " --single-transaction" if single_transaction else ""
    header = (
        f"sqlmig {__version__}: `sqlmig {command} --print-sql{flags}`: the SQL `sqlmig {command}` would send, "
        "as one psql script.",
        "Database: "
        + (
            f"{database} (read to know what is pending)"
            if conn is not None
            else "from empty (no database was read: every migration is pending)"
        ),
        f"Migrations to {done} ({len(chosen)}): {listed}",
        f"Generated at {generated}.",
    )
    text = script.compose(
        header=header,
        ensure=ensure,
        lock_key=lock.lock_key(settings.history_schema, settings.history_table),
        history_name=settings.history_name,
        steps=steps,
        single_transaction=single_transaction,
    )
    listed_steps = tuple(
        results.ScriptStep(m.version, m.name, m.file(direction).path, m.file(direction).directives.no_transaction)
        for m in chosen
    )
    return results.SqlScript(command, text, listed_steps, database, generated)


def _migration_of(entry: Entry) -> Migration:
    assert entry.migration is not None  # history checks refuse missing files before a script is made
    return entry.migration
