"""The SqlmigError tree: every failure a user can cause, with structured fields and an exit code."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from .migrations import Direction

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_REFUSED = 3
EXIT_UNREACHABLE = 4
EXIT_INTERRUPTED = 130


def plural(n: int, word: str) -> str:
    """'1 problem', '3 problems': messages count things, and the count must agree with the noun."""
    return f"{n} {word}{'s' if n != 1 else ''}"


def agree(n: int, verb: str) -> str:
    """'stays' for one, 'stay' for several: the verb agrees with a count, as plural() makes the noun."""
    return f"{verb}s" if n == 1 else verb


def done_verb(direction: Direction) -> str:
    """What a run does to a migration: 'applied' going up, 'reverted' going down."""
    return "applied" if direction == "up" else "reverted"


def what_stays(versions: Sequence[int], direction: Direction) -> str:
    """The migrations of this run still in effect, as every run error says it."""
    verb = done_verb(direction)
    if not versions:
        return f"no migration of this run stays {verb}"
    n = len(versions)
    return f"{plural(n, 'migration')} of this run {agree(n, 'stay')} {verb} ({', '.join(map(str, versions))})"


def first_line(text: str, default: str = "error") -> str:
    """The first line of a server or OS message: the rest (CONTEXT, LINE 3: ...) is shown apart or not at all."""
    text = text.strip()
    return text.splitlines()[0] if text else default


class Problem(NamedTuple):
    """One thing wrong with the files or the history, located where a user can find it."""

    where: str  # "sql/0004_x.up.sql:3:1", "/tables/2/rows/17/price", "history", ...
    message: str
    hint: str = ""

    def __str__(self) -> str:
        text = f"{self.where}: {self.message}" if self.where else self.message
        return f"{text} ({self.hint})" if self.hint else text

    def to_dict(self) -> dict[str, object]:
        """Its JSON document, in every list of problems, warnings and notes."""
        return {"where": self.where, "message": self.message, "hint": self.hint or None}


class SqlmigError(Exception):
    """Base of every error sqlmig reports; the CLI maps exit_code, the library lets callers catch it."""

    exit_code = EXIT_FAILED
    title = "error"

    def __init__(self, message: str, *, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def details(self) -> list[str]:
        """Extra lines the renderers print below the message."""
        return []

    def to_dict(self) -> dict[str, object]:
        return {
            "error": type(self).__name__,
            "exit_code": self.exit_code,
            "message": self.message,
            "hint": self.hint or None,
            "details": self.details(),
        }


class ConfigError(SqlmigError):
    """Bad usage or configuration: a missing URL, an unknown key, an unparsable value."""

    exit_code = EXIT_USAGE
    title = "configuration error"


class InvalidSettings(ConfigError):
    """Several settings are invalid: each is reported (setting, source, accepted form), not just the first."""

    def __init__(self, errors: Sequence[ConfigError]) -> None:
        super().__init__(f"{plural(len(errors), 'invalid setting')}; nothing was run", hint="fix each one as it says")
        self.errors = list(errors)

    def details(self) -> list[str]:
        return [f"{e.message} ({e.hint})" if e.hint else e.message for e in self.errors]


class ProblemsError(SqlmigError):
    """Several problems found before anything ran; all are reported at once."""

    exit_code = EXIT_REFUSED
    title = "refused"

    def __init__(self, message: str, problems: list[Problem], *, hint: str = "") -> None:
        super().__init__(message, hint=hint)
        self.problems = list(problems)

    def details(self) -> list[str]:
        return [str(p) for p in self.problems]

    def to_dict(self) -> dict[str, object]:
        data = super().to_dict()
        data["problems"] = [p.to_dict() for p in self.problems]
        return data


class DiscoveryError(ProblemsError):
    """The migration directory is inconsistent (bad names, missing halves, duplicates, encoding)."""

    title = "invalid migration directory"


class HistoryError(ProblemsError):
    """The history disagrees with the files (drift, missing files, out-of-order, failed state)."""

    title = "history check failed"


class RefusedError(ProblemsError):
    """A file or request is refused before anything runs (forbidden statements, bad target)."""

    title = "refused"


class MigrationFailed(SqlmigError):
    """A migration's SQL failed on the server. `outcome` says what became of its work (rolled back,
    or what stays when a no-transaction file stopped part-way); `ran` and `stayed` list the versions
    this run completed before it, and those of them still in effect (none after a rolled-back
    --single-transaction run). Built once, complete, by the runner."""

    exit_code = EXIT_FAILED
    title = "migration failed"

    def __init__(
        self,
        message: str,
        *,
        version: int,
        path: str,
        line: int | None = None,
        column: int | None = None,
        sqlstate: str | None = None,
        detail: str | None = None,
        hint: str = "",
        statement: str | None = None,
        direction: Direction = "up",
        context: str | None = None,
        outcome: str = "",
        ran: tuple[int, ...] = (),
        stayed: tuple[int, ...] = (),
    ) -> None:
        super().__init__(message, hint=hint)
        self.version = version
        self.path = path
        self.line = line
        self.column = column
        self.sqlstate = sqlstate
        self.detail = detail
        self.statement = statement
        self.direction = direction
        self.context = context
        self.outcome = outcome
        self.ran = ran
        self.stayed = stayed

    @property
    def location(self) -> str:
        if self.line is None:
            return self.path
        if self.column is None:
            return f"{self.path}:{self.line}"
        return f"{self.path}:{self.line}:{self.column}"

    def details(self) -> list[str]:
        return [f"at {self.location}", *self.facts()]

    def facts(self) -> list[str]:
        """What the server said beyond its message (the CLI shows the location in its first line)."""
        lines = []
        if self.sqlstate:
            lines.append(f"SQLSTATE {self.sqlstate}")
        if self.detail:
            lines.append(f"DETAIL: {self.detail}")
        if self.context:
            lines.extend(f"CONTEXT: {c}" for c in self.context.strip().splitlines())
        if self.statement and self.statement.strip():
            lines.append("statement:")
            lines.extend(f"  {text}" for text in statement_lines(self.statement))
        return lines

    def consequences(self) -> list[str]:
        """What stays: this file's outcome, then this run's earlier migrations."""
        return [line for line in (self.outcome, what_stays(self.stayed, self.direction)) if line]

    def to_dict(self) -> dict[str, object]:
        data = super().to_dict()
        data.update(
            version=self.version,
            path=self.path,
            line=self.line,
            column=self.column,
            sqlstate=self.sqlstate,
            detail=self.detail,
            context=self.context,
            statement=self.statement,
            direction=self.direction,
            outcome=self.outcome,
            ran=list(self.ran),
            stayed=list(self.stayed),
        )
        return data


STATEMENT_LINES = 40


def statement_lines(text: str, limit: int = STATEMENT_LINES) -> list[str]:
    """A failing statement as shown: whole, up to `limit` lines (a 50 MB INSERT is cut, and says so)."""
    lines = text.strip("\n").splitlines()
    if len(lines) <= limit:
        return [line[:500] for line in lines]
    return [line[:500] for line in lines[:limit]] + [f"... ({len(lines) - limit} more lines)"]


class ConnectionFailed(SqlmigError):
    """The database cannot be reached (or never came up within --wait)."""

    exit_code = EXIT_UNREACHABLE
    title = "database unreachable"


class ServerRefused(SqlmigError):
    """The server refused what sqlmig itself needs, outside any migration file: reading or creating
    its history table, taking its lock (a privilege, a read-only database, a name taken by something
    else). Nothing of the run was done."""

    exit_code = EXIT_FAILED
    title = "refused by the server"


class LockTimeout(SqlmigError):
    """sqlmig's own advisory lock was held by another session for longer than --lock-wait."""

    exit_code = EXIT_UNREACHABLE
    title = "lock not acquired"


class WriteFailed(SqlmigError):
    """A file sqlmig writes (`new`) could not be written; nothing was left behind."""

    exit_code = EXIT_REFUSED
    title = "cannot write"


class Interrupted(SqlmigError):
    """The run was interrupted (Ctrl-C); the message says what became of the current migration,
    `stayed` lists the versions this run completed that are still in effect."""

    exit_code = EXIT_INTERRUPTED
    title = "interrupted"

    def __init__(
        self, message: str, *, hint: str = "", ran: tuple[int, ...] = (), stayed: tuple[int, ...] = ()
    ) -> None:
        super().__init__(message, hint=hint)
        self.ran = ran
        self.stayed = stayed

    def to_dict(self) -> dict[str, object]:
        data = super().to_dict()
        data.update(ran=list(self.ran), stayed=list(self.stayed))
        return data


class SeedInvalid(ProblemsError):
    """The seed file is not valid JSON, breaks the schema, or does not fit the database; nothing was loaded."""

    title = "invalid seed file"


class SeedFailed(SqlmigError):
    """Loading the seed failed on the server; the whole seed transaction was rolled back."""

    exit_code = EXIT_FAILED
    title = "seed failed"

    def __init__(
        self,
        message: str,
        *,
        where: str,
        table: str | None = None,
        row: int | None = None,
        sqlstate: str | None = None,
        detail: str | None = None,
        hint: str = "",
    ) -> None:
        super().__init__(message, hint=hint)
        self.where = where  # a JSON pointer into the seed file: "/tables/2/rows/17"
        self.table = table
        self.row = row
        self.sqlstate = sqlstate
        self.detail = detail

    def details(self) -> list[str]:
        lines = []
        if self.detail:
            lines.append(f"DETAIL: {self.detail}")
        if self.sqlstate:
            lines.append(f"SQLSTATE {self.sqlstate}")
        lines.append("nothing was loaded: the seed transaction was rolled back")
        return lines

    def to_dict(self) -> dict[str, object]:
        data = super().to_dict()
        data.update(where=self.where, table=self.table, row=self.row, sqlstate=self.sqlstate, detail=self.detail)
        return data
