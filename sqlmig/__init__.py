"""sqlmig: raw-SQL, file-based migrations for PostgreSQL."""

__version__ = "0.1.0"
