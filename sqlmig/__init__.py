"""sqlmig: raw-SQL, file-based migrations for PostgreSQL."""

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
    SqlmigError,
    WriteFailed,
)
from .plan import AppliedMigration, Entry, Plan
from .results import (
    DownResult,
    Event,
    MigrateResult,
    NewResult,
    RunItem,
    SeedResult,
    SeedTableResult,
    StatusResult,
)

__version__ = "0.1.0"

__all__ = [
    "AppliedMigration",
    "ConfigError",
    "ConnectionFailed",
    "DiscoveryError",
    "DownResult",
    "Entry",
    "Event",
    "HistoryError",
    "Interrupted",
    "LockTimeout",
    "MigrateResult",
    "MigrationFailed",
    "Migrator",
    "NewResult",
    "Plan",
    "Problem",
    "ProblemsError",
    "RefusedError",
    "RunItem",
    "SeedFailed",
    "SeedInvalid",
    "SeedResult",
    "SeedTableResult",
    "Settings",
    "SqlmigError",
    "StatusResult",
    "WriteFailed",
    "__version__",
]
