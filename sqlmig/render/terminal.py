"""rich on a terminal: plain's words, with a progress bar, tables and colours.

Progress draws one kind of bar (a migrate or down run's files; a seed's rows per table) and one
"done" line per migration, as its commit returns."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import cached_property
from typing import TYPE_CHECKING, Any

from .. import events
from ..errors import Problem
from ..events import Event, EventHandler
from .base import escape
from .plain import PlainRenderer
from .text import done, label, rehearsed, seeded, verdict_details, verdict_head, when

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress

    from ..migrations import Direction
    from ..results import MigrationStep, MigrationVerdict, SeedTableResult, StatusResult

_STATE_STYLE = {
    "applied": "green",
    "pending": "yellow",
    "modified": "bold red",
    "missing": "bold red",
    "failed": "bold red",
}
_VERDICT_STYLE = {"ok": "green", "cosmetic": "green", "irreversible": "yellow"}
_FINDING_STYLE = {"problem": "bold red", "warning": "yellow", "note": "cyan"}


class TerminalRenderer(PlainRenderer):
    """What plain writes, drawn for a person at a terminal."""

    @cached_property
    def console(self) -> Console:
        from rich.console import Console

        return Console(file=self.stdout, no_color=not self.color, highlight=False, force_terminal=True)

    # ---- progress --------------------------------------------------------------------------------

    @contextmanager
    def bar(self, unit: str = "") -> Iterator[Progress]:
        """A transient bar (gone when the run ends): what runs now, n of total, elapsed time."""
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        columns = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn()]
        if unit:
            columns.append(TextColumn(unit))
        bar = Progress(*columns, TimeElapsedColumn(), console=self.console, transient=True)
        try:
            yield bar
        finally:
            bar.stop()

    def lock_retry(self, event: events.LockRetry) -> None:
        self.console.print(f"[yellow]↻[/] {escape(event.message)}")

    def migration_done(self, item: MigrationStep, direction: Direction) -> None:
        what, took = done(item, direction)
        self.console.print(f"[green]✓[/] {escape(what)} [dim]({took})[/]")

    @contextmanager
    def progress(self) -> Iterator[EventHandler]:
        """A bar over the files of a run of several migrations; a line for each when it is done."""
        with self.bar() as bar:
            task: Any = None

            def handle(event: Event) -> None:
                nonlocal task
                if isinstance(event, events.RunStarted) and event.total > 1:
                    bar.start()
                    task = bar.add_task("starting", total=event.total)
                elif isinstance(event, events.MigrationStarted) and task is not None:
                    bar.update(task, description=escape(str(event.item.path)))
                elif isinstance(event, events.MigrationDone):
                    self.migration_done(event.item, event.direction)
                    if task is not None:
                        bar.advance(task)
                elif isinstance(event, events.MigrationRehearsed):  # migrate --dry-run --execute
                    self.console.print(f"[yellow]·[/] {escape(rehearsed(event.item))}", soft_wrap=True)
                elif isinstance(event, events.LockRetry):
                    self.lock_retry(event)
                else:
                    self.notice(event)

            yield handle

    @contextmanager
    def verify_progress(self) -> Iterator[EventHandler]:
        """A bar over the migrations verified; each verdict printed above it as it is found."""
        with self.bar() as bar:
            task: Any = None

            def handle(event: Event) -> None:
                nonlocal task
                if isinstance(event, events.VerifyStarted) and event.total > 1:
                    bar.start()
                    task = bar.add_task("verifying", total=event.total)
                elif isinstance(event, events.MigrationVerified):
                    self.verdict(event.verdict)
                    if task is not None:
                        bar.advance(task)
                else:
                    self.notice(event)

            yield handle

    def verdict(self, v: MigrationVerdict) -> None:
        style = _VERDICT_STYLE.get(str(v.verdict), "bold red")
        mark = "✓" if style == "green" else "·" if style != "bold red" else "✗"
        self.console.print(f"[{style}]{mark}[/] {escape(verdict_head(v))}", soft_wrap=True)
        for line in verdict_details(v):
            self.console.print(f"  [dim]{escape(line)}[/]", soft_wrap=True)

    @contextmanager
    def seed_progress(self) -> Iterator[EventHandler]:
        """A line for each migration seed runs first, then a bar of rows for each table."""
        with self.bar("rows") as bar:
            tasks: dict[int, Any] = {}

            def handle(event: Event) -> None:
                if isinstance(event, events.MigrationRehearsed):
                    self.console.print(f"[yellow]·[/] would apply {escape(label(event.item))}")
                elif isinstance(event, events.MigrationDone):
                    self.migration_done(event.item, event.direction)
                elif isinstance(event, events.TableStarted):
                    if not tasks:
                        bar.start()
                    tasks[event.position] = bar.add_task(escape(event.table), total=event.rows)
                elif isinstance(event, events.RowsLoaded) and event.position in tasks:
                    bar.update(tasks[event.position], completed=event.done)
                elif isinstance(event, events.TableDone) and event.position in tasks:
                    bar.update(tasks[event.position], visible=False)
                elif isinstance(event, events.LockRetry):
                    self.lock_retry(event)
                else:
                    self.notice(event)

            yield handle

    # ---- results ---------------------------------------------------------------------------------

    def status_table(self, result: StatusResult) -> None:
        from rich.table import Table

        table = Table(title=f"history: {escape(result.history_table)}", title_justify="left")
        for col in ("version", "name", "state", "applied at"):
            table.add_column(col, no_wrap=col != "name")
        for e in result.entries:
            state = e.state + (" (cosmetic edit)" if e.cosmetic_change else "")
            state += " (out of order)" if e.out_of_order else ""
            state += f" (down edited: {e.down_change})" if e.down_change else ""
            style = "yellow" if e.cosmetic_change or e.down_change else _STATE_STYLE.get(e.state, "")
            table.add_row(str(e.version), escape(e.name), f"[{style}]{escape(state)}[/]", when(e))
        self.console.print(table)

    def diff_text(self, diff: str) -> None:
        for line in diff.splitlines():
            style = "bold" if line.startswith(("---", "+++")) else ""
            style = style or {"+": "green", "-": "red", "@": "cyan"}.get(line[:1], "")
            self.console.print(escape(line), style=style or None, soft_wrap=True)

    def config_table(self, shown: Sequence[tuple[str, str, str]]) -> None:
        from rich.table import Table

        table = Table(title="effective settings", title_justify="left")
        for col in ("setting", "value", "source"):
            table.add_column(col)
        for key, value, source in shown:
            table.add_row(key, escape(value), f"[dim]{escape(source)}[/]")
        self.console.print(table)

    def seeded(self, table: SeedTableResult, dry_run: bool) -> None:
        self.console.print(f"[green]✓[/] {escape(seeded(table, dry_run))}")

    def summary(self, text: str) -> None:
        self.console.print(f"[bold]{escape(text)}[/]")

    def finding(self, kind: str, p: Problem) -> None:
        style = _FINDING_STYLE.get(kind, "")
        where = f"{escape(p.where)}: " if p.where else ""
        self.console.print(f"[{style}]{kind}:[/] {where}{escape(p.message)}", soft_wrap=True)
        if p.hint:
            self.console.print(f"  [dim]hint:[/] {escape(p.hint)}", soft_wrap=True)
