"""The `sqlmig` command: parse arguments, call the API, hand results to the renderer, map exit codes."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from typer.core import TyperGroup

from . import __version__
from .errors import EXIT_INTERRUPTED, SqlmigError

if TYPE_CHECKING:
    from .api import Migrator
    from .render import Output

T = TypeVar("T")

# Options accepted before AND after the command name; the value says whether it takes an argument.
GLOBAL_OPTIONS: dict[str, bool] = {
    "--database-url": True,
    "--dir": True,
    "--json": False,
    "--verbose": False,
    "-v": False,
    "--no-color": False,
    "--wait": True,
    "--lock-wait": True,
}


class _GlobalOptionsGroup(TyperGroup):
    """Moves global options written after the command name in front of it, so both places work."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        return super().parse_args(ctx, hoist_global_options(args, set(self.commands)))

    def list_commands(self, ctx: Any) -> list[str]:
        return list(self.commands)  # the order they are defined in, not alphabetical


def hoist_global_options(args: list[str], commands: set[str]) -> list[str]:
    """['migrate', '--json'] -> ['--json', 'migrate']; stops at '--'."""
    head: list[str] = []
    i = 0
    while i < len(args) and args[i] not in commands:
        if args[i] == "--":
            return args
        head.append(args[i])
        i += 1
    if i == len(args):
        return args
    moved: list[str] = []
    rest: list[str] = [args[i]]
    i += 1
    while i < len(args):
        arg = args[i]
        if arg == "--":
            rest.extend(args[i:])
            break
        name = arg.split("=", 1)[0]
        if name in GLOBAL_OPTIONS:
            moved.append(arg)
            if GLOBAL_OPTIONS[name] and "=" not in arg and i + 1 < len(args):
                moved.append(args[i + 1])
                i += 1
        else:
            rest.append(arg)
        i += 1
    return head + moved + rest


app = typer.Typer(
    cls=_GlobalOptionsGroup,
    name="sqlmig",
    help="Raw-SQL, file-based migrations for PostgreSQL.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


@dataclass
class State:
    """What the global options said; each command turns it into Settings and an Output."""

    flags: dict[str, Any] = field(default_factory=dict)
    json: bool = False
    verbose: bool = False
    color: bool = True

    def output(self) -> Output:
        from .render import Output

        return Output(json=self.json, color=self.color)

    def migrator(self, **flags: Any) -> Migrator:
        from .api import Migrator
        from .config import load_config_files, resolve

        merged = {**self.flags, **{k: v for k, v in flags.items() if v is not None}}
        settings = resolve(merged, os.environ, load_config_files(Path.cwd()))
        return Migrator(settings=settings)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"sqlmig {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    ctx: typer.Context,
    database_url: Annotated[
        str | None,
        typer.Option(
            "--database-url",
            metavar="URL",
            help="PostgreSQL URL, or 'embedded' [env: SQLMIG_DATABASE_URL, DATABASE_URL]",
        ),
    ] = None,
    dir: Annotated[
        list[Path] | None,
        typer.Option("--dir", metavar="PATH", help="migration directory (repeatable) [env: SQLMIG_DIR; default: sql]"),
    ] = None,
    json_output: Annotated[bool, typer.Option("--json", help="one JSON document on stdout")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="log statements and timings to stderr")] = False,
    no_color: Annotated[bool, typer.Option("--no-color", help="no colours (also NO_COLOR=1)")] = False,
    wait: Annotated[
        float | None,
        typer.Option("--wait", metavar="SECONDS", help="seconds to wait for the database to accept connections"),
    ] = None,
    lock_wait: Annotated[
        float | None,
        typer.Option("--lock-wait", metavar="SECONDS", help="seconds to wait for another sqlmig run's lock"),
    ] = None,
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="print the version and exit"),
    ] = False,
) -> None:
    """Raw-SQL, file-based migrations for PostgreSQL. Global options go before or after the command."""
    ctx.obj = State(
        flags={
            "database_url": database_url,
            "dirs": [str(d) for d in dir] if dir else None,
            "wait": wait,
            "lock_wait": lock_wait,
        },
        json=json_output,
        verbose=verbose,
        color=not no_color and not os.environ.get("NO_COLOR"),
    )
    if verbose:
        import logging  # only here: every command, --help included, would pay for importing it

        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s", stream=sys.stderr)


def _state(ctx: typer.Context) -> State:
    state = ctx.obj
    return state if isinstance(state, State) else State()


def _run(ctx: typer.Context, action: Callable[[State, Output], None]) -> None:
    """Run a command; every SqlmigError becomes its message and exit code, never a traceback."""
    state = _state(ctx)
    out = state.output()
    try:
        action(state, out)
    except SqlmigError as exc:
        out.error(exc)
        if state.verbose:
            import logging

            logging.getLogger("sqlmig").exception("traceback")
        raise typer.Exit(exc.exit_code) from None
    except KeyboardInterrupt:
        out.note("interrupted")
        raise typer.Exit(EXIT_INTERRUPTED) from None


@app.command()
def migrate(
    ctx: typer.Context,
    to: Annotated[int | None, typer.Option("--to", help="apply up to and including this version")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="show what would run; change nothing")] = False,
    allow_out_of_order: Annotated[
        bool,
        typer.Option(
            "--allow-out-of-order",
            help="also apply pending migrations older than the newest applied",
        ),
    ] = False,
) -> None:
    """Apply pending migrations in version order, each in its own transaction."""

    def action(state: State, out: Output) -> None:
        with out.progress() as on_event:
            m = state.migrator()
            m.on_event = on_event
            result = m.migrate(to=to, dry_run=dry_run, allow_out_of_order=allow_out_of_order)
        out.migrate(result)

    _run(ctx, action)


def _down(
    ctx: typer.Context,
    steps: Annotated[int | None, typer.Option("--steps", help="revert the last N applied migrations")] = None,
    to: Annotated[int | None, typer.Option("--to", help="revert every applied migration above this version")] = None,
    all_: Annotated[bool, typer.Option("--all", help="revert every applied migration")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="show what would be reverted; change nothing")] = False,
) -> None:
    """Revert applied migrations, newest applied first (default: the last one)."""

    def action(state: State, out: Output) -> None:
        with out.progress() as on_event:
            m = state.migrator()
            m.on_event = on_event
            result = m.down(steps=steps, to=to, all=all_, dry_run=dry_run)
        out.down(result)

    _run(ctx, action)


app.command("down")(_down)
app.command("revert", help="Same as `down` (the word Medusa users know).")(_down)


@app.command()
def status(ctx: typer.Context) -> None:
    """Show every migration on disk or in the history, with its state."""

    def action(state: State, out: Output) -> None:
        out.status(state.migrator().status())

    _run(ctx, action)


@app.command()
def new(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="snake_case name, e.g. add_customer_email")],
    into: Annotated[
        Path | None,
        typer.Option("--into", metavar="DIR", help="directory to write into (default: the first --dir)"),
    ] = None,
) -> None:
    """Create the next numbered up/down pair."""

    def action(state: State, out: Output) -> None:
        out.new(state.migrator().new(name, into=into))

    _run(ctx, action)


def main() -> None:
    """Console-script entry point."""
    app()
