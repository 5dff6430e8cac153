"""Draw results and errors: rich on a terminal, plain lines in CI logs, one JSON document with --json."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import IO, TYPE_CHECKING, Any

from .errors import MigrationFailed, ProblemsError, SqlmigError
from .plan import Entry
from .results import DownResult, Event, MigrateResult, NewResult, RunItem, StatusResult

if TYPE_CHECKING:  # rich is imported when something is drawn with it: plain output never pays for it
    from rich.console import Console

_STATE_STYLE = {
    "applied": "green",
    "pending": "yellow",
    "modified": "bold red",
    "missing": "bold red",
    "failed": "bold red",
}


@dataclass
class Output:
    """Where and how to draw: JSON, rich (a terminal) or plain lines (pipes and CI logs)."""

    json: bool = False
    color: bool = True
    stdout: IO[str] = field(default_factory=lambda: sys.stdout)
    stderr: IO[str] = field(default_factory=lambda: sys.stderr)
    tty: bool | None = None

    def __post_init__(self) -> None:
        if self.tty is None:
            self.tty = _isatty(self.stdout)
        self.rich = bool(self.tty) and not self.json

    @cached_property
    def console(self) -> Console:
        from rich.console import Console

        return Console(file=self.stdout, no_color=not self.color, highlight=False, force_terminal=self.rich or None)

    @cached_property
    def err_console(self) -> Console:
        from rich.console import Console

        return Console(file=self.stderr, no_color=not self.color, highlight=False, stderr=True, soft_wrap=True)

    # ---- low level -------------------------------------------------------------------------

    def line(self, text: str) -> None:
        """A plain line on stdout (never markup)."""
        self.stdout.write(text + "\n")
        self.stdout.flush()

    def document(self, data: dict[str, Any]) -> None:
        self.stdout.write(json.dumps(data, indent=2, default=_json_default) + "\n")
        self.stdout.flush()

    def note(self, text: str) -> None:
        """A diagnostic on stderr."""
        self.err_console.print(escape(text))

    # ---- progress ----------------------------------------------------------------------------

    @contextmanager
    def progress(self) -> Iterator[Callable[[Event], None]]:
        """An on_event handler: a progress bar on a terminal, one line per migration elsewhere."""
        if self.json:
            yield lambda _event: None
            return
        if not self.rich:
            yield self._plain_event
            return
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=self.console,
            transient=True,
        )
        task: list[Any] = []

        def handle(event: Event) -> None:
            if event.kind == "run_start" and event.total > 1:
                bar.start()
                task.append(bar.add_task("starting", total=event.total))
            elif event.kind == "migration_start" and task and event.item:
                bar.update(task[0], description=escape(str(event.item.path)))
            elif event.kind == "migration_done" and event.item:
                verb = "applied" if event.direction == "up" else "reverted"
                self.console.print(
                    f"[green]✓[/] {verb} {escape(_label(event.item))} [dim]({_ms(event.item.duration_ms)})[/]"
                )
                if task:
                    bar.advance(task[0])
            elif event.kind == "retry":
                self.console.print(f"[yellow]↻[/] {escape(event.message)}")

        try:
            yield handle
        finally:
            bar.stop()

    def _plain_event(self, event: Event) -> None:
        if event.kind == "migration_done" and event.item:
            verb = "applied" if event.direction == "up" else "reverted"
            self.line(f"{verb} {_label(event.item)} ({_ms(event.item.duration_ms)})")
        elif event.kind == "retry":
            self.line(event.message)

    # ---- results -----------------------------------------------------------------------------

    def migrate(self, result: MigrateResult) -> None:
        if self.json:
            self.document({"applied": [_item_json(i) for i in result.applied], "dry_run": result.dry_run})
            return
        if result.dry_run:
            if not result.applied:
                self.line("nothing to apply: the database is up to date")
            for item in result.applied:
                self.line(f"would apply {_label(item)} ({item.path})")
            return
        if not result.applied:
            self.line("nothing to apply: the database is up to date")
            return
        total = sum(i.duration_ms or 0 for i in result.applied)
        n = len(result.applied)
        self._summary(f"applied {n} migration{'s' if n != 1 else ''} in {_ms(total)}")

    def down(self, result: DownResult) -> None:
        if self.json:
            self.document(
                {
                    "reverted": [_item_json(i) for i in result.reverted],
                    "dry_run": result.dry_run,
                    "nothing_applied": result.nothing_applied,
                }
            )
            return
        if result.nothing_applied:
            self.line("nothing to revert: no migration is applied")
            return
        if result.dry_run:
            for item in result.reverted:
                self.line(f"would revert {_label(item)} ({item.path})")
            return
        if not result.reverted:
            self.line("nothing to revert")
            return
        total = sum(i.duration_ms or 0 for i in result.reverted)
        n = len(result.reverted)
        self._summary(f"reverted {n} migration{'s' if n != 1 else ''} in {_ms(total)}")

    def status(self, result: StatusResult) -> None:
        if self.json:
            self.document(
                {
                    "history_table": result.history_table,
                    "at_head": result.is_head,
                    "migrations": [_entry_json(e) for e in result.entries],
                }
            )
            return
        if not result.entries:
            self.line("no migrations found")
            return
        if self.rich:
            from rich.table import Table

            table = Table(title=f"history: {escape(result.history_table)}", title_justify="left")
            for col in ("version", "name", "state", "applied at"):
                table.add_column(col, no_wrap=col != "name")
            for e in result.entries:
                state = e.state + (" (cosmetic edit)" if e.cosmetic_change else "")
                state += " (out of order)" if e.out_of_order else ""
                table.add_row(
                    str(e.version),
                    escape(e.name),
                    f"[{_STATE_STYLE.get(e.state, '')}]{escape(state)}[/]",
                    _when(e),
                )
            self.console.print(table)
        else:
            width = max(len("NAME"), *(len(e.name) for e in result.entries))
            vwidth = max(len("VERSION"), *(len(str(e.version)) for e in result.entries))
            lines = [f"{'VERSION':<{vwidth}}  {'NAME':<{width}}  {'STATE':<9}  APPLIED AT"]
            for e in result.entries:
                extra = " cosmetic-edit" if e.cosmetic_change else ""
                extra += " out-of-order" if e.out_of_order else ""
                lines.append(f"{e.version:<{vwidth}}  {e.name:<{width}}  {e.state:<9}  {_when(e)}{extra}".rstrip())
            self.line("\n".join(lines))  # one write, not one flush per migration
        counts: dict[str, int] = {}
        for e in result.entries:
            counts[e.state] = counts.get(e.state, 0) + 1
        summary = ", ".join(f"{n} {state}" for state, n in counts.items())
        self._summary(summary)

    def new(self, result: NewResult) -> None:
        if self.json:
            self.document(
                {
                    "version": result.version,
                    "name": result.name,
                    "up": str(result.up_path),
                    "down": str(result.down_path),
                }
            )
            return
        self.line(f"created {result.up_path}")
        self.line(f"created {result.down_path}")

    def _summary(self, text: str) -> None:
        if self.rich:
            self.console.print(f"[bold]{escape(text)}[/]")
        else:
            self.line(text)

    # ---- errors ------------------------------------------------------------------------------

    def error(self, exc: SqlmigError) -> None:
        """Report an error once: JSON on stdout with --json, and always a readable message on stderr."""
        if self.json:
            self.document(exc.to_dict())
        title = exc.title
        if isinstance(exc, MigrationFailed):
            head = f"{exc.location}: {exc.message}"
            self.err_console.print(f"[bold red]error:[/] {escape(title)} ({exc.direction}) {escape(head)}")
            if exc.detail:
                self.err_console.print(f"  DETAIL: {escape(exc.detail)}")
            if exc.hint:
                self.err_console.print(f"  HINT: {escape(exc.hint)}")
            if exc.sqlstate:
                self.err_console.print(f"  SQLSTATE: {escape(exc.sqlstate)}")
            if exc.statement:
                first = exc.statement.strip().splitlines()[0][:200] if exc.statement.strip() else ""
                self.err_console.print(f"  statement: {escape(first)}")
            self.err_console.print(
                f"  the migration was rolled back; {exc.applied_before} migration(s) of this run stay applied"
                if exc.direction == "up"
                else f"  the revert was rolled back; {exc.applied_before} migration(s) of this run were reverted"
            )
            return
        self.err_console.print(f"[bold red]error:[/] {escape(title)}: {escape(exc.message)}")
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


def _isatty(stream: IO[str]) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def _label(item: RunItem) -> str:
    return item.path.name.rsplit(".", 2)[0] if item.path.name.endswith(".sql") else f"{item.version}_{item.name}"


def _ms(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.0f} ms" if value < 10_000 else f"{value / 1000:.1f} s"


def _when(e: Entry) -> str:
    if e.applied and e.applied.applied_at:
        return e.applied.applied_at.strftime("%Y-%m-%d %H:%M:%S%z")
    return ""


def _item_json(item: RunItem) -> dict[str, Any]:
    return {
        "version": item.version,
        "name": item.name,
        "file": str(item.path),
        "duration_ms": None if item.duration_ms is None else round(item.duration_ms, 3),
    }


def _entry_json(e: Entry) -> dict[str, Any]:
    return {
        "version": e.version,
        "name": e.name,
        "state": e.state,
        "applied_at": e.applied.applied_at if e.applied else None,
        "checksum": e.checksum,
        "file_checksum": e.file_checksum,
        "cosmetic_change": e.cosmetic_change,
        "out_of_order": e.out_of_order,
        "file": str(e.migration.up.path) if e.migration else None,
        "execution_ms": e.applied.execution_ms if e.applied else None,
    }


def _json_default(value: object) -> object:
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)
