"""The `sqlmig` command: parse arguments, call the API, hand results to the renderer, map exit codes."""

# No `from __future__ import annotations` here: Typer would then eval every option's annotation string
# at start-up (~11 ms, a tenth of a no-op run); names imported only for type checking are quoted instead.
import gc
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from typer.core import TyperGroup

from . import __version__
from .errors import EXIT_INTERRUPTED, EXIT_REFUSED, ConfigError, SqlmigError

if TYPE_CHECKING:
    from .api import Migrator
    from .config import Settings
    from .render import Renderer

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
        if arg == "--" or (arg == "psql" and rest == ["embedded"]):
            rest.extend(args[i:])  # after `embedded psql` every option is psql's own (-v, -c, ...)
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
class GlobalOptions:
    """What the global options said; each command turns it into Settings and a renderer."""

    flags: dict[str, Any] = field(default_factory=dict)
    json: bool = False
    verbose: bool = False
    color: bool = True

    renderer: "Renderer | None" = None

    def output(self) -> "Renderer":
        """The command's renderer (JSON, rich or plain lines), chosen once, on first use."""
        if self.renderer is None:
            from .render import choose

            self.renderer = choose(json=self.json, color=self.color)
        return self.renderer

    def settings(self, **flags: Any) -> "Settings":
        from .config import load_config_files, resolve

        merged = {**self.flags, **{k: v for k, v in flags.items() if v is not None}}
        return resolve(merged, os.environ, load_config_files(Path.cwd()))

    def migrator(self, **flags: Any) -> "Migrator":
        """A Migrator whose waits (for the server, for the lock) and warnings are told on stderr;
        commands with progress replace on_event with a handler that tells them too."""
        from .api import Migrator

        return Migrator(settings=self.settings(**flags), on_event=self.output().notice)


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
    dirs: Annotated[
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
    embedded_version: Annotated[
        int | None,
        typer.Option(
            "--embedded-version",
            metavar="N",
            help="PostgreSQL major version of a new embedded server [env: SQLMIG_EMBEDDED_VERSION; default: 17]",
        ),
    ] = None,
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="print the version and exit"),
    ] = False,
) -> None:
    """Raw-SQL, file-based migrations for PostgreSQL. Global options go before or after the command."""
    ctx.obj = GlobalOptions(
        flags={
            "database_url": database_url,
            "dirs": [str(d) for d in dirs] if dirs else None,
            "wait": wait,
            "lock_wait": lock_wait,
            "embedded_version": embedded_version,
        },
        json=json_output,
        verbose=verbose,
        color=not no_color and not os.environ.get("NO_COLOR"),
    )
    if verbose:
        ctx.call_on_close(_log_to_stderr())


def _log_to_stderr() -> Callable[[], None]:
    """--verbose: sqlmig's log (every statement batch with its duration) on stderr; returns the undo."""
    import logging  # only here: --help and every other command would pay for importing it

    logger = logging.getLogger("sqlmig")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s: %(message)s"))
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)

    def undo() -> None:
        logger.removeHandler(handler)
        logger.setLevel(level)

    return undo


def _options(ctx: typer.Context) -> GlobalOptions:
    opts = ctx.obj
    return opts if isinstance(opts, GlobalOptions) else GlobalOptions()


def _invoke(ctx: typer.Context, action: Callable[[GlobalOptions, "Renderer"], None]) -> None:
    """Run a command; every SqlmigError becomes its message and exit code, never a traceback."""
    opts = _options(ctx)
    out = opts.output()
    try:
        action(opts, out)
    except SqlmigError as exc:
        out.error(exc)
        if opts.verbose:
            import logging

            logging.getLogger("sqlmig").exception("traceback")
        raise typer.Exit(exc.exit_code) from None
    except KeyboardInterrupt:
        out.note("interrupted")
        raise typer.Exit(EXIT_INTERRUPTED) from None


# Options that migrate and down share.
LockTimeout = Annotated[
    str | None,
    typer.Option("--lock-timeout", metavar="DURATION", help="SET LOCAL lock_timeout per migration (200ms, 5s)"),
]
StatementTimeout = Annotated[
    str | None,
    typer.Option("--statement-timeout", metavar="DURATION", help="SET LOCAL statement_timeout per migration"),
]
LockRetries = Annotated[
    int | None, typer.Option("--lock-retries", metavar="N", help="retry a migration that hit lock_timeout N times")
]
SingleTransaction = Annotated[
    bool,
    typer.Option("--single-transaction", help="run every selected migration in one transaction: all or nothing"),
]
PrintSql = Annotated[
    bool,
    typer.Option(
        "--print-sql",
        help="print the SQL it would send, as one psql script (psql -X -v ON_ERROR_STOP=1 -f); runs nothing, "
        "only reads the database",
    ),
]
ScratchUrl = Annotated[
    str | None,
    typer.Option(
        "--scratch-url",
        metavar="URL",
        help="server where sqlmig may create a scratch database: 'embedded' (default), "
        "'same' (the target's server, under another database name) or a URL",
    ),
]


@app.command()
def migrate(
    ctx: typer.Context,
    to: Annotated[
        int | None, typer.Option("--to", metavar="VERSION", help="apply up to and including this version")
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="show what would run; change nothing")] = False,
    lock_timeout: LockTimeout = None,
    statement_timeout: StatementTimeout = None,
    lock_retries: LockRetries = None,
    single_transaction: SingleTransaction = False,
    allow_out_of_order: Annotated[
        bool,
        typer.Option(
            "--allow-out-of-order",
            help="also apply pending migrations older than the newest applied",
        ),
    ] = False,
    execute: Annotated[
        bool,
        typer.Option(
            "--execute",
            help="with --dry-run: run the pending files in a transaction that is rolled back, and report "
            "failures and durations",
        ),
    ] = False,
    print_sql: PrintSql = False,
    from_empty: Annotated[
        bool,
        typer.Option("--from-empty", help="with --print-sql: every migration, onto an empty database; no connection"),
    ] = False,
    allow_existing: Annotated[
        bool,
        typer.Option(
            "--allow-existing",
            help="run on a database that has tables but no history table (refused by default: "
            "`sqlmig baseline` adopts such a database)",
        ),
    ] = False,
) -> None:
    """Apply pending migrations in version order, each in its own transaction."""

    def action(opts: GlobalOptions, out: "Renderer") -> None:
        if from_empty and not print_sql:
            raise ConfigError("--from-empty goes with --print-sql", hint="`sqlmig migrate --print-sql --from-empty`")
        if print_sql and (execute or dry_run):
            raise ConfigError(
                "--print-sql runs nothing: it does not go with --dry-run or --execute",
                hint="`sqlmig migrate --print-sql > migrate.sql` to review the SQL; "
                "`sqlmig migrate --dry-run --execute` to try it in a transaction that is rolled back",
            )
        if print_sql:
            m = opts.migrator(lock_timeout=lock_timeout, statement_timeout=statement_timeout)
            out.sql_script(
                m.migrate_script(
                    to=to,
                    allow_out_of_order=allow_out_of_order,
                    single_transaction=single_transaction,
                    from_empty=from_empty,
                    allow_existing=allow_existing,
                )
            )
            return
        with out.progress() as on_event:
            m = opts.migrator(lock_timeout=lock_timeout, statement_timeout=statement_timeout, lock_retries=lock_retries)
            m.on_event = on_event
            result = m.migrate(
                to=to,
                dry_run=dry_run,
                allow_out_of_order=allow_out_of_order,
                single_transaction=single_transaction,
                execute=execute,
                allow_existing=allow_existing,
            )
        out.migrate(result)

    _invoke(ctx, action)


def _down(
    ctx: typer.Context,
    steps: Annotated[
        int | None, typer.Option("--steps", metavar="N", help="revert the last N applied migrations")
    ] = None,
    to: Annotated[
        int | None, typer.Option("--to", metavar="VERSION", help="revert every applied migration above this version")
    ] = None,
    all_applied: Annotated[bool, typer.Option("--all", help="revert every applied migration")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="show what would be reverted; change nothing")] = False,
    lock_timeout: LockTimeout = None,
    statement_timeout: StatementTimeout = None,
    lock_retries: LockRetries = None,
    single_transaction: SingleTransaction = False,
    use_recorded: Annotated[
        bool,
        typer.Option(
            "--use-recorded",
            help="revert applied migrations whose files are gone (after a code rollback) with the down SQL "
            "recorded when they were applied",
        ),
    ] = False,
    print_sql: PrintSql = False,
) -> None:
    """Revert applied migrations, newest applied first (default: the last one)."""

    def action(opts: GlobalOptions, out: "Renderer") -> None:
        if print_sql and dry_run:
            raise ConfigError("--print-sql runs nothing: it does not go with --dry-run")
        if print_sql:
            m = opts.migrator(lock_timeout=lock_timeout, statement_timeout=statement_timeout)
            out.sql_script(
                m.down_script(
                    steps=steps,
                    to=to,
                    all_applied=all_applied,
                    single_transaction=single_transaction,
                    use_recorded=use_recorded,
                )
            )
            return
        with out.progress() as on_event:
            m = opts.migrator(lock_timeout=lock_timeout, statement_timeout=statement_timeout, lock_retries=lock_retries)
            m.on_event = on_event
            result = m.down(
                steps=steps,
                to=to,
                all_applied=all_applied,
                dry_run=dry_run,
                single_transaction=single_transaction,
                use_recorded=use_recorded,
            )
        out.down(result)

    _invoke(ctx, action)


app.command("down")(_down)
app.command("revert", help="Same as `down` (the word Medusa users know).")(_down)


@app.command()
def status(
    ctx: typer.Context,
    check: Annotated[
        bool,
        typer.Option("--check", help="exit 3 unless the database is exactly at the head of the directory"),
    ] = False,
) -> None:
    """Show every migration on disk or in the history, with its state."""

    def action(opts: GlobalOptions, out: "Renderer") -> None:
        result = opts.migrator().status()
        out.status(result)
        if check and not result.is_head:
            out.not_at_head(result)
            raise typer.Exit(EXIT_REFUSED)

    _invoke(ctx, action)


@app.command()
def verify(
    ctx: typer.Context,
    all_migrations: Annotated[
        bool, typer.Option("--all", help="every migration from an empty database (default: the pending ones)")
    ] = False,
    first: Annotated[int | None, typer.Option("--from", metavar="VERSION", help="verify from this version on")] = None,
    last: Annotated[int | None, typer.Option("--to", metavar="VERSION", help="verify up to this version")] = None,
    scratch_url: ScratchUrl = None,
    strict: Annotated[bool, typer.Option("--strict", help="an empty down (irreversible) fails too")] = False,
) -> None:
    """Prove each down undoes its up, on a scratch database; the target is never written.

    For each migration: up, down, up again, comparing the catalog after each with the one before.
    Verdicts: ok, cosmetic (column order, generated names), differs (each difference listed),
    up/down/re-up fails (file:line:column), irreversible (empty down). Shows the statements that
    lock existing tables ACCESS EXCLUSIVE or rewrite them. Exit 3 unless each is ok, cosmetic or (without
    --strict) irreversible.
    """

    def action(opts: GlobalOptions, out: "Renderer") -> None:
        with out.verify_progress() as on_event:
            m = opts.migrator(scratch_url=scratch_url)
            m.on_event = on_event
            result = m.verify(all_migrations=all_migrations, first=first, last=last, strict=strict)
        out.verify(result)
        if not result.ok:
            raise typer.Exit(EXIT_REFUSED)

    _invoke(ctx, action)


@app.command()
def drift(ctx: typer.Context, scratch_url: ScratchUrl = None) -> None:
    """Compare the live schema with the one the applied migrations build (on a scratch database).

    Lists what was added, changed or dropped by hand; the target is only read. Exit 3 on drift.
    """

    def action(opts: GlobalOptions, out: "Renderer") -> None:
        result = opts.migrator(scratch_url=scratch_url).drift()
        out.drift(result)
        if not result.ok:
            raise typer.Exit(EXIT_REFUSED)

    _invoke(ctx, action)


@app.command()
def dump(
    ctx: typer.Context,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output", "-o", metavar="FILE", help="write to FILE (default: the schema_file setting, else stdout)"
        ),
    ] = None,
) -> None:
    """Write the schema as stable, sorted DDL text, for code review; only reads the database.

    The same schema gives the same bytes, whatever the server version.
    """

    def action(opts: GlobalOptions, out: "Renderer") -> None:
        out.dump(opts.migrator().dump(output))

    _invoke(ctx, action)


@app.command()
def lint(
    ctx: typer.Context,
    paths: Annotated[
        list[Path] | None, typer.Argument(metavar="[PATH]...", help="lint exactly these files (with --files)")
    ] = None,
    files: Annotated[
        bool, typer.Option("--files", help="lint the PATHs given (e.g. the files a pull request changed)")
    ] = False,
    output_format: Annotated[
        str, typer.Option("--format", metavar="FORMAT", help="text (default), json, or github (workflow annotations)")
    ] = "text",
    fail_on: Annotated[
        str, typer.Option("--fail-on", metavar="SEVERITY", help="exit 3 on a finding at warning, or error (default)")
    ] = "error",
    rules: Annotated[bool, typer.Option("--rules", help="list the rules and exit")] = False,
) -> None:
    """Find statements that lock, rewrite or break a busy database, before anything runs.

    With a database URL: the pending files (and their downs), graded by the tables' real sizes;
    without: every file, each on its own. A table created above (or by an earlier file of the set)
    is new and gets no lock finding. Each finding: file:line:column, code, what happens, the safe
    way. Waive one next to its statement: `-- sqlmig:allow SM101 reason`. Exit 3 on a finding at
    --fail-on or above.
    """
    github = output_format == "github" and not _options(ctx).json
    _options(ctx).json = _options(ctx).json or output_format == "json"

    def action(opts: GlobalOptions, out: "Renderer") -> None:
        from .errors import ConfigError

        if output_format not in ("text", "json", "github"):
            raise ConfigError(f"--format {output_format!r}: expected text, json or github")
        if fail_on not in ("warning", "error"):
            raise ConfigError(f"--fail-on {fail_on!r}: expected warning or error")
        if output_format == "github" and opts.json:
            raise ConfigError("--json and --format github: choose one")
        if paths and not files:
            raise ConfigError(f"{paths[0]}: lint takes paths only after --files", hint="sqlmig lint --files PATH...")
        if rules:
            from .lint.rules import RULES

            out.lint_rules(RULES)
            return
        if files and not paths:
            out.note("lint --files: no files given, nothing to lint")
            return
        result = opts.migrator().lint(files=paths if files else None, fail_on=fail_on)
        from .render.plain import PlainRenderer

        if github and isinstance(out, PlainRenderer):
            out.lint_github(result)
        else:
            out.lint(result)
        if not result.ok:
            raise typer.Exit(EXIT_REFUSED)

    _invoke(ctx, action)


@app.command()
def validate(
    ctx: typer.Context,
    files_only: Annotated[
        bool,
        typer.Option("--files-only", help="check the directory and files only; no database needed"),
    ] = False,
) -> None:
    """Run every discovery, file and history check; change nothing. Exit 3 on a blocking problem."""

    def action(opts: GlobalOptions, out: "Renderer") -> None:
        result = opts.migrator().validate(files_only=files_only)
        out.validate(result)
        if not result.ok:
            raise typer.Exit(EXIT_REFUSED)

    _invoke(ctx, action)


@app.command()
def diff(
    ctx: typer.Context,
    version: Annotated[int, typer.Argument(help="an applied migration's version")],
) -> None:
    """Show a unified diff from the SQL that was applied to the up file on disk now."""

    def action(opts: GlobalOptions, out: "Renderer") -> None:
        out.diff(opts.migrator().diff(version))

    _invoke(ctx, action)


@app.command()
def repair(
    ctx: typer.Context,
    accept: Annotated[
        list[int] | None,
        typer.Option("--accept", metavar="VERSION", help="record an edited file's checksum and SQL (repeatable)"),
    ] = None,
    accept_all: Annotated[bool, typer.Option("--accept-all", help="--accept every edited applied file")] = False,
    forget: Annotated[
        list[int] | None,
        typer.Option(
            "--forget",
            metavar="VERSION",
            help="delete the history row of a missing or failed migration; schema objects stay (repeatable)",
        ),
    ] = None,
    resolve: Annotated[
        list[int] | None,
        typer.Option("--resolve", metavar="VERSION", help="mark a failed migration applied (repeatable)"),
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="show what would change; change nothing")] = False,
) -> None:
    """Change history rows named on the command line, after review; never the schema."""

    def action(opts: GlobalOptions, out: "Renderer") -> None:
        result = opts.migrator().repair(
            accept=accept or (), accept_all=accept_all, forget=forget or (), resolve=resolve or (), dry_run=dry_run
        )
        out.repair(result)

    _invoke(ctx, action)


@app.command()
def baseline(
    ctx: typer.Context,
    version: Annotated[int, typer.Argument(help="the last migration the database already contains")],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="show what would be recorded; change nothing")] = False,
    extend: Annotated[
        bool,
        typer.Option("--extend", help="the history records some already: record the ones up to VERSION it lacks"),
    ] = False,
    check: Annotated[
        bool,
        typer.Option(
            "--check",
            help="first compare the database's schema with the one the migrations up to VERSION build "
            "(on a scratch database, as verify does); refuse on a difference",
        ),
    ] = False,
    scratch_url: ScratchUrl = None,
) -> None:
    """Adopt an existing database: record migrations up to VERSION as applied without running them."""

    def action(opts: GlobalOptions, out: "Renderer") -> None:
        m = opts.migrator(scratch_url=scratch_url)
        out.baseline(m.baseline(version, dry_run=dry_run, extend=extend, check=check))

    _invoke(ctx, action)


@app.command()
def new(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="snake_case name, e.g. add_customer_email")],
    into: Annotated[
        Path | None,
        typer.Option("--into", metavar="DIR", help="directory to write into (default: the first --dir)"),
    ] = None,
    timestamp: Annotated[
        bool | None,
        typer.Option(
            "--timestamp/--sequential",
            help="version the pair by the UTC time (YYYYMMDDHHMMSS) or as highest + 1 "
            "(default: the version_scheme setting, sequential)",
        ),
    ] = None,
) -> None:
    """Create the next numbered up/down pair, and list it in sqlmig.sum."""

    def action(opts: GlobalOptions, out: "Renderer") -> None:
        out.new(opts.migrator().new(name, into=into, timestamp=timestamp))

    _invoke(ctx, action)


@app.command()
def renumber(
    ctx: typer.Context,
    old: Annotated[str, typer.Argument(metavar="OLD", help="the version to move, or VERSION_NAME when two share it")],
    new: Annotated[int, typer.Argument(metavar="NEW", help="its new version")],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="show the renames; change nothing")] = False,
) -> None:
    """Move a pair no database has applied to another version (after two branches took the same one).

    Renames both files and moves its line in sqlmig.sum. With a database URL, refused when the
    history records that pair (or the new version); without one, no history is checked, and it says so.
    """

    def action(opts: GlobalOptions, out: "Renderer") -> None:
        out.renumber(opts.migrator().renumber(old, new, dry_run=dry_run))

    _invoke(ctx, action)


@app.command("sum")
def sum_command(ctx: typer.Context) -> None:
    """Write sqlmig.sum, the list of every migration in order, from the folder as it is.

    After resolving a merge conflict in it, after adding a pair by hand, or after an edit made on
    purpose. `validate` and `migrate` check the list against the folder when it exists.
    """

    def action(opts: GlobalOptions, out: "Renderer") -> None:
        out.sum(opts.migrator().sum())

    _invoke(ctx, action)


@app.command("config")
def config_command(ctx: typer.Context) -> None:
    """Show each effective setting and where it came from (flag, environment, file, default)."""

    def action(opts: GlobalOptions, out: "Renderer") -> None:
        from .config import effective, load_config_files

        settings = opts.settings()
        out.config(effective(settings), [f.path for f in load_config_files(Path.cwd())])

    _invoke(ctx, action)


embedded_app = typer.Typer(
    name="embedded",
    help="Manage the local PostgreSQL that `--database-url embedded` starts under .sqlmig/pgdata.",
    no_args_is_help=True,
    rich_markup_mode=None,
)
app.add_typer(embedded_app)


@embedded_app.command("status")
def embedded_status(ctx: typer.Context) -> None:
    """Whether the embedded server runs, its data directory, version and URL (starts nothing)."""

    def action(opts: GlobalOptions, out: "Renderer") -> None:
        from . import embedded

        settings = opts.settings()
        out.embedded_status(embedded.status(settings.embedded_dir, settings.embedded_version))

    _invoke(ctx, action)


@embedded_app.command("url")
def embedded_url(ctx: typer.Context) -> None:
    """Start (or reuse) the embedded server and print its URL, e.g. for psql "$(sqlmig embedded url)"."""

    def action(opts: GlobalOptions, out: "Renderer") -> None:
        from . import embedded

        settings = opts.settings()
        out.embedded_url(
            embedded.ensure_running(settings.embedded_dir, settings.embedded_version, settings.embedded_port)
        )

    _invoke(ctx, action)


@embedded_app.command("stop")
def embedded_stop(ctx: typer.Context) -> None:
    """Stop the embedded server; its data stays in .sqlmig/pgdata for next time."""

    def action(opts: GlobalOptions, out: "Renderer") -> None:
        from . import embedded

        data_dir = opts.settings().embedded_dir
        out.embedded_stopped(embedded.stop(data_dir), embedded.status(data_dir))

    _invoke(ctx, action)


@embedded_app.command(
    "psql",
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
)
def embedded_psql(
    ctx: typer.Context,
    args: Annotated[list[str] | None, typer.Argument(help="passed to psql, e.g. -c 'TABLE sqlmig_migrations'")] = None,
) -> None:
    """Run the bundled psql against the embedded server (started if needed)."""

    def action(opts: GlobalOptions, out: "Renderer") -> None:
        from . import embedded
        from .errors import ConfigError

        if opts.json:
            raise ConfigError("psql is interactive and has no JSON output", hint="`sqlmig embedded url --json`")
        settings = opts.settings()
        argv = embedded.psql_argv(
            settings.embedded_dir, [*(args or []), *ctx.args], settings.embedded_version, settings.embedded_port
        )
        sys.stdout.flush()
        sys.stderr.flush()
        os.execv(argv[0], argv)  # psql takes over the terminal; its exit code is ours

    _invoke(ctx, action)


@app.command()
def seed(
    ctx: typer.Context,
    file: Annotated[
        Path | None,
        typer.Option("--file", metavar="PATH", help="seed file [env: SQLMIG_SEED_FILE; default: data/seed.json]"),
    ] = None,
    no_migrate: Annotated[bool, typer.Option("--no-migrate", help="do not run pending migrations first")] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="check and load in a transaction that is rolled back; keep nothing")
    ] = False,
    print_schema: Annotated[
        bool, typer.Option("--print-schema", help="print the seed file's JSON Schema and exit")
    ] = False,
) -> None:
    """Run pending migrations, then load the seed file (JSON) in one transaction."""

    def action(opts: GlobalOptions, out: "Renderer") -> None:
        if print_schema:
            from .seed.schema import schema_text

            out.line(schema_text().rstrip("\n"))
            return
        with out.seed_progress() as on_event:
            m = opts.migrator(seed_file=str(file) if file is not None else None)
            m.on_event = on_event
            result = m.seed(migrate=not no_migrate, dry_run=dry_run)
        out.seed(result)

    _invoke(ctx, action)


def main() -> None:
    """Console-script entry point."""
    # A command lives for a fraction of a second and makes few reference cycles, so the cyclic GC
    # runs rarely: its passes over every imported object (psycopg, typer, ...) and the final one at
    # exit cost a fifth of a no-op `migrate` of 1000 files. Frozen objects are skipped at exit.
    gc.set_threshold(10_000, 10, 10)
    try:
        app()
    finally:
        gc.freeze()
