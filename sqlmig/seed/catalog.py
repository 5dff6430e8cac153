"""What the catalog says about a seed's target tables: records that db/load fills and the seed modules read."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Column:
    """A column as the catalog describes it; `type` is format_type() output, valid SQL type syntax."""

    name: str
    type: str
    kind: str = "scalar"  # "scalar", "json" (json/jsonb) or "array"
    element_json: bool = False  # json[] / jsonb[]
    not_null: bool = False
    has_default: bool = False  # a default, an identity or a generated value: it may be left out
    identity: str = ""  # "a" (ALWAYS), "d" (BY DEFAULT) or ""
    generated: bool = False
    sequence: str | None = None  # the owned sequence (serial, identity), bumped past seeded values


@dataclass(frozen=True)
class TableInfo:
    """A relation the catalog found for a seed table name."""

    schema: str
    name: str
    relkind: str  # pg_class.relkind: "r" table, "p" partitioned table, "v" view, ...
    columns: tuple[Column, ...]
    primary_key: tuple[str, ...] = ()
    unique_keys: tuple[frozenset[str], ...] = ()  # the primary key too; usable by ON CONFLICT
