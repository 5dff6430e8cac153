"""Progress events: what a run tells `on_event` while it goes on (the library never prints).

One frozen record per kind, so a handler matches on the class (`isinstance`, `match`) and reads
typed fields instead of looking keys up in a dict. NamedTuples rather than frozen dataclasses, as
in results.py: as immutable, and defined at a fraction of the start-up cost. `position` (the
n-th of `total`, from 1) is not called `index`, which would shadow tuple.index.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import NamedTuple

from .migrations import Direction
from .results import MigrationStep, MigrationVerdict, SeedTableResult


class RunStarted(NamedTuple):
    """A run of `total` migrations begins (direction "up" or "down")."""

    total: int
    direction: Direction


class MigrationStarted(NamedTuple):
    """A migration file starts running."""

    item: MigrationStep
    position: int
    total: int
    direction: Direction


class MigrationDone(NamedTuple):
    """A migration was committed (or, in a --single-transaction run, the whole run was): `item`
    carries its duration. Never sent before the commit."""

    item: MigrationStep
    position: int
    total: int
    direction: Direction


class MigrationRehearsed(NamedTuple):
    """`seed --dry-run` ran a pending migration inside the seed's transaction, to be rolled back."""

    item: MigrationStep
    total: int


class LockRetry(NamedTuple):
    """A file hit lock_timeout and is tried again after a pause; `message` says when and who holds the lock."""

    item: MigrationStep
    direction: Direction
    message: str


class Waiting(NamedTuple):
    """sqlmig waits (for the server to accept connections, for its lock); `again`: a reminder that it
    still waits, not the first word of it."""

    message: str
    again: bool


class FileWarning(NamedTuple):
    """Before a run: a comment in a file to run that looks like a marker but is not read."""

    message: str
    where: str
    hint: str = ""


class RecordedDownUsed(NamedTuple):
    """Before `down --use-recorded` runs (and with --dry-run): this migration's files are gone, so it
    is reverted with the down SQL its history row recorded at `applied_at`; `where` names that SQL
    as errors do (`<version>_<name> (recorded down)`)."""

    version: int
    name: str
    applied_at: datetime | None
    where: str


class SeedStarted(NamedTuple):
    """The seed's load begins: `tables` tables, `rows` rows in all."""

    tables: int
    rows: int
    dry_run: bool


class TableStarted(NamedTuple):
    """One table of the seed starts loading."""

    table: str
    position: int
    total: int
    rows: int


class RowsLoaded(NamedTuple):
    """`done` of a table's `rows` are sent (several times per table on a large one)."""

    table: str
    position: int
    total: int
    rows: int
    done: int


class TableDone(NamedTuple):
    """A table is loaded (committed only with the whole seed transaction)."""

    table: str
    position: int
    total: int
    result: SeedTableResult
    dry_run: bool


class VerifyStarted(NamedTuple):
    """verify begins judging `total` migrations (those before them are already applied)."""

    total: int


class MigrationVerified(NamedTuple):
    """One migration's verdict, the `position`-th of `total`."""

    verdict: MigrationVerdict
    position: int
    total: int


Event = (
    RunStarted
    | MigrationStarted
    | MigrationDone
    | MigrationRehearsed
    | LockRetry
    | Waiting
    | FileWarning
    | RecordedDownUsed
    | SeedStarted
    | TableStarted
    | RowsLoaded
    | TableDone
    | VerifyStarted
    | MigrationVerified
)
EventHandler = Callable[[Event], None]
