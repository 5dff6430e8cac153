"""The library façade: every command as a method returning result records; never prints."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .config import EMBEDDED, Settings, load_config_files, resolve
from .errors import (
    ConfigError,
    HistoryError,
    Interrupted,
    MigrationFailed,
    Problem,
    RefusedError,
    WriteFailed,
)
from .migrations import Migration, discover, next_version_name
from .plan import Entry, Plan, build_plan
from .results import DownResult, Event, MigrateResult, NewResult, RunItem, StatusResult

if TYPE_CHECKING:  # psycopg is imported lazily: --help and `new` must not pay for it
    from .db.history import Conn, History

EventHandler = Callable[[Event], None]


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

    def status(self) -> StatusResult:
        """Every migration on disk or in the history, with its state; creates nothing."""
        migrations = self.discover()
        with self._connect() as conn:
            plan = self._plan(conn, migrations)
        return StatusResult(plan.entries, self._table_name())

    # ---- runs ------------------------------------------------------------------------------

    def migrate(
        self, *, to: int | None = None, dry_run: bool = False, allow_out_of_order: bool = False
    ) -> MigrateResult:
        """Apply pending migrations in version order, each in its own transaction."""
        migrations = self.discover()
        if to is not None and to not in {m.version for m in migrations}:
            raise ConfigError(f"--to {to}: no migration with that version on disk")
        with self._run(write=not dry_run) as (conn, history):
            plan = self._plan(conn, migrations)
            self._check_history(plan, allow_out_of_order=allow_out_of_order)
            todo = [e for e in plan.pending if to is None or e.version <= to]
            self._check_files([e.migration.up for e in todo if e.migration])
            if dry_run or history is None:
                return MigrateResult(tuple(_item(e, "up") for e in todo), dry_run=True)
            done = self._apply_each(conn, history, todo, direction="up")
        return MigrateResult(tuple(done))

    def down(
        self,
        *,
        steps: int | None = None,
        to: int | None = None,
        all: bool = False,
        dry_run: bool = False,
    ) -> DownResult:
        """Revert applied migrations, newest application first (default: the last one)."""
        chosen = sum(x is not None and x is not False for x in (steps, to, all or None))
        if chosen > 1:
            raise ConfigError("give only one of --steps, --to and --all")
        if steps is not None and steps < 1:
            raise ConfigError(f"--steps {steps}: expected a whole number >= 1")
        migrations = self.discover()
        with self._run(write=not dry_run) as (conn, history):
            plan = self._plan(conn, migrations)
            self._check_history(plan, allow_out_of_order=True)
            applied = list(plan.applied_newest_first)
            if not applied:
                return DownResult((), dry_run=dry_run, nothing_applied=True)
            if all:
                todo = applied
            elif to is not None:
                todo = [e for e in applied if e.version > to]
            else:
                todo = applied[: steps or 1]
            self._check_files([e.migration.down for e in todo if e.migration])
            if dry_run or history is None:
                return DownResult(tuple(_item(e, "down") for e in todo), dry_run=True)
            done = self._apply_each(conn, history, todo, direction="down")
        return DownResult(tuple(done))

    def new(self, name: str, *, into: Path | None = None) -> NewResult:
        """Create the next up/down pair (highest version on disk + 1, same zero-padding)."""
        dirs = [d for d in self.settings.dirs if d.is_dir()]
        migrations = discover(dirs) if dirs else []
        version, width = next_version_name(migrations, dirs, name)
        target = into or self.settings.dirs[0]
        stem = f"{version:0{width}d}_{name}"
        up_path, down_path = target / f"{stem}.up.sql", target / f"{stem}.down.sql"
        _write_pair(
            target,
            (up_path, f"-- {stem}: apply. Runs in one transaction with its history row.\n\n"),
            (down_path, f"-- {stem}: revert what {up_path.name} does.\n\n"),
        )
        return NewResult(version, name, up_path, down_path)

    # ---- internals ---------------------------------------------------------------------------

    def _table_name(self) -> str:
        return f"{self.settings.history_schema}.{self.settings.history_table}"

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

            return embedded.ensure_running(self.settings.embedded_dir)
        return url

    @contextlib.contextmanager
    def _connect(self) -> Iterator[Conn]:
        from .db.connect import connect

        conn = connect(self._url(), wait=self.settings.wait)
        try:
            yield conn
        finally:
            conn.close()

    @contextlib.contextmanager
    def _run(self, *, write: bool) -> Iterator[tuple[Conn, History | None]]:
        """A connection holding sqlmig's advisory lock, with the history table ready (if writing)."""
        from .db import lock
        from .db.history import History

        with self._connect() as conn:
            if not write:
                yield conn, None
                return
            key = lock.lock_key(self.settings.history_schema, self.settings.history_table)
            lock.acquire(conn, key, self.settings.lock_wait)
            try:
                history = History(conn, self.settings.history_schema, self.settings.history_table)
                history.ensure()
                yield conn, history
            finally:
                if not (conn.closed or conn.broken):
                    with contextlib.suppress(Exception):
                        lock.release(conn, key)

    def _plan(self, conn: Conn, migrations: Sequence[Migration]) -> Plan:
        from .db.history import History

        history = History(conn, self.settings.history_schema, self.settings.history_table)
        rows = history.read()
        by_version = {m.version: m for m in migrations}
        changed = [r.version for r in rows if r.version in by_version and by_version[r.version].checksum != r.checksum]
        if changed:
            texts = history.applied_sql(changed)
            rows = [replace(r, applied_sql=texts.get(r.version)) if r.version in texts else r for r in rows]
        return build_plan(migrations, rows)

    def _check_history(self, plan: Plan, *, allow_out_of_order: bool) -> None:
        problems = plan.drift_problems()
        if not allow_out_of_order:
            problems += plan.out_of_order_problems()
        if problems:
            raise HistoryError(
                f"the history does not match the migration files ({len(problems)} problem"
                f"{'s' if len(problems) != 1 else ''}); nothing was run",
                problems,
            )

    def _check_files(self, files: Sequence[Any]) -> None:
        if not files:
            return
        from . import checks  # the scanner behind it is imported only when there are files to run

        problems = checks.files_problems(files)
        if problems:
            raise RefusedError(
                f"{len(problems)} problem{'s' if len(problems) != 1 else ''} in the files to run; nothing was run",
                problems,
            )

    def _apply_each(self, conn: Conn, history: History, todo: Sequence[Entry], *, direction: str) -> list[RunItem]:
        from .db.execute import run_in_transaction, settings_sql

        emit = self.on_event or (lambda _event: None)
        done: list[RunItem] = []
        emit(Event("run_start", total=len(todo), direction=direction))
        for index, entry in enumerate(todo, start=1):
            m = entry.migration
            assert m is not None  # drift checks refuse missing files before a run starts
            file = m.up if direction == "up" else m.down
            item = _item(entry, direction)
            emit(Event("migration_start", total=len(todo), index=index, item=item, direction=direction))
            before = settings_sql(
                file.directives.lock_timeout or self.settings.lock_timeout,
                file.directives.statement_timeout or self.settings.statement_timeout,
            )
            after = (
                [history.insert_sql(m.version, m.name, m.checksum, m.up.sql)]
                if direction == "up"
                else [history.delete_sql(m.version)]
            )
            try:
                outcome = run_in_transaction(
                    conn, file, version=m.version, before=before, after=after, direction=direction
                )
            except MigrationFailed as exc:
                exc.applied_before = len(done)
                raise
            except KeyboardInterrupt:
                raise Interrupted(
                    f"interrupted while running {file.path}; its transaction was rolled back",
                    hint=f"{len(done)} migration(s) of this run completed before it",
                ) from None
            item = replace(item, duration_ms=outcome.duration_ms)
            done.append(item)
            emit(Event("migration_done", total=len(todo), index=index, item=item, direction=direction))
        return done


def _item(entry: Entry, direction: str) -> RunItem:
    m = entry.migration
    path = (m.up.path if direction == "up" else m.down.path) if m else Path(f"{entry.version}_{entry.name}")
    return RunItem(entry.version, entry.name, path)


def _write_pair(directory: Path, *files: tuple[Path, str]) -> None:
    """Write both files or neither: each goes to a temporary name first, then both are renamed."""
    for path, _ in files:
        if path.exists():
            raise RefusedError(f"{path} already exists", [Problem(str(path), "already exists")])
    written: list[Path] = []
    try:
        directory.mkdir(parents=True, exist_ok=True)
        temps = []
        for path, text in files:
            tmp = path.with_name(f".{path.name}.tmp")
            written.append(tmp)
            tmp.write_text(text, encoding="utf-8")
            temps.append((tmp, path))
        for tmp, path in temps:
            tmp.rename(path)
            written.append(path)
    except OSError as exc:
        for path in written:
            with contextlib.suppress(OSError):
                path.unlink()
        raise WriteFailed(
            f"cannot write {exc.filename or directory}: {exc.strerror}",
            hint="check the directory's permissions and free space; nothing was created",
        ) from None
