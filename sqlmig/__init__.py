"""sqlmig: raw-SQL, file-based migrations for PostgreSQL."""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .api import Migrator
    from .config import Settings
    from .errors import (
        ConfigError,
        ConnectionFailed,
        DiscoveryError,
        HistoryError,
        Interrupted,
        LockTimeout,
        MigrationFailed,
        Problem,
        ProblemsError,
        RefusedError,
        SeedFailed,
        SeedInvalid,
        ServerRefused,
        SqlmigError,
        WriteFailed,
    )
    from .events import (
        Event,
        FileWarning,
        LockRetry,
        MigrationDone,
        MigrationRehearsed,
        MigrationStarted,
        RecordedDownUsed,
        RowsLoaded,
        RunStarted,
        SeedStarted,
        TableDone,
        TableStarted,
        Waiting,
    )
    from .plan import AppliedMigration, Entry, Plan
    from .results import (
        BaselineResult,
        DiffResult,
        DownResult,
        MigrateResult,
        MigrationStep,
        NewResult,
        RepairChange,
        RepairResult,
        SeedResult,
        SeedTableResult,
        StatusResult,
        ValidateResult,
    )

__version__ = "0.1.0"

__all__ = [
    "AppliedMigration",
    "BaselineResult",
    "ConfigError",
    "ConnectionFailed",
    "DiffResult",
    "DiscoveryError",
    "DownResult",
    "Entry",
    "Event",
    "FileWarning",
    "HistoryError",
    "Interrupted",
    "LockRetry",
    "LockTimeout",
    "MigrateResult",
    "MigrationDone",
    "MigrationFailed",
    "MigrationRehearsed",
    "MigrationStarted",
    "MigrationStep",
    "Migrator",
    "NewResult",
    "Plan",
    "Problem",
    "ProblemsError",
    "RecordedDownUsed",
    "RefusedError",
    "RepairChange",
    "RepairResult",
    "RowsLoaded",
    "RunStarted",
    "SeedFailed",
    "SeedInvalid",
    "SeedResult",
    "SeedStarted",
    "SeedTableResult",
    "ServerRefused",
    "Settings",
    "SqlmigError",
    "StatusResult",
    "TableDone",
    "TableStarted",
    "ValidateResult",
    "Waiting",
    "WriteFailed",
    "__version__",
]

# The public names are imported on first use (PEP 562): `sqlmig --help` imports this package
# too, and must not pay for the API and everything below it. Each name is looked up in these
# submodules, in order: add a module here when exporting a name from a new one (a test checks
# that every name in __all__ resolves).
_MODULES = ("errors", "results", "events", "plan", "config", "api")


def __getattr__(name: str) -> object:
    if name in __all__:
        for module in _MODULES:
            found = getattr(import_module(f".{module}", __name__), name, _MISSING)
            if found is not _MISSING:
                globals()[name] = found
                return found
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


_MISSING = object()
