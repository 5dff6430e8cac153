"""The drift check: the live schema compared with the schema its applied migrations build.

The expected schema is built on a scratch database from the SQL each applied migration ran with
(the text recorded in the history when the file was edited since, so an edit is not mistaken for
drift: `validate` reports edits), in the order they were applied. What differs was changed by
hand (or by something other than sqlmig).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from .config import Settings
from .errors import ConfigError
from .migrations import SqlFile, parse_directives
from .plan import MigrationState, Plan
from .results import DriftResult
from .snapshot import Snapshot, compare
from .verify import prepare, scratch_server


def applied_files(plan: Plan) -> list[tuple[int, SqlFile]]:
    """(version, the SQL it ran with) of every applied migration, in the order they were applied."""
    applied = sorted(
        (e for e in plan.entries if e.applied is not None and e.state != MigrationState.FAILED),
        key=lambda e: e.applied.seq if e.applied is not None else 0,
    )
    files: list[tuple[int, SqlFile]] = []
    missing: list[int] = []
    for e in applied:
        assert e.applied is not None
        recorded = e.applied.applied_sql
        if e.migration is not None and (recorded is None or e.migration.checksum == e.applied.checksum):
            files.append((e.version, e.migration.up))
        elif recorded is not None:
            where = f"history version {e.version} (its recorded SQL)"
            directives, _ = parse_directives(recorded, where)
            files.append((e.version, SqlFile(where, recorded, directives)))
        else:
            missing.append(e.version)
    if missing:
        raise ConfigError(
            f"cannot build the expected schema: migration {', '.join(map(str, missing))} is applied, but"
            " neither its file nor the SQL it ran with is at hand",
            hint="restore the migration files of the applied versions (`sqlmig status` lists them)",
        )
    return files


def check(settings: Settings, plan: Plan, live: Snapshot, *, check: Callable[[Sequence[SqlFile]], None]) -> DriftResult:
    """Build the expected schema on a scratch database; compare the live one with it."""
    files = applied_files(plan)
    check([f for _, f in files])
    from .db.scratch import Scratch

    server, shown = scratch_server(settings)
    with Scratch(server, exclude=[(settings.history_schema, settings.history_table)]) as scratch:
        prepare(scratch, files, "while building the schema the applied migrations make")
        expected = scratch.snapshot()
    return DriftResult(tuple(compare(expected, live)), len(files), shown)
