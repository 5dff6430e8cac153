"""What every renderer shares: the streams, and stderr, which says the same in every mode (waits,
warnings, errors, why a check refused), so that stdout holds only the output chosen."""

from __future__ import annotations

import io
from abc import ABC, abstractmethod
from contextlib import AbstractContextManager, nullcontext
from functools import cached_property
from typing import IO, TYPE_CHECKING

from ..errors import MigrationFailed, ProblemsError, SqlmigError, plural
from ..events import Event, EventHandler, FileWarning, RecordedDownUsed, Waiting

if TYPE_CHECKING:  # rich is imported when something is drawn with it
    from rich.console import Console

    from ..results import StatusResult, ValidateResult


class RendererBase(ABC):
    """The streams, and what every kind of output says alike on stderr. Each subclass draws every
    command's result on stdout its own way (mypy checks each has them all: see `Renderer`)."""

    def __init__(self, *, color: bool, stdout: IO[str], stderr: IO[str]) -> None:
        for stream in (stdout, stderr):
            # A path whose bytes are not UTF-8 (a folder named in Latin-1) reaches Python as lone
            # surrogates, which a strict UTF-8 stream refuses with a traceback: print it escaped.
            if isinstance(stream, io.TextIOWrapper) and stream.errors == "strict":
                stream.reconfigure(errors="backslashreplace")
        self.color = color
        self.stdout = stdout
        self.stderr = stderr

    @cached_property
    def err_console(self) -> Console:
        from rich.console import Console

        return Console(file=self.stderr, no_color=not self.color, highlight=False, stderr=True, soft_wrap=True)

    def line(self, text: str) -> None:
        """A plain line on stdout (never markup)."""
        self.stdout.write(text + "\n")
        self.stdout.flush()

    def note(self, text: str) -> None:
        """A diagnostic on stderr."""
        self.err_console.print(escape(text))

    # ---- progress: what every mode tells on stderr -------------------------------------------

    def notice(self, event: Event) -> None:
        """The events every mode tells on stderr: waits and warnings."""
        self.waiting(event)
        self.warning(event)
        self.recorded_down(event)

    def recorded_down(self, event: Event) -> None:
        """A migration `down --use-recorded` reverts with its recorded down SQL, named before it runs."""
        if not isinstance(event, RecordedDownUsed):
            return
        at = event.applied_at.isoformat(timespec="seconds") if event.applied_at else "an unknown time"
        self.note(f"{event.version}_{event.name}: its files are gone; reverting it with the down SQL recorded at {at}")

    def waiting(self, event: Event) -> None:
        """What a wait is waiting for (the server, sqlmig's lock), on stderr: said once when it
        starts; the reminders every few seconds only on a terminal, not in CI logs."""
        if not isinstance(event, Waiting):
            return
        if event.again and not isatty(self.stderr):
            return
        self.note(event.message)

    def warning(self, event: Event) -> None:
        """A comment that looks like a marker but is not applied, on stderr before the run starts, in
        every mode: the run goes on, and a JSON document on stdout stays whole."""
        if not isinstance(event, FileWarning):
            return
        where = event.where
        self.err_console.print(f"[yellow]warning:[/] {escape(f'{where}: ' if where else '')}{escape(event.message)}")
        if event.hint:
            self.err_console.print(f"  [dim]hint:[/] {escape(event.hint)}")

    def progress(self) -> AbstractContextManager[EventHandler]:
        """The on_event handler of a migrate or down run, for as long as it runs."""
        return nullcontext(self.run_event)

    def seed_progress(self) -> AbstractContextManager[EventHandler]:
        """The on_event handler of `seed`: the migrations it runs first, then rows loaded per table."""
        return nullcontext(self.seed_event)

    def verify_progress(self) -> AbstractContextManager[EventHandler]:
        """The on_event handler of `verify`: each migration's verdict as it is found."""
        return nullcontext(self.verify_event)

    @abstractmethod
    def verify_event(self, event: Event) -> None:
        """One event of a verify."""

    @abstractmethod
    def run_event(self, event: Event) -> None:
        """One event of a migrate or down run."""

    @abstractmethod
    def seed_event(self, event: Event) -> None:
        """One event of a seed."""

    def validate(self, result: ValidateResult) -> None:
        """The report on stdout; then, in every mode, why it refused (stderr)."""
        self.validation_report(result)
        if not result.ok:
            n = len(result.problems)
            self.err_console.print(f"[bold red]error:[/] validation found {plural(n, 'blocking problem')}")

    @abstractmethod
    def validation_report(self, result: ValidateResult) -> None:
        """What validate found, on stdout."""

    # ---- on stderr, in every mode --------------------------------------------------------------

    def not_at_head(self, result: StatusResult) -> None:
        """Why `status --check` exits 3 (stderr; stdout keeps the status itself)."""
        counts: dict[str, int] = {}
        for e in result.entries:
            if e.state != "applied":
                counts[e.state] = counts.get(e.state, 0) + 1
        why = ", ".join(f"{n} {state}" for state, n in counts.items())
        self.err_console.print(f"[bold red]error:[/] not at head: {escape(why)}")

    def error(self, exc: SqlmigError) -> None:
        """A readable message on stderr (the JSON renderer also puts the error's document on stdout)."""
        if isinstance(exc, MigrationFailed):  # file:line:column first, as compilers print it
            head = f"{exc.title} ({exc.direction}) {exc.location}: {exc.message}"
            lines = [*exc.facts(), *exc.consequences()]
        else:  # problems are drawn below, each with its hint on a line of its own
            head, lines = f"{exc.title}: {exc.message}", [] if isinstance(exc, ProblemsError) else exc.details()
        self.err_console.print(f"[bold red]error:[/] {escape(head)}")
        for line in lines:
            self.err_console.print(f"  {escape(line)}")
        if isinstance(exc, ProblemsError):
            for p in exc.problems:
                self.err_console.print(f"  {escape(p.where)}: {escape(p.message)}")
                if p.hint:
                    self.err_console.print(f"    [dim]hint:[/] {escape(p.hint)}")
        if exc.hint:
            self.err_console.print(f"  [dim]hint:[/] {escape(exc.hint)}")


def escape(text: str) -> str:
    """rich's markup escaping, importing rich only when markup is drawn."""
    from rich.markup import escape as rich_escape

    return rich_escape(text)


def isatty(stream: IO[str]) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
