"""Draw results and errors: rich on a terminal, plain lines in CI logs, one JSON document with --json."""

from __future__ import annotations

import io
import json
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from .config import ConfigValue
from .embedded import ServerStatus
from .errors import MigrationFailed, Problem, ProblemsError, SqlmigError, done_verb, plural
from .migrations import label as migration_label
from .plan import Entry
from .results import (
    BaselineResult,
    DiffResult,
    DownResult,
    Event,
    MigrateResult,
    NewResult,
    RepairResult,
    RunItem,
    SeedResult,
    SeedTableResult,
    StatusResult,
    ValidateResult,
)

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
        for stream in (self.stdout, self.stderr):
            # A path whose bytes are not UTF-8 (a folder named in Latin-1) reaches Python as lone
            # surrogates, which a strict UTF-8 stream refuses with a traceback: print it escaped.
            if isinstance(stream, io.TextIOWrapper) and stream.errors == "strict":
                stream.reconfigure(errors="backslashreplace")
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
            yield self.notice  # on stderr: stdout holds the one JSON document
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
                verb = done_verb(event.direction)
                self.console.print(
                    f"[green]✓[/] {verb} {escape(_label(event.item))} [dim]({_ms(event.item.duration_ms)})[/]"
                )
                if task:
                    bar.advance(task[0])
            elif event.kind == "retry":
                self.console.print(f"[yellow]↻[/] {escape(event.message)}")
            else:
                self.notice(event)

        try:
            yield handle
        finally:
            bar.stop()

    def _plain_event(self, event: Event) -> None:
        if event.kind == "migration_done" and event.item:
            verb = done_verb(event.direction)
            self.line(f"{verb} {_label(event.item)} ({_ms(event.item.duration_ms)})")
        elif event.kind == "retry":
            self.line(event.message)
        else:
            self.notice(event)

    def notice(self, event: Event) -> None:
        """The events every mode tells on stderr: waits and warnings."""
        self.waiting(event)
        self.warning(event)

    def waiting(self, event: Event) -> None:
        """What a wait is waiting for (the server, sqlmig's lock), on stderr: said once when it
        starts; the reminders every few seconds only on a terminal, not in CI logs."""
        if event.kind != "waiting":
            return
        if event.extra.get("again") and not _isatty(self.stderr):
            return
        self.note(event.message)

    def warning(self, event: Event) -> None:
        """A `warning` event (a comment that looks like a marker but is not applied), on stderr before
        the run starts, in every mode: the run goes on, and a JSON document on stdout stays whole."""
        if event.kind != "warning":
            return
        where = event.extra.get("where")
        self.err_console.print(f"[yellow]warning:[/] {escape(f'{where}: ' if where else '')}{escape(event.message)}")
        hint = event.extra.get("hint")
        if hint:
            self.err_console.print(f"  [dim]hint:[/] {escape(str(hint))}")

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
        self._summary(f"applied {plural(n, 'migration')} in {_ms(total)}")

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
        self._summary(f"reverted {plural(n, 'migration')} in {_ms(total)}")

    def status(self, result: StatusResult) -> None:
        if self.json:
            self.document(
                {
                    "history_table": result.history_table,
                    "at_head": result.is_head,
                    "migrations": [_entry_json(e) for e in result.entries],
                    "warnings": [_problem_json(p) for p in result.warnings],
                    "running": result.running,
                }
            )
            return
        if result.running:  # what follows may change under it
            self.note(f"a sqlmig run is in progress (it holds the migration lock): {result.running}")
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
                    f"[{'yellow' if e.cosmetic_change else _STATE_STYLE.get(e.state, '')}]{escape(state)}[/]",
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
        for p in result.warnings:  # what each marked row means and what to do about it
            self._problem("note", p)

    def not_at_head(self, result: StatusResult) -> None:
        """Why `status --check` exits 3 (stderr; stdout keeps the status itself)."""
        counts: dict[str, int] = {}
        for e in result.entries:
            if e.state != "applied":
                counts[e.state] = counts.get(e.state, 0) + 1
        why = ", ".join(f"{n} {state}" for state, n in counts.items())
        self.err_console.print(f"[bold red]error:[/] not at head: {escape(why)}")

    def validate(self, result: ValidateResult) -> None:
        if self.json:
            self.document(
                {
                    "ok": result.ok,
                    "history_table": result.history_table,
                    "history_checked": result.history_checked,
                    "migrations": result.migrations,
                    "applied": result.applied,
                    "problems": [_problem_json(p) for p in result.problems],
                    "warnings": [_problem_json(p) for p in result.warnings],
                    "notes": [_problem_json(p) for p in result.notes],
                }
            )
        else:
            groups = (("problem", result.problems), ("warning", result.warnings), ("note", result.notes))
            for kind, items in groups:
                for p in items:
                    self._problem(kind, p)
            counted = ", ".join(plural(len(items), kind) for kind, items in groups)
            scope = f"{plural(result.migrations, 'migration')}"
            scope += f", {result.applied} applied" if result.history_checked else ", history not checked"
            verdict = "ok" if result.ok else "refused: `sqlmig migrate` would not run"
            self._summary(f"{verdict} ({counted}; {scope})")
        if not result.ok:
            n = len(result.problems)
            self.err_console.print(f"[bold red]error:[/] validation found {plural(n, 'blocking problem')}")

    def diff(self, result: DiffResult) -> None:
        if self.json:
            self.document(
                {
                    "version": result.version,
                    "name": result.name,
                    "state": result.state,
                    "file": str(result.file) if result.file else None,
                    "checksum": result.recorded_checksum,
                    "file_checksum": result.file_checksum,
                    "cosmetic_change": result.cosmetic_change,
                    "identical": result.identical,
                    "diff": result.diff,
                }
            )
            return
        if result.identical:
            self.note(f"migration {result.version}: the file on disk is the SQL that was applied")
            return
        if self.rich:
            for line in result.diff.splitlines():
                style = "bold" if line.startswith(("---", "+++")) else ""
                style = style or {"+": "green", "-": "red", "@": "cyan"}.get(line[:1], "")
                self.console.print(escape(line), style=style or None, soft_wrap=True)
        else:
            self.stdout.write(result.diff)
            self.stdout.flush()
        if result.cosmetic_change:
            self.note(f"migration {result.version}: only whitespace or comments differ (a cosmetic edit, not drift)")

    def repair(self, result: RepairResult) -> None:
        if self.json:
            self.document(
                {
                    "changes": [
                        {
                            "action": c.action,
                            "version": c.version,
                            "name": c.label,
                            "state_before": c.state_before,
                            "state_after": c.state_after,
                            "checksum_before": c.checksum_before,
                            "checksum_after": c.checksum_after,
                        }
                        for c in result.changes
                    ],
                    "skipped": [_problem_json(p) for p in result.skipped],
                    "dry_run": result.dry_run,
                }
            )
            return
        would = "would " if result.dry_run else ""
        for c in result.changes:
            if c.action == "accept":
                after = (c.checksum_after or "")[:12]
                self.line(
                    f"{would}accept {c.label}: checksum {c.checksum_before[:12]} -> {after}, "
                    "recorded SQL replaced by the file's text"
                    + (f" (was {c.state_before})" if c.state_before != "applied" else "")
                )
            elif c.action == "forget":
                self.line(
                    f"{would}forget {c.label}: delete its history row (was {c.state_before}); "
                    "its schema objects are not touched"
                )
            else:
                self.line(f"{would}resolve {c.label}: state failed -> applied, error cleared")
        for p in result.skipped:
            self.line(f"unchanged: {p.message}")
        if not result.changes:
            self._summary("nothing to repair: the history was not changed")
        elif not result.dry_run:
            self._summary(f"changed {plural(len(result.changes), 'history row')}")

    def baseline(self, result: BaselineResult) -> None:
        if self.json:
            self.document(
                {
                    "version": result.version,
                    "recorded": [
                        {"version": m.version, "name": m.name, "file": str(m.up.path), "checksum": m.checksum}
                        for m in result.recorded
                    ],
                    "dry_run": result.dry_run,
                }
            )
            return
        verb = "would record" if result.dry_run else "recorded"
        for m in result.recorded:
            self.line(f"{verb} {m.up.path.name.removesuffix('.up.sql')} as applied (not run)")
        if not result.dry_run:
            self._summary(
                f"baseline at {result.version}: {plural(len(result.recorded), 'migration')} recorded as applied "
                "without running; `sqlmig migrate` continues from here"
            )

    def _problem(self, kind: str, p: Problem) -> None:
        """One finding and its hint, on stdout: for status and validate they are the report itself."""
        style = {"problem": "bold red", "warning": "yellow", "note": "cyan"}.get(kind, "")
        if self.rich:
            where = f"{escape(p.where)}: " if p.where else ""
            self.console.print(f"[{style}]{kind}:[/] {where}{escape(p.message)}", soft_wrap=True)
            if p.hint:
                self.console.print(f"  [dim]hint:[/] {escape(p.hint)}", soft_wrap=True)
        else:
            self.line(f"{kind}: {p.where}: {p.message}" if p.where else f"{kind}: {p.message}")
            if p.hint:
                self.line(f"  hint: {p.hint}")

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

    def config(self, values: Sequence[ConfigValue], files: Sequence[Path]) -> None:
        if self.json:
            self.document(
                {
                    "settings": {v.key: {"value": v.value, "source": v.source} for v in values},
                    "files": [str(f) for f in files],
                }
            )
            return
        shown = [(v.key, _config_text(v.value), v.source) for v in values]
        if self.rich:
            from rich.table import Table

            table = Table(title="effective settings", title_justify="left")
            for col in ("setting", "value", "source"):
                table.add_column(col)
            for key, value, source in shown:
                table.add_row(key, escape(value), f"[dim]{escape(source)}[/]")
            self.console.print(table)
        else:
            kw = max(len(k) for k, _, _ in shown)
            vw = max(len(v) for _, v, _ in shown)
            for key, value, source in shown:
                self.line(f"{key:<{kw}}  {value:<{vw}}  {source}")
        self._summary("config files: " + (", ".join(str(f) for f in files) if files else "none"))

    def embedded_status(self, info: ServerStatus) -> None:
        if self.json:
            self.document(_embedded_json(info))
            return
        if info.running:
            self.line(f"running (pid {info.pid}, PostgreSQL {info.version}) with data in {info.pgdata}")
            self.line(f"url: {info.url}")
        elif info.initialized:
            self.line(f"stopped; data kept in {info.pgdata} (PostgreSQL {info.version})")
        else:
            self.line(f"not created yet; `sqlmig --database-url embedded migrate` creates it in {info.pgdata}")

    def embedded_url(self, url: str) -> None:
        if self.json:
            self.document({"url": url})
        else:
            self.line(url)

    def embedded_stopped(self, stopped: bool, info: ServerStatus) -> None:
        if self.json:
            self.document({"stopped": stopped, **_embedded_json(info)})
        elif stopped:
            self.line(f"stopped the embedded server; its data stays in {info.pgdata}")
        else:
            self.line("the embedded server is not running")

    @contextmanager
    def seed_progress(self) -> Iterator[Callable[[Event], None]]:
        """Events of `seed`: the migrations it runs first, then rows loaded per table (a bar on a terminal)."""
        if self.json:
            yield self.warning
            return
        if not self.rich:

            def plain(event: Event) -> None:
                if event.kind.startswith("seed_"):
                    return  # a table is seeded when the transaction commits: seed() names them then
                if event.kind == "migration_done" and event.item and event.extra.get("dry_run"):
                    self.line(f"would apply {_label(event.item)} ({event.item.path})")
                else:
                    self._plain_event(event)

            yield plain
            return
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("rows"),
            TimeElapsedColumn(),
            console=self.console,
            transient=True,
        )
        tasks: dict[int, Any] = {}

        def handle(event: Event) -> None:
            if event.kind == "migration_done" and event.item and event.extra.get("dry_run"):
                self.console.print(f"[yellow]·[/] would apply {escape(_label(event.item))}")
            elif event.kind == "migration_done" and event.item:
                self.console.print(
                    f"[green]✓[/] applied {escape(_label(event.item))} [dim]({_ms(event.item.duration_ms)})[/]"
                )
            elif event.kind == "seed_table_start":
                if not tasks:
                    bar.start()
                rows = event.extra.get("rows")
                tasks[event.index] = bar.add_task(escape(event.message), total=rows if isinstance(rows, int) else None)
            elif event.kind == "seed_rows" and event.index in tasks:
                done = event.extra.get("done")
                bar.update(tasks[event.index], completed=done if isinstance(done, int) else 0)
            elif event.kind == "seed_table_done" and event.index in tasks:
                bar.update(tasks[event.index], visible=False)
            else:
                self.warning(event)

        try:
            yield handle
        finally:
            bar.stop()

    def seed(self, result: SeedResult) -> None:
        if self.json:
            self.document(
                {
                    "tables": [
                        {"table": t.table, "inserted": t.inserted, "skipped": t.skipped, "updated": t.updated}
                        for t in result.tables
                    ],
                    "migrations_applied": len(result.migrations),
                    "dry_run": result.dry_run,
                }
            )
            return
        if not result.tables:
            self.line(f"nothing to seed: {result.file} lists no tables")
            return
        for table in result.tables:  # only now: until the commit, a later table could still undo them all
            text = _seeded(table, result.dry_run)
            if self.rich:
                self.console.print(f"[green]✓[/] {escape(text)}")
            else:
                self.line(text)
        inserted = sum(t.inserted for t in result.tables)
        skipped = sum(t.skipped for t in result.tables)
        updated = sum(t.updated for t in result.tables)
        n = len(result.tables)
        counts = f"{inserted} inserted, {skipped} skipped, {updated} updated"
        if result.dry_run:
            m = len(result.migrations)
            first = f"{plural(m, 'migration')} would be applied, then " if m else ""
            self._summary(f"dry run: {first}{plural(n, 'table')} would get {counts}; nothing was written")
        else:
            self._summary(f"seeded {plural(n, 'table')} from {result.file}: {counts} in {_ms(result.duration_ms)}")

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


def _config_text(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return f"{value:g}" if isinstance(value, float) else str(value)


def _embedded_json(info: ServerStatus) -> dict[str, Any]:
    return {
        "running": info.running,
        "initialized": info.initialized,
        "pgdata": str(info.pgdata),
        "pid": info.pid,
        "version": info.version,
        "url": info.url,
    }


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
    return migration_label(item.version, item.name, item.path)


def _ms(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.0f} ms" if value < 10_000 else f"{value / 1000:.1f} s"


def _seeded(result: SeedTableResult, dry_run: bool) -> str:
    counts = f"{result.inserted} inserted, {result.skipped} skipped, {result.updated} updated"
    if dry_run:
        return f"would seed {result.table}: {counts}"
    return f"seeded {result.table}: {counts} ({_ms(result.duration_ms)})"


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


def _problem_json(p: Problem) -> dict[str, Any]:
    return {"where": p.where, "message": p.message, "hint": p.hint or None}


def _json_default(value: object) -> object:
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)
