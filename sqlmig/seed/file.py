"""A seed file read: UTF-8, strict JSON, the shipped schema, then its tables as records.

Nothing here knows the database: a file that passes is only known to be well formed; whether its
tables, columns and values fit the catalog is for the rows module (and the server) to say.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, cast

from ..errors import ConfigError, Problem, SeedInvalid
from .problems import Problems
from .schema import schema_problems
from .strict_json import parse

# What a row whose key is already in the table does (the schema allows exactly these).
OnConflict = Literal["error", "skip", "update", "append"]


@dataclass(frozen=True, eq=False)
class SeedTable:
    """One entry of `tables`: where rows go and what a conflicting key does.

    on_conflict: `error` inserts and lets a duplicate key fail; `skip` and `update` are upserts,
    matching rows by `key`; `append` inserts with no key at all, so every run adds the rows again.
    """

    index: int
    table: str  # as written: "product" or "catalog.product"
    schema: str | None
    name: str
    on_conflict: OnConflict = "error"
    key: tuple[str, ...] | None = None
    rows: Sequence[Mapping[str, Any]] = ()

    @property
    def pointer(self) -> str:
        return f"/tables/{self.index}"

    @property
    def upserts(self) -> bool:
        """Rows are matched by key (INSERT ... ON CONFLICT), not simply inserted (COPY)."""
        return self.on_conflict in ("skip", "update")


@dataclass(frozen=True, eq=False)
class SeedFile:
    """A parsed seed file: valid JSON that fits the schema (the catalog is checked later)."""

    path: Path
    tables: tuple[SeedTable, ...]


def read(path: Path) -> SeedFile:
    """Parse and validate the file against the schema; every problem is reported at once."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(
            f"no seed file at {path}",
            hint="create it, give --file PATH, or set seed_file in sqlmig.toml",
        ) from None
    except OSError as exc:
        raise ConfigError(f"cannot read the seed file {path}: {exc.strerror}") from None
    try:
        text = raw.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise SeedInvalid(
            f"{path} is not UTF-8; nothing was loaded",
            [Problem(f"{path}:{line}:{column}", f"byte 0x{raw[exc.start]:02x} is not UTF-8", "save the file as UTF-8")],
        ) from None
    doc = parse(text, path)
    problems = Problems()
    for problem in schema_problems(doc):
        problems.add(problem)
    problems.raise_if_any(path, "in its structure (see `sqlmig seed --print-schema`)")
    return tables_of(path, doc)


def tables_of(path: Path, doc: Mapping[str, Any]) -> SeedFile:
    """The SeedFile of a document that passed the schema."""
    tables = []
    for index, entry in enumerate(doc["tables"]):
        written = str(entry["table"])
        schema, dot, name = written.partition(".")
        key = entry.get("key")
        tables.append(
            SeedTable(
                index=index,
                table=written,
                schema=schema if dot else None,
                name=name if dot else written,
                on_conflict=cast(OnConflict, entry.get("on_conflict", "error")),  # the schema's enum
                key=tuple(str(k) for k in key) if key is not None else None,
                rows=entry["rows"],
            )
        )
    return SeedFile(path, tuple(tables))
