"""The library façade: every command as a method returning result records; never prints."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from . import history_checks, repair, results
from .config import EMBEDDED, Settings, load_config_files, resolve
from .errors import (
    ConfigError,
    DiscoveryError,
    HistoryError,
    Interrupted,
    Problem,
    RefusedError,
    SeedFailed,
    WriteFailed,
    plural,
)
from .events import EventHandler, FileWarning, RecordedDownUsed, RunStarted, Waiting
from .migrations import Migration, SqlFile, discover, next_version_name, scan
from .migrations import shown as shown_path
from .plan import Entry, MigrationState, Plan, build_plan, with_recorded_down
from .runner import Runner, step_of
from .writes import rename_all, replace_file, write_new

if TYPE_CHECKING:  # psycopg is imported lazily: --help and `new` must not pay for it
    from .db.connect import Conn
    from .db.session import Session
    from .lint.run import Target
    from .snapshot import Snapshot


class Migrator:
    """Migrations of one database from one set of directories.

    Settings not given are resolved like the CLI resolves them: environment (SQLMIG_*,
    DATABASE_URL), sqlmig.toml, [tool.sqlmig] in pyproject.toml, defaults.
    """

    def __init__(
        self,
        database_url: str | None = None,
        *,
        dirs: Sequence[str | Path] | None = None,
        settings: Settings | None = None,
        on_event: EventHandler | None = None,
        **overrides: object,
    ) -> None:
        if settings is None:
            flags: dict[str, object] = dict(overrides)
            flags["database_url"] = database_url
            flags["dirs"] = [str(d) for d in dirs] if dirs else None
            settings = resolve(flags, os.environ, load_config_files(Path.cwd()))
        elif database_url is not None or dirs:
            settings = replace(
                settings,
                database_url=database_url or settings.database_url,
                dirs=tuple(Path(d) for d in dirs) if dirs else settings.dirs,
            )
        self.settings = settings
        self.on_event = on_event

    # ---- read-only -------------------------------------------------------------------------

    def discover(self) -> list[Migration]:
        return discover(self.settings.dirs)

    def status(self) -> results.StatusResult:
        """Every migration on disk or in the history, with its state; creates nothing."""
        migrations = self.discover()
        from .db import lock

        with self._connect() as conn:
            plan = self._plan(conn, migrations)
            warnings = history_checks.status_warnings(plan) + self._catalog_warnings(conn, plan)
            running = lock.holder(conn, lock.lock_key(self.settings.history_schema, self.settings.history_table))
        return results.StatusResult(plan.entries, self.settings.history_name, warnings=tuple(warnings), running=running)

    def validate(self, *, files_only: bool = False) -> results.ValidateResult:
        """Every discovery, file and history check migrate makes, without changing anything.

        Works with no history table and with a read-only role. `files_only` skips the database.
        """
        from . import file_checks

        found = scan(self.settings.dirs)
        migrations = found.migrations
        # every problem at once: the directory's, then the contents of each file it could read
        problems = found.problems + file_checks.files_problems(found.files)
        # a broken folder (two pairs with one version) is checked against the list's own state only:
        # its conflict markers say why
        listed_problems, listed_warnings = self._sum_problems(migrations, listing_only=bool(found.problems))
        problems += listed_problems
        warnings = listed_warnings + file_checks.marker_warnings(found.files)
        applied = 0
        check_history = not files_only and not found.problems  # a broken directory cannot be matched to it
        if check_history:
            with self._connect(read_only=True) as conn:
                plan = self._plan(conn, migrations)
                catalog = self._catalog_warnings(conn, plan)
            problems += plan.drift_problems() + plan.out_of_order_problems()
            warnings += (
                history_checks.cosmetic_warnings(plan)
                + history_checks.down_warnings(plan)
                + history_checks.renamed_warnings(plan)
                + catalog
            )
            applied = sum(e.applied is not None for e in plan.entries)
        notes = file_checks.empty_file_notes(migrations)
        return results.ValidateResult(
            tuple(problems),
            tuple(warnings),
            tuple(notes),
            len(migrations),
            applied,
            self.settings.history_name,
            history_checked=check_history,
        )

    def diff(self, version: int) -> results.DiffResult:
        """Unified diff from the SQL recorded when `version` ran to its up file now."""
        from .db.history import History

        migrations = self.discover()
        with self._connect(read_only=True) as conn:
            plan = self._plan(conn, migrations)
            entry = next((e for e in plan.entries if e.version == version), None)
            if entry is None:
                raise ConfigError(
                    f"no migration with version {version} on disk or in the history",
                    hint="`sqlmig status` lists every version",
                )
            if entry.applied is None:
                raise ConfigError(
                    f"migration {version} is pending: it was never applied, so there is no recorded SQL to compare",
                    hint="`sqlmig diff` compares an applied migration with its file",
                )
            history = History(conn, self.settings.history_schema, self.settings.history_table)
            recorded = history.applied_sql([version])[version]
        if recorded is None:
            raise HistoryError(
                f"the history holds no SQL text for migration {version}; nothing to compare",
                [Problem(entry.where, "recorded by a sqlmig that did not keep the applied SQL")],
                hint=f"compare by hand; after review `sqlmig repair --accept {version}` records the current text",
            )
        m = entry.migration
        text = history_checks.unified_diff(
            recorded,
            m.up.sql if m else "",
            f"{history_checks.label(entry)} (as applied)",
            str(m.up.path) if m else f"{history_checks.label(entry)} (no file on disk)",
        )
        return results.DiffResult(
            version,
            entry.name,
            entry.state,
            m.up.path if m else None,
            entry.applied.checksum,
            entry.file_checksum,
            entry.cosmetic_change,
            text,
        )

    # ---- runs ------------------------------------------------------------------------------

    def migrate(
        self,
        *,
        to: int | None = None,
        dry_run: bool = False,
        allow_out_of_order: bool = False,
        single_transaction: bool = False,
        execute: bool = False,
        allow_existing: bool = False,
    ) -> results.MigrateResult:
        """Apply pending migrations in version order, each in its own transaction. With dry_run and
        execute, run them in a transaction that is rolled back (see _rehearsal)."""
        if execute and not dry_run:
            raise ConfigError(
                "--execute goes with --dry-run: it runs the pending files in a transaction that is rolled back",
                hint="`sqlmig migrate --dry-run --execute` to try them; `sqlmig migrate` to apply them",
            )
        migrations = self.discover()
        listed = self._check_sum(migrations)
        if to is not None and to not in {m.version for m in migrations}:
            raise _unknown_target(to, "on disk", "`sqlmig status` lists every version")
        with self._connected(write=not dry_run or execute, ensure=False) as (conn, session):
            plan = self._plan(conn, migrations, session)
            todo, warnings = self._to_apply(conn, plan, to, allow_out_of_order, single_transaction, allow_existing)
            warnings = listed + warnings
            if dry_run and execute and session is not None:
                return self._rehearsal(session, todo, warnings)
            if dry_run or session is None:
                return results.MigrateResult(tuple(step_of(e, "up") for e in todo), dry_run=True, warnings=warnings)
            session.history.ensure()  # only now that the files are accepted: a refusal writes nothing
            done = Runner(session, self.settings, self.on_event).run(todo, "up", single_transaction=single_transaction)
            self._write_schema_file(conn, bool(done))
        return results.MigrateResult(tuple(done), warnings=warnings)

    def _to_apply(
        self,
        conn: Conn | None,
        plan: Plan,
        to: int | None,
        allow_out_of_order: bool,
        single_transaction: bool,
        allow_existing: bool = False,
    ) -> tuple[list[Entry], tuple[Problem, ...]]:
        """The pending migrations migrate would apply, once every check before a run accepts them
        (conn None: no database, --print-sql --from-empty); the warnings told."""
        self._check_history(plan, allow_out_of_order=allow_out_of_order)
        todo = [e for e in plan.pending if to is None or e.version <= to]
        if conn is not None and todo and not allow_existing:
            self._refuse_unadopted(conn, todo)
        files = [e.migration.up for e in todo if e.migration]
        _refuse_unrunnable(files, single_transaction)
        if conn is not None:
            self._check_encoding(conn, files)
        warnings = self._warn(files) + self._lint_gate(conn, [e.migration for e in todo if e.migration])
        return todo, warnings

    def _refuse_unadopted(self, conn: Conn, todo: Sequence[Entry]) -> None:
        """A database with no history table that already has tables the pending migrations create
        was made by something else (an older deploy, another tool, a restore): running them would
        fail on `relation already exists`, part-way. Refused before anything runs, showing
        `baseline`. Tables they do not create (another application's) do not stand in the way."""
        from .db.catalog import existing_tables
        from .db.history import History
        from .lint.check import Context, check_file

        if History(conn, self.settings.history_schema, self.settings.history_table).columns() is not None:
            return
        created = Context()
        makers: list[tuple[Entry, int]] = []  # each migration and how many tables were created up to it
        for e in todo:
            if e.migration is not None:
                check_file(e.migration.up, created)
                makers.append((e, len(created.new_tables)))
        exists = existing_tables(conn, [(t.schema, t.name) for t in created.new_tables])
        exists = [None if t in created.if_absent else name for t, name in zip(created.new_tables, exists, strict=True)]
        found = [name for name in exists if name is not None]
        if not found:
            return
        first_made = min(i for i, name in enumerate(exists) if name is not None)
        last_made = max(i for i, name in enumerate(exists) if name is not None)
        first = next(e for e, made in makers if made > first_made)  # the first to create one that is there
        upto = next(e for e, made in makers if made > last_made)  # the one that creates the last of them
        shown = ", ".join(found[:5]) + (", ..." if len(found) > 5 else "")
        label = upto.migration.label if upto.migration else str(upto.version)
        raise RefusedError(
            f"the database already has {plural(len(found), 'table')} the pending migrations create ({shown}), "
            f"but no history table {self.settings.history_name}: sqlmig has not run on it, and "
            f"{first.migration.label if first.migration else first.version} would fail on them; nothing was run",
            [Problem(self.settings.history_name, "does not exist")],
            hint="to adopt this database, record the migrations whose changes it already has without running "
            f"them: `sqlmig baseline {upto.version}` ({label} creates the last of those tables; add `--check` to "
            "compare the database with the schema the migrations up to it build), then `sqlmig migrate`",
        )

    def _rehearsal(
        self, session: Session, todo: Sequence[Entry], warnings: tuple[Problem, ...]
    ) -> results.MigrateResult:
        """--dry-run --execute: the pending files run, up to the first no-transaction one, in ONE
        transaction on the work connection that is always rolled back (a failure is raised as a
        run's, placed at file:line:column, exit 1). A no-transaction file cannot run inside it; it
        is not run, nor is any file after it, which may depend on what it does."""
        from .db.execute import rehearsal
        from .file_checks import not_rehearsable

        migrations = [e.migration for e in todo if e.migration]
        first = next((i for i, m in enumerate(migrations) if not_rehearsable(m.up)), len(migrations))
        runnable, skipped = migrations[:first], migrations[first:]
        if self.on_event:
            self.on_event(RunStarted(len(runnable), "up"))
        with rehearsal(session.work):
            ran = Runner(session, self.settings, self.on_event).rehearse(runnable)
        not_executed = tuple(
            results.NotExecuted(
                m.version,
                m.name,
                m.up.path,
                not_rehearsable(m.up) or ""
                if m is skipped[0]
                else f"after {skipped[0].label}, which was not rehearsed: it may depend on what that one does",
            )
            for m in skipped
        )
        unrun = tuple(results.MigrationStep(m.version, m.name, m.up.path) for m in skipped)
        return results.MigrateResult(
            (*ran, *unrun), dry_run=True, warnings=warnings, executed=True, not_executed=not_executed
        )

    def migrate_script(
        self,
        *,
        to: int | None = None,
        allow_out_of_order: bool = False,
        single_transaction: bool = False,
        from_empty: bool = False,
        allow_existing: bool = False,
    ) -> results.SqlScript:
        """`migrate --print-sql`: what migrate would send, as one psql script; nothing is run. The
        database is only read (read-only connection) to know what is pending; with from_empty,
        not even that: every migration is pending, onto an empty database."""
        from . import print_sql
        from .db.history import History, ensure_statements

        migrations = self.discover()
        self._check_sum(migrations)
        if to is not None and to not in {m.version for m in migrations}:
            raise _unknown_target(to, "on disk", "`sqlmig status` lists every version")
        schema, table = self.settings.history_schema, self.settings.history_table
        if from_empty:
            todo, _ = self._to_apply(None, build_plan(migrations, []), to, allow_out_of_order, single_transaction)
            history = History.builders(schema, table)
            # An empty database has the schema public and no other.
            ensure = ensure_statements(history.ident, schema, None, schema == "public")
            return print_sql.script(self.settings, "migrate", "up", todo, history, ensure, single_transaction, None)
        with self._connect(read_only=True) as conn:
            plan = self._plan(conn, migrations)
            todo, _ = self._to_apply(conn, plan, to, allow_out_of_order, single_transaction, allow_existing)
            history = History(conn, schema, table)
            return print_sql.script(
                self.settings, "migrate", "up", todo, history, history.ensure_sql(), single_transaction, conn
            )

    def down_script(
        self,
        *,
        steps: int | None = None,
        to: int | None = None,
        all_applied: bool = False,
        single_transaction: bool = False,
        use_recorded: bool = False,
    ) -> results.SqlScript:
        """`down --print-sql`: what down would send, as one psql script; the database is only read.
        `use_recorded`: migrations whose files are gone are reverted with their recorded down SQL."""
        from . import print_sql
        from .db.history import History

        migrations = self.discover()
        with self._connect(read_only=True) as conn:
            plan = self._plan(conn, migrations, recorded_down=use_recorded)
            todo = self._to_revert(conn, plan, steps, to, all_applied, single_transaction, use_recorded=use_recorded)
            self._announce_recorded(todo)
            history = History(conn, self.settings.history_schema, self.settings.history_table)
            # down with nothing applied stops before its ensure(): nothing to create or upgrade
            ensure = history.ensure_sql() if plan.applied_newest_first else []
            return print_sql.script(self.settings, "down", "down", todo, history, ensure, single_transaction, conn)

    def _to_revert(
        self,
        conn: Conn,
        plan: Plan,
        steps: int | None,
        to: int | None,
        all_applied: bool,
        single_transaction: bool,
        *,
        use_recorded: bool = False,
    ) -> list[Entry]:
        """The applied migrations down would revert, newest application first, once every check
        before a run accepts them; none when nothing is applied. `use_recorded`: those whose files
        are gone get their recorded down SQL."""
        chosen = sum(x is not None and x is not False for x in (steps, to, all_applied or None))
        if chosen > 1:
            raise ConfigError("give only one of --steps, --to and --all")
        if steps is not None and steps < 1:
            raise ConfigError(f"--steps {steps}: expected a whole number >= 1")
        if to is not None and to not in {e.version for e in plan.entries}:
            raise _unknown_target(
                to, "on disk or in the history", "`sqlmig status` lists every version; --all reverts them all"
            )
        again = "".join(
            f" {flag}"
            for flag, given in ((f"--steps {steps}", steps), (f"--to {to}", to), ("--all", all_applied))
            if given is not None and given is not False
        )
        self._check_history(
            plan, allow_out_of_order=True, use_recorded=use_recorded, with_flag=f"sqlmig down{again} --use-recorded"
        )
        applied = list(plan.applied_newest_first)
        if all_applied:
            todo = applied
        elif to is not None:
            todo = [e for e in applied if e.version > to]
        else:
            todo = applied[: steps or 1]
        todo = [with_recorded_down(e) for e in todo] if use_recorded else todo
        files = [e.migration.down for e in todo if e.migration]
        _refuse_unrunnable(files, single_transaction)
        self._check_encoding(conn, files)
        self._warn(files)
        return todo

    def down(
        self,
        *,
        steps: int | None = None,
        to: int | None = None,
        all_applied: bool = False,
        dry_run: bool = False,
        single_transaction: bool = False,
        use_recorded: bool = False,
    ) -> results.DownResult:
        """Revert applied migrations, newest application first (default: the last one).

        `use_recorded`: an applied migration whose files are gone (after a code rollback) is
        reverted with the down SQL its history row recorded when it was applied, announced first
        (a RecordedDownUsed event each); one applied by a sqlmig that recorded none is refused.
        """
        migrations = self.discover()
        with self._connected(write=not dry_run, ensure=False) as (conn, session):
            plan = self._plan(conn, migrations, session, recorded_down=use_recorded)
            todo = self._to_revert(conn, plan, steps, to, all_applied, single_transaction, use_recorded=use_recorded)
            if not plan.applied_newest_first:
                return results.DownResult((), dry_run=dry_run, nothing_applied=True)
            self._announce_recorded(todo)
            if dry_run or session is None:
                return results.DownResult(tuple(step_of(e, "down") for e in todo), dry_run=True)
            session.history.ensure()  # an older sqlmig's table gets the columns the run writes
            runner = Runner(session, self.settings, self.on_event)
            done = runner.run(todo, "down", single_transaction=single_transaction)
            self._write_schema_file(conn, bool(done))
        return results.DownResult(tuple(done))

    def repair(
        self,
        *,
        accept: Sequence[int] = (),
        accept_all: bool = False,
        forget: Sequence[int] = (),
        resolve: Sequence[int] = (),
        dry_run: bool = False,
    ) -> results.RepairResult:
        """Change history rows a human named: accept edited files, forget missing ones, resolve failed ones.

        Only the history table is touched, in one transaction under sqlmig's lock; any request
        that does not fit its migration's state refuses the whole repair.
        """
        migrations = self.discover()
        with self._connected(write=not dry_run, ensure=False) as (conn, session):
            plan = self._plan(conn, migrations, session)
            changes, skipped = repair.repair_changes(
                plan, accept=accept, accept_all=accept_all, forget=forget, resolve=resolve
            )
            if dry_run or session is None or not changes:
                return results.RepairResult(tuple(changes), tuple(skipped), dry_run=dry_run)
            from .db.history import AppliedRow

            by_version = {m.version: m for m in migrations}
            history = session.history
            with conn.transaction():
                history.ensure()  # an older sqlmig's table gains the columns --accept writes
                for c in changes:
                    if c.action == "accept":
                        history.accept(AppliedRow.of(by_version[c.version]))
                    elif c.action == "resolve":
                        history.resolve(c.version)
                    else:
                        history.forget(c.version)
        return results.RepairResult(tuple(changes), tuple(skipped))

    def baseline(
        self, version: int, *, dry_run: bool = False, extend: bool = False, check: bool = False
    ) -> results.BaselineResult:
        """Adopt an existing database: record every migration up to `version` as applied, running none.

        `extend`: the history already records some (a database adopted at an earlier version, or
        one that must skip ahead); record the ones up to `version` it lacks. `check`: first build,
        on a scratch database, the schema those migrations make, and refuse (exit 3, nothing
        recorded) when the live schema differs from it in anything but cosmetics.
        """
        migrations = self.discover()
        if version not in {m.version for m in migrations}:
            raise ConfigError(
                f"baseline {version}: no migration with that version on disk",
                hint="name the last migration the database already contains",
            )
        with self._connected(write=not dry_run, ensure=False) as (conn, session):
            plan = self._plan(conn, migrations, session, recorded=check)
            rows = [e.version for e in plan.entries if e.applied is not None]
            if rows and not extend:
                shown = ", ".join(map(str, rows[:10])) + (", ..." if len(rows) > 10 else "")
                raise HistoryError(
                    f"the history already records {plural(len(rows), 'migration')}; "
                    "baseline is for a database sqlmig has not run on; nothing was changed",
                    [Problem(self.settings.history_name, f"records version {shown}")],
                    hint="`sqlmig migrate` continues from the history as it is; to record the migrations up to "
                    f"{version} it lacks without running them, `sqlmig baseline {version} --extend`",
                )
            if rows:
                self._check_history(plan, allow_out_of_order=True)
            todo = tuple(e.migration for e in plan.pending if e.migration and e.version <= version)
            if check:
                self._baseline_check(conn, plan, todo, version)
            if dry_run or session is None:
                return results.BaselineResult(version, todo, dry_run=True)
            from .db.history import AppliedRow

            history = session.history
            with conn.transaction():
                history.ensure()
                for m in todo:
                    history.record(AppliedRow.of(m))
        return results.BaselineResult(version, todo)

    def _baseline_check(self, conn: Conn, plan: Plan, todo: Sequence[Migration], version: int) -> None:
        """The live schema against the one the migrations up to `version` build (the applied ones as
        they ran, then the files to record): a real difference refuses the baseline."""
        from . import drift
        from .snapshot import compare

        files = [*plan.applied_as_run(), *((m.version, m.up) for m in todo)]
        expected, where = drift.built(self.settings, files, f"while building the schema up to {version}")
        real = [d for d in compare(expected, self._schema(conn)) if not d.cosmetic]
        if real:
            raise RefusedError(
                f"the database's schema is not the one migrations up to {version} build "
                f"({plural(len(real), 'difference')}, found on a scratch database on {where}); nothing was recorded",
                [Problem("schema", d.describe("in the database, not made by the migrations",
                         "made by the migrations, missing from the database")) for d in real],
                hint=f"choose the VERSION whose schema the database has (`sqlmig baseline {version} --check` "
                "again with another one), or bring the database to it first",
            )  # fmt: skip

    def new(self, name: str, *, into: Path | None = None, timestamp: bool | None = None) -> results.NewResult:
        """Create the next up/down pair (highest version on disk + 1, same zero-padding; or, with
        `timestamp` or the version_scheme setting, the UTC time as YYYYMMDDHHMMSS), and list it in
        sqlmig.sum (created when the folder has none)."""
        from . import sum_file

        dirs = [d for d in self.settings.dirs if os.path.isdir(d)]  # False, not an error, for a path too long
        migrations = discover(dirs) if dirs else []
        by_time = self.settings.version_scheme == "timestamp" if timestamp is None else timestamp
        version, width = next_version_name(migrations, name, timestamp=by_time)
        target = into or self.settings.dirs[0]
        if into is not None and not any(_same_folder(into, d) for d in self.settings.dirs):
            raise ConfigError(
                f"--into {into}: not one of the migration folders ({', '.join(map(str, self.settings.dirs))}): "
                "no run would see the pair; nothing was written",
                hint="give a folder of --dir (or the dirs setting), or add it there first",
            )
        stem = f"{version:0{width}d}_{name}"
        up_path, down_path = target / f"{stem}.up.sql", target / f"{stem}.down.sql"
        up_text = f"-- {stem}: apply. Runs in one transaction with its history row.\n\n"
        list_path = sum_file.path_in(self.settings.dirs)
        added = sum_file.line_for(stem, up_text)
        listed_text = _list_text(list_path)
        if listed_text is not None:
            listed = sum_file.lines_with(listed_text, shown_path(str(list_path)), [added])
        else:
            listed = [sum_file.line_of(m) for m in sorted(migrations, key=lambda m: m.version)] + [added]
        write_new(target, (up_path, up_text), (down_path, f"-- {stem}: revert what {up_path.name} does.\n\n"))
        try:
            replace_file(list_path, sum_file.render(listed))
        except WriteFailed as exc:
            for path in (up_path, down_path):
                with contextlib.suppress(OSError):
                    path.unlink()
            raise WriteFailed(f"{exc.message}; the new pair was removed again", hint=exc.hint) from None
        return results.NewResult(version, name, up_path, down_path)

    def renumber(self, old: str, new: int, *, dry_run: bool = False) -> results.RenumberResult:
        """Move a pair that no visible history has applied to version `new` (its files renamed, its
        line in sqlmig.sum moved). `old` is a version, or VERSION_NAME when two pairs share it (the
        state a merge of two branches leaves)."""
        from . import renumber, sum_file

        pair = renumber.choose(renumber.pairs(self.settings.dirs), old, new)
        checked: str | None = None
        if self.settings.database_url:  # refused when the history records the pair or the new version
            from .db.history import History

            with self._connect(read_only=True) as conn:
                rows = History(conn, self.settings.history_schema, self.settings.history_table).read()
            renumber.refuse_recorded(rows, pair, new, self.settings.history_name)
            checked = self.settings.history_name
        list_path = sum_file.path_in(self.settings.dirs)
        updated = False
        if not dry_run:
            rename_all(list(pair.moves(new)))
            listed_text = _list_text(list_path)
            if listed_text is not None:
                text = renumber.sum_moved(listed_text, str(list_path), pair, new)
                if text is not None:
                    replace_file(list_path, text)
                    updated = True
        return results.RenumberResult(pair.version, new, pair.name, pair.moves(new), checked, updated, dry_run)

    def sum(self) -> results.SumResult:
        """Write sqlmig.sum from the folder as it is: after a merge is resolved, a pair made by hand,
        or an edit made on purpose."""
        from . import sum_file

        migrations = self.discover()
        path = sum_file.path_in(self.settings.dirs)
        text = sum_file.render_migrations(migrations)
        before: str | None = None
        with contextlib.suppress(RefusedError):  # unreadable (not UTF-8): rewritten all the same
            before = _list_text(path)
        if before != text:
            replace_file(path, text)
        return results.SumResult(path, len(migrations), changed=before != text)

    def _sum_problems(
        self, migrations: Sequence[Migration], *, listing_only: bool = False
    ) -> tuple[list[Problem], list[Problem]]:
        """sqlmig.sum against the folder, when the file is there (or the require_sum setting wants it);
        `listing_only`: only what is wrong with the file itself (conflict markers, unreadable lines)."""
        from . import sum_file

        path = sum_file.path_in(self.settings.dirs)
        try:
            text = _list_text(path)
        except RefusedError as exc:  # a directory of that name, not UTF-8...: a problem like the others
            return exc.problems, []
        if text is None:
            if not self.settings.require_sum:
                return [], []
            return [
                Problem(
                    shown_path(str(path)),
                    "no migration list: the require_sum setting asks for one",
                    "`sqlmig sum` writes it; commit it with the migrations",
                )
            ], []
        if listing_only:
            return list(sum_file.parse(text, shown_path(str(path))).problems), []
        return sum_file.check(text, shown_path(str(path)), migrations)

    def _check_sum(self, migrations: Sequence[Migration]) -> tuple[Problem, ...]:
        """Refuse a run the migration list disagrees with; its warnings (files edited since they were
        listed) are told and returned."""
        problems, warnings = self._sum_problems(migrations)
        if problems:
            raise DiscoveryError(f"{plural(len(problems), 'problem')} in the migration list; nothing was run", problems)
        if self.on_event:
            for p in warnings:
                self.on_event(FileWarning(p.message, p.where, p.hint))
        return tuple(warnings)

    def seed(
        self, *, file: str | Path | None = None, migrate: bool = True, dry_run: bool = False
    ) -> results.SeedResult:
        """Validate the seed file, run pending migrations, then load every table in ONE transaction.

        A file that breaks the schema runs nothing, not even migrations; one that does not fit the
        catalog (unknown table or column, a value its column cannot take) loads nothing. With
        dry_run the pending migrations and the load run in a transaction that is rolled back, so the
        counts are real and nothing stays.
        """
        from .db import load
        from .seed.file import read
        from .seed.problems import Problems
        from .seed.rows import prepare

        started = time.perf_counter()
        path = Path(file) if file is not None else self.settings.seed_file
        seed_file = read(path)
        ran: tuple[results.MigrationStep, ...] = self.migrate(dry_run=dry_run).applied if migrate else ()
        pending = [m for m in self.discover() if m.version in {i.version for i in ran}] if dry_run else []
        from .file_checks import SEED_REHEARSAL

        _refuse_unrunnable([m.up for m in pending], single_transaction=True, why=SEED_REHEARSAL)
        emit = self.on_event or (lambda _event: None)
        with self._session() as session:
            conn = session.work  # a clean session, like a migration's: the lock stays on the control one
            try:
                with load.transaction(conn, rollback=dry_run):
                    # dry run: the pending migrations run inside the seed's transaction, rolled back with it
                    Runner(session, self.settings, emit).rehearse(pending)
                    problems = Problems()
                    prepared = prepare(seed_file, load.read_catalog(conn, seed_file.tables), problems)
                    load.check_reruns(conn, prepared, problems)
                    if problems:  # it does not fit: report every value problem along with these
                        load.check_values(conn, prepared, problems)
                        problems.raise_if_any(path, "against the database")
                    try:
                        tables = load.load_tables(conn, prepared, emit, dry_run=dry_run)
                    except SeedFailed:
                        # Values are asked about only when the load fails (asking first cost as much as
                        # loading); then every bad value is named, not just the first the load met.
                        load.check_values(conn, prepared, problems)
                        problems.raise_if_any(path, "against the database")
                        raise
            except KeyboardInterrupt:
                raise Interrupted(
                    "interrupted while seeding; the seed transaction was rolled back",
                    hint=f"{len(ran)} migration(s) applied before the seed stay applied" if ran and not dry_run else "",
                ) from None
        return results.SeedResult(path, tuple(tables), ran, dry_run, (time.perf_counter() - started) * 1000)

    def verify(
        self,
        *,
        all_migrations: bool = False,
        first: int | None = None,
        last: int | None = None,
        strict: bool = False,
    ) -> results.VerifyResult:
        """Prove on a scratch database that each down undoes its up; the target is only read.

        Which migrations: the pending ones (from the target's history), or with `all_migrations`
        (or no database URL) every one from an empty database; `first`/`last` narrow either.
        """
        from . import verify

        migrations = self.discover()
        plan: Plan | None = None
        if not all_migrations and self.settings.database_url:
            with self._connect(read_only=True) as conn:
                plan = self._plan(conn, migrations, recorded=True)
        return verify.run(self.settings, migrations, plan, first, last, strict=strict, emit=self.on_event)

    def lint(self, *, files: Sequence[str | Path] | None = None, fail_on: str = "error") -> results.LintResult:
        """Dangerous statements in migration files, before anything runs; the database is only read.

        With `files`: exactly those, and a table an earlier one creates is new. Else, with a
        database URL: the pending files (and their downs), sizes from the database. Else every
        file, each on its own (a table is new only when created above in the same file).
        """
        from .lint.run import Target

        if files:
            from .lint.targets import of_paths

            targets = of_paths(files, self.discover_quietly())
            return self._lint(
                targets, context="files", shared=True, fail_on=fail_on, connect=bool(self.settings.database_url)
            )
        migrations = self.discover()
        if not self.settings.database_url:
            targets = [Target(m.up, "up", m) for m in migrations] + [Target(m.down, "down", m) for m in migrations]
            return self._lint(targets, context="static", shared=False, fail_on=fail_on, connect=False)
        with self._connect(read_only=True) as conn:
            pending = [e.migration for e in self._plan(conn, migrations).pending if e.migration]
            targets = [Target(m.up, "up", m) for m in pending] + [Target(m.down, "down", m) for m in reversed(pending)]
            return self._lint(targets, context="database", shared=True, fail_on=fail_on, conn=conn)

    def _lint_gate(self, conn: Conn | None, migrations: Sequence[Migration]) -> tuple[Problem, ...]:
        """The `lint` setting: the files migrate is about to apply, linted as `sqlmig lint` would
        (without a database, as `lint` does without one); refused when a finding reaches the
        setting's severity, warnings for the others."""
        level = self.settings.lint
        if level == "off" or not migrations:
            return ()
        from .lint import command
        from .lint.run import Target

        targets = [Target(m.up, "up", m) for m in migrations]
        context = "database" if conn is not None else "static"
        warnings = command.gate(self._lint(targets, context=context, shared=True, fail_on=level, conn=conn), level)
        if self.on_event:
            for p in warnings:
                self.on_event(FileWarning(p.message, p.where, p.hint))
        return warnings

    def discover_quietly(self) -> list[Migration]:
        """The migrations of the directories, or none when they cannot be read: `lint --files`
        lints the files it is given whatever state the folder is in."""
        return list(scan(self.settings.dirs).migrations)

    def _lint(
        self,
        targets: Sequence[Target],
        *,
        context: str,
        shared: bool,
        fail_on: str,
        connect: bool = False,
        conn: Conn | None = None,
    ) -> results.LintResult:
        """One lint of `targets`, with the database's facts when `conn` is given (or `connect`)."""
        from .lint import command

        options = command.options_of(self.settings, fail_on)
        if conn is None and connect:
            with self._connect(read_only=True) as own:
                return command.run(targets, context=context, shared=shared, options=options, conn=own)
        return command.run(targets, context=context, shared=shared, options=options, conn=conn)

    def drift(self) -> results.DriftResult:
        """The live schema compared with the one its applied migrations build on a scratch database."""
        from . import drift

        migrations = self.discover()
        with self._connect(read_only=True) as conn:
            plan = self._plan(conn, migrations, recorded=True)
            live = self._schema(conn)
        return drift.check(self.settings, plan, live)

    def dump(self, output: Path | None = None) -> results.DumpResult:
        """The schema as stable, sorted DDL text; written to `output` (or the schema_file setting)
        when one is given. Only reads the database."""
        from . import schema_file

        with self._connect(read_only=True) as conn:
            snapshot = self._schema(conn)
        text = schema_file.render(snapshot)
        target = output or self.settings.schema_file
        if target is not None:
            replace_file(target, text)
        return results.DumpResult(text, target, len(snapshot.objects))

    # ---- internals ---------------------------------------------------------------------------

    def _schema(self, conn: Conn) -> Snapshot:
        """The database's schema, sqlmig's history table left out."""
        from .db.snapshot import take

        return take(conn, exclude=[(self.settings.history_schema, self.settings.history_table)])

    def _write_schema_file(self, conn: Conn, changed: bool) -> None:
        """The schema_file setting: the schema as `dump` writes it, after a run that changed it. The
        run is committed by then: a file that cannot be written is a warning, not the run's failure."""
        path = self.settings.schema_file
        if not changed or path is None:
            return
        from . import schema_file

        try:
            replace_file(path, schema_file.render(self._schema(conn)))
        except WriteFailed as exc:
            said = f"{exc.message}; the migrations stay as this run left them (applied or reverted)"
            if self.on_event:
                self.on_event(FileWarning(said, "schema_file", f"then `sqlmig dump -o {path}` writes it"))

    def _url(self) -> str:
        url = self.settings.database_url
        if not url:
            raise ConfigError(
                "no database URL",
                hint="give --database-url URL, set SQLMIG_DATABASE_URL or DATABASE_URL, "
                "or set database_url in sqlmig.toml ('embedded' starts a local server)",
            )
        if url == EMBEDDED:
            from . import embedded

            return embedded.ensure_running(
                self.settings.embedded_dir, self.settings.embedded_version, self.settings.embedded_port
            )
        return url

    @contextlib.contextmanager
    def _connect(self, *, read_only: bool = False) -> Iterator[Conn]:
        from .db.connect import connect

        conn = connect(self._url(), wait=self.settings.wait, read_only=read_only, on_wait=self._waiting)
        try:
            yield conn
        finally:
            conn.close()

    @contextlib.contextmanager
    def _connected(self, *, write: bool, ensure: bool = True) -> Iterator[tuple[Conn, Session | None]]:
        """For writing: a Session (lock held, history table ready unless ensure=False, which leaves
        creating it to the caller once its input is checked) and its control connection. For
        reading: a plain connection and no Session."""
        if not write:
            with self._connect() as conn:
                yield conn, None
            return
        with self._session() as session:
            if ensure:
                session.history.ensure()
            yield session.control, session

    @contextlib.contextmanager
    def _session(self) -> Iterator[Session]:
        """sqlmig's lock on a control connection, and a work connection for files (seeds and migrations
        take turns); creates nothing."""
        from .db.session import Session

        with Session(
            self._url(),
            schema=self.settings.history_schema,
            table=self.settings.history_table,
            lock_wait=self.settings.lock_wait,
            connect_wait=self.settings.wait,
            on_wait=self._waiting,
        ) as session:
            yield session

    def _waiting(self, message: str, again: bool) -> None:
        """What a wait (for the server, for sqlmig's lock) is waiting for, told as a progress event
        (again: a reminder that it still waits)."""
        if self.on_event is not None:
            self.on_event(Waiting(message, again))

    def _plan(
        self,
        conn: Conn,
        migrations: Sequence[Migration],
        session: Session | None = None,
        *,
        recorded: bool = False,
        recorded_down: bool = False,
    ) -> Plan:
        """The plan, with the SQL each edited migration ran with, and the down recorded beside each
        edited down file (to tell a cosmetic edit); `recorded`: also the up SQL of those whose
        files are gone (what verify and drift rebuild the applied schema from); `recorded_down`:
        their down SQL too (what `down --use-recorded` runs)."""
        from .db.history import History

        history = (
            session.history if session else History(conn, self.settings.history_schema, self.settings.history_table)
        )
        rows = history.read()
        by_version = {m.version: m for m in migrations}
        changed = [
            r.version
            for r in rows
            if (r.version in by_version and by_version[r.version].checksum != r.checksum)
            or (recorded and r.version not in by_version)
        ]
        if changed:
            texts = history.applied_sql(changed)
            rows = [r._replace(applied_sql=texts.get(r.version)) if r.version in texts else r for r in rows]
        downs = [
            r.version
            for r in rows
            if r.down_checksum is not None
            and (
                (r.version in by_version and by_version[r.version].down_checksum != r.down_checksum)
                or (recorded_down and r.version not in by_version)
            )
        ]
        if downs:
            down_texts = history.recorded_down(downs)
            rows = [r._replace(down_sql=down_texts[r.version]) if r.version in down_texts else r for r in rows]
        return build_plan(migrations, rows)

    def _catalog_warnings(self, conn: Conn, plan: Plan) -> list[Problem]:
        """After a failed non-transactional migration: INVALID indexes its CONCURRENTLY build left."""
        if not any(e.state == MigrationState.FAILED for e in plan.entries):
            return []
        from .db.catalog import invalid_indexes

        return [
            Problem(
                f"index {ix.schema}.{ix.name} on {ix.table}",
                "is INVALID (left by a failed CREATE INDEX CONCURRENTLY); queries skip it, writes still pay for it",
                f"drop it with: {ix.drop_statement}",
            )
            for ix in invalid_indexes(conn)
        ]

    def _check_history(
        self, plan: Plan, *, allow_out_of_order: bool, use_recorded: bool = False, with_flag: str | None = None
    ) -> None:
        """Refuse a run the history does not fit. `with_flag`: the command as given plus
        --use-recorded, offered when every missing migration has a recorded down (so it would do)."""
        problems = plan.drift_problems(use_recorded=use_recorded)
        if not allow_out_of_order:
            problems += plan.out_of_order_problems()
        if problems:
            missing = [e for e in plan.entries if e.state == MigrationState.MISSING and e.applied is not None]
            offer = (
                with_flag is not None
                and not use_recorded
                and bool(missing)
                and all(e.applied is not None and e.applied.down_checksum is not None for e in missing)
            )
            raise HistoryError(
                f"the history does not match the migration files ({plural(len(problems), 'problem')}); nothing was run",
                problems,
                hint=f"to revert the applied migrations whose files are gone with the down SQL recorded when they "
                f"were applied, run `{with_flag}`"
                if offer
                else "",
            )

    def _announce_recorded(self, todo: Sequence[Entry]) -> None:
        """Before anything runs (and with --dry-run): each migration that will be reverted with the
        down SQL its history row recorded, as a RecordedDownUsed event."""
        if self.on_event is None:
            return
        for e in todo:
            m = e.migration
            if e.state == MigrationState.MISSING and m is not None and e.applied is not None:
                self.on_event(RecordedDownUsed(e.version, e.name, e.applied.applied_at, str(m.down.path)))

    def _check_encoding(self, conn: Conn, files: Sequence[SqlFile]) -> None:
        """Refuse files with characters the database's encoding lacks, before anything runs."""
        from . import file_checks
        from .db.connect import narrow_encoding

        narrow = narrow_encoding(conn) if files else None
        problems = file_checks.encoding_problems(files, *narrow) if narrow else []
        if problems:
            raise RefusedError(
                f"{plural(len(problems), 'file')} with characters the database cannot store; nothing was run",
                problems,
            )

    def _warn(self, files: Sequence[SqlFile]) -> tuple[Problem, ...]:
        """Before a run: a `warning` event for each comment in the files to run that looks like a marker
        but is not applied (`-- SQLMIG:...`, one below the first statement), so it is seen before the
        run it would have changed, not after."""
        if not files:
            return ()
        from . import file_checks

        warnings = tuple(file_checks.marker_warnings(files))
        if self.on_event:
            for p in warnings:
                self.on_event(FileWarning(p.message, p.where, p.hint))
        return warnings


def _refuse_unrunnable(files: Sequence[SqlFile], single_transaction: bool = False, **why: tuple[str, str]) -> None:
    """file_checks.refuse_unrunnable, imported when there are files to run (the scanner behind it
    costs ~30 ms to load, which --help and status do not pay)."""
    if files:
        from .file_checks import refuse_unrunnable

        refuse_unrunnable(files, single_transaction, **why)


def _same_folder(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.abspath(a) == os.path.abspath(b)


def _list_text(path: Path) -> str | None:
    """sqlmig.sum's text, read as migration files are (UTF-8, no NUL, a BOM and CRLF dropped); None
    when nothing has its name (or its folder cannot be looked into: discovery reports the folder).
    One that cannot be read (a directory of that name, not UTF-8) is a refusal naming it."""
    from .migrations import read_file

    try:
        if not path.exists():
            return None
    except OSError:
        return None
    file, problems = read_file(str(path))
    if file is None:
        raise RefusedError(f"cannot read {path}", problems, hint="`sqlmig sum` writes it anew from the folder")
    return file.sql


def _unknown_target(to: int, where: str, hint: str) -> ConfigError:
    """`--to V` names a migration, for migrate and down alike: a version that is none (a typo, or
    one above the head) is refused rather than read as "everything" or "nothing"."""
    return ConfigError(f"--to {to}: no migration with that version {where}", hint=hint)
