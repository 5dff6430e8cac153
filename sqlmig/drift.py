"""The drift check: the live schema compared with the schema its applied migrations build.

The expected schema is built on a scratch database from the SQL each applied migration ran with
(the text recorded in the history when the file was edited since, so an edit is not mistaken for
drift: `validate` reports edits), in the order they were applied. What differs was changed by
hand (or by something other than sqlmig).
"""

from __future__ import annotations

from collections.abc import Sequence

from .config import Settings
from .file_checks import refuse_unrunnable
from .migrations import SqlFile
from .plan import MigrationState, Plan
from .results import DriftResult
from .snapshot import Snapshot, compare
from .verify import prepare, scratch_server


def check(settings: Settings, plan: Plan, live: Snapshot) -> DriftResult:
    """Build the expected schema on a scratch database; compare the live one with it."""
    files = plan.applied_as_run()
    expected, shown = built(settings, files, "while building the schema the applied migrations make")
    notes = tuple(
        f"migration {e.version} ({e.name}) failed part-way (see `sqlmig status`): the migrations build"
        " none of it, so what it left is listed above as not made by them"
        for e in plan.entries
        if e.state == MigrationState.FAILED
    )
    return DriftResult(tuple(compare(expected, live)), len(files), shown, notes)


def built(settings: Settings, files: Sequence[tuple[int, SqlFile]], when: str) -> tuple[Snapshot, str]:
    """The schema these files (version, up file, in order) build on a scratch database, and where
    it was built: what drift and `baseline --check` hold the live schema against."""
    refuse_unrunnable([f for _, f in files])
    from .db.scratch import Scratch

    server, shown = scratch_server(settings)
    with Scratch(server, exclude=[(settings.history_schema, settings.history_table)]) as scratch:
        prepare(scratch, files, when)
        return scratch.snapshot(), shown
