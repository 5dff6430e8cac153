"""`--print-sql`: what a run would send, as ONE script that `psql -v ON_ERROR_STOP=1 -f` runs to the
same end state: sqlmig's lock, the history table's creation, each file between the statements
the executor sends around it, its history change, the session resets. Composed here, sent by no one.

Where one psql session cannot do what sqlmig does with two connections (the lock and the history
on one, the files on the other), the script says so where it differs: DISCARD ALL is spelled out
without the advisory unlock it contains; the lock is tried once, not waited for; a no-transaction
file's history row is written in a transaction of its own, timed from a psql variable.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import NamedTuple

from ..migrations import Direction, Migration
from . import lock
from .execute import SCRIPT_RESET, Job, Query, around_file, session_timeouts
from .history import FILE_STARTED

# How a printed script is meant to be run: UTF-8 as sqlmig's connections are, no psqlrc (its
# variables and settings, AUTOCOMMIT off for one, would change what runs), stop at the first error.
RUN_WITH = "PGCLIENTENCODING=UTF8 psql -X -v ON_ERROR_STOP=1 -d DATABASE -f SCRIPT.sql"

_NOTES = (
    f"Run it with: {RUN_WITH}",
    "(not with psql -1 / --single-transaction: the script opens and commits its own transactions).",
    "It sends what sqlmig sends, on one connection where sqlmig uses two (its lock and history on one,",
    "the files on another), and differs only where that needs it, each place said below:",
    "- DISCARD ALL after each file is spelled out without pg_advisory_unlock_all(), which would release",
    "  sqlmig's lock this session holds;",
    "- the lock is tried once: when another sqlmig run holds it, the script stops before anything runs",
    "  (waiting inside a statement would hold a snapshot a CREATE INDEX CONCURRENTLY waits for);",
    "- no retry after a lock_timeout: the script stops there; the files before it stay applied, so",
    "  print a new script (or run sqlmig) to go on;",
    "- execution_ms is what the server measures while psql runs the script: since the file's BEGIN",
    "  (as sqlmig writes it), or for a no-transaction file since just before its first statement.",
)

_PLACEHOLDER = re.compile(r'"(?:[^"]|"")*"|\$([0-9]+)')


class Step(NamedTuple):
    """One file of the script: `job` as the executor takes it (its history change in job.record
    for a transactional file); `row`, a no-transaction file's history change, written after it."""

    migration: Migration
    direction: Direction
    job: Job
    row: Query


def compose(
    *,
    header: Sequence[str],
    ensure: Sequence[str],
    lock_key: int,
    history_name: str,
    steps: Sequence[Step],
    single_transaction: bool,
) -> str:
    """The whole script: header comment, psql settings, lock, history table, files, unlock."""
    out: list[str] = [*(f"-- {line}".rstrip() for line in (*header, "", *_NOTES)), ""]
    out += [
        "-- psql: stop at the first error, every statement its own transaction unless the script opens one.",
        "\\set ON_ERROR_STOP on",
        "\\set AUTOCOMMIT on",
        "\\set ON_ERROR_ROLLBACK off",
        "",
        f"-- sqlmig's lock on {history_name}: a sqlmig run started meanwhile waits for this script.",
        lock.script_lock(lock_key, history_name),
        "",
    ]
    if ensure:
        out += [f"-- the history table {history_name}, created or upgraded as sqlmig does it", *_ended(ensure), ""]
    if single_transaction and steps:
        out += ["-- --single-transaction: every file in one transaction, each in a savepoint of it", "BEGIN;", ""]
    for step in steps:
        out += _step(step, single_transaction)
    if single_transaction and steps:
        out += ["COMMIT;", ""]
    if not steps:
        out += ["-- nothing to run", ""]
    out += ["-- the end of the run: sqlmig lets go of its lock", lock.script_unlock(lock_key), ""]
    return "\n".join(out)


def _step(step: Step, single_transaction: bool) -> list[str]:
    m, job = step.migration, step.job
    path = job.file.path
    title = f"-- ==== {m.label} {'revert' if step.direction == 'down' else 'apply'}: {path} ===="
    if not job.file.directives.no_transaction:
        before, after = around_file(job, inside_transaction=single_transaction)
        return [title, *_ended(map(inline, before)), *_file(job), *_resets(after), ""]
    out = [
        title,
        "-- marked -- sqlmig:no-transaction: its statements run outside a transaction, one by one, and its",
        "-- history row is written after the last one (sqlmig writes it on its other connection).",
    ]
    timed = step.direction == "up"
    if timed:
        out += [
            "-- when the file started, kept in a psql variable for its history row's execution_ms",
            "SELECT pg_catalog.clock_timestamp()::text AS sqlmig_file_started \\gset",
        ]
    out += [*_ended(s.as_string(None) for s in session_timeouts(job.lock_timeout, job.statement_timeout))]
    out += _file(job)
    out += [
        "-- the session reset after the file (DISCARD ALL, without pg_advisory_unlock_all())",
        *_ended(SCRIPT_RESET),
    ]
    if timed:
        out += [
            "-- the history row in a transaction of its own, timed from the file's start",
            "BEGIN;",
            f"SELECT pg_catalog.set_config('{FILE_STARTED}', :'sqlmig_file_started', true);",
        ]
    out += _ended([inline(step.row)])
    if timed:
        out.append("COMMIT;")
    return [*out, ""]


def _file(job: Job) -> list[str]:
    """The file as it is, between two comments; a ';' after a last statement that has none, which
    psql would otherwise send joined to the statement after it."""
    from ..scanner import tokenize

    text = job.file.sql
    tokens = tokenize(text) if text.strip() else []
    out = [f"-- ---- {job.file.path} ----"]
    if text:
        out.append(text.removesuffix("\n"))  # a last line without a newline gets one: it may be a -- comment
    if tokens and tokens[-1].text != ";":
        out.append(";  -- sqlmig: the end of the file's last statement, which has no ';'")
    out.append(f"-- ---- end of {job.file.path} ----")
    return out


def _resets(queries: Sequence[Query]) -> list[str]:
    """sqlmig's queries after a file, each ended, DISCARD ALL spelled out (see SCRIPT_RESET)."""
    out: list[str] = []
    for query in queries:
        if query[0] == "DISCARD ALL":
            out += ["-- DISCARD ALL, without pg_advisory_unlock_all(): this session holds sqlmig's lock"]
            out += _ended(SCRIPT_RESET)
        else:
            out += _ended([inline(query)])
    return out


def _ended(statements: Iterable[str]) -> list[str]:
    return [s if s.rstrip().endswith(";") else f"{s};" for s in statements]


def inline(query: Query) -> str:
    """A query with its libpq placeholders ($1, $2...) replaced by the values as SQL literals."""
    text, params = query
    if not params:
        return text
    values = list(params)
    return _PLACEHOLDER.sub(lambda m: literal(values[int(m.group(1)) - 1]) if m.group(1) else m.group(), text)


def literal(value: object) -> str:
    """A value as SQL a psql script can carry: a string in dollar quotes (read the same whatever
    standard_conforming_strings a file set, and never interpolated by psql) with a tag it does not
    contain; a plain quoted string when it has no quote or backslash."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    text = str(value)
    if "'" not in text and "\\" not in text:
        return f"'{text}'"
    tag, n = "$sqlmig$", 0
    while tag in text or text.endswith("$" + tag[1:-1]):
        n += 1
        tag = f"$sqlmig_{n}$"
    return f"{tag}{text}{tag}"
