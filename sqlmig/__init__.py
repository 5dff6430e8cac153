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
    BaselineResult,
    DiffResult,
    DownResult,
    Event,
    MigrateResult,
    NewResult,
    RepairChange,
    RepairResult,
    RunItem,
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
    "RepairChange",
    "RepairResult",
    "RunItem",
    "SeedFailed",
    "SeedInvalid",
    "SeedResult",
    "SeedTableResult",
    "Settings",
    "SqlmigError",
    "StatusResult",
    "ValidateResult",
    "WriteFailed",
    "__version__",
]
