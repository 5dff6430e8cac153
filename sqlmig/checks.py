"""Refuse file contents that cannot run safely, before anything is sent; pure."""

from __future__ import annotations

from collections.abc import Iterable

from .errors import Problem
from .migrations import SqlFile
from .scanner import split_statements, unterminated

# Statements that would end or start the transaction sqlmig wraps each file in.
_TRANSACTION_CONTROL = {
    ("BEGIN",),
    ("START", "TRANSACTION"),
    ("COMMIT",),
    ("END",),
    ("ROLLBACK",),
    ("ABORT",),
    ("PREPARE", "TRANSACTION"),
}


def file_problems(file: SqlFile) -> list[Problem]:
    """Everything wrong with one file that is knowable without a database."""
    problems: list[Problem] = []
    open_token = unterminated(file.sql)
    if open_token is not None:
        what = open_token.kind.replace("unterminated_", "").replace("_", " ")
        problems.append(
            Problem(
                f"{file.path}:{open_token.line}:{open_token.column}",
                f"unterminated {what} starting here runs to the end of the file",
                "close it; PostgreSQL would reject the whole file",
            )
        )
        return problems
    for stmt in split_statements(file.sql):
        words = stmt.words(2)
        if not words:
            continue
        first = words[:1]
        if first in _TRANSACTION_CONTROL or words in _TRANSACTION_CONTROL:
            if words == ("ROLLBACK", "TO") or (first == ("ROLLBACK",) and _is_savepoint(stmt.words(3))):
                continue
            problems.append(
                Problem(
                    f"{file.path}:{stmt.line}:{stmt.column}",
                    f"transaction control statement {' '.join(words[:1] if first != ('START',) else words)} "
                    "in a migration file",
                    "sqlmig runs each file in its own transaction; remove it (use SAVEPOINT if you need "
                    "a partial rollback, or `-- sqlmig:no-transaction` for statements that cannot run "
                    "in a transaction)",
                )
            )
    return problems


def _is_savepoint(words: tuple[str, ...]) -> bool:
    return len(words) >= 2 and words[1] in ("TO",)


def files_problems(files: Iterable[SqlFile]) -> list[Problem]:
    out: list[Problem] = []
    for f in files:
        out.extend(file_problems(f))
    return out
