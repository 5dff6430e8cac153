"""The schema as a comparable record (Snapshot) and what differs between two of them (compare).

verify proves a down migration undoes its up by comparing snapshots taken before the up and after
the down; dump renders one (schema_file.py); a drift check compares the database with what the
migrations build. The catalog is read in db/snapshot.py; everything here is pure, so comparison
rules are tested without a server.

An object is a (kind, name) key with a flat mapping of attribute names to text values. An absent
attribute means "none" (no default, no comment, default privileges), so a DDL statement and its
exact inverse give equal snapshots.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import NamedTuple


class ObjectKey(NamedTuple):
    """One object's identity: its kind and its qualified name, identifiers quoted only where
    PostgreSQL would need it (public.users, public.users.email, public.f(integer))."""

    kind: str
    name: str


class Snapshot(NamedTuple):
    """Every object of a database's schema with its attributes as text, sorted: two snapshots of
    the same schema are equal (==), whatever the OIDs."""

    objects: Mapping[ObjectKey, Mapping[str, str]]


class Difference(NamedTuple):
    """One thing that differs: an object on one side only (attribute None), or one attribute.

    A constraint or index whose generated name alone changed is one Difference named by its old
    key, attribute "name", before and after its own (unqualified) names, cosmetic."""

    kind: str
    name: str
    attribute: str | None
    before: str | None
    after: str | None
    cosmetic: bool  # cannot change behaviour: column order, a generated constraint or index name

    def describe(self, added: str = "added", removed: str = "dropped") -> str:
        """One line; verify words existence as "exists after down" / "missing after down"."""
        if self.attribute is None:
            return f"{self.kind} {self.name}: {added if self.before is None else removed}"
        return f"{self.kind} {self.name}: {self.attribute} {self.before or 'none'} → {self.after or 'none'}"

    def to_dict(self) -> dict[str, object]:
        return {
            "kind": self.kind,
            "name": self.name,
            "attribute": self.attribute,
            "before": self.before,
            "after": self.after,
            "cosmetic": self.cosmetic,
        }


def snapshot_of(objects: Mapping[ObjectKey, Mapping[str, str]]) -> Snapshot:
    """A Snapshot with objects and attributes in sorted order, so iteration (render) is stable;
    read-only views, so a snapshot taken before a migration cannot be edited by what reads it."""
    return Snapshot(
        MappingProxyType({key: MappingProxyType(dict(sorted(objects[key].items()))) for key in sorted(objects)})
    )


def compare(before: Snapshot, after: Snapshot) -> list[Difference]:
    """Everything that differs from before to after, sorted; [] when the schemas are equal."""
    if before.objects == after.objects:  # the common case in verify, decided without a loop here
        return []
    found: list[Difference] = []
    gone = [k for k in before.objects if k not in after.objects]
    new = [k for k in after.objects if k not in before.objects]
    renamed_from, renamed_to = _generated_renames(before, after, gone, new)
    for old, renamed in renamed_from.items():
        found.append(Difference(old.kind, old.name, "name", _last_part(old.name), _last_part(renamed.name), True))
    # A table on one side only is one difference: its columns, constraints, indexes, triggers,
    # policies and owned sequences come and go with it, and listing each would bury the point.
    tables_gone = {k.name for k in gone if k.kind in _TABLE_KINDS}
    tables_new = {k.name for k in new if k.kind in _TABLE_KINDS}
    for key in gone:
        if key not in renamed_from and _owner_of(key, before.objects[key]) not in tables_gone:
            found.append(Difference(key.kind, key.name, None, key.name, None, False))
    for key in new:
        if key not in renamed_to and _owner_of(key, after.objects[key]) not in tables_new:
            found.append(Difference(key.kind, key.name, None, None, key.name, False))
    for key, was in before.objects.items():
        now = after.objects.get(key)
        if now is None:
            continue
        for attribute in sorted(was.keys() | now.keys()):
            a, b = was.get(attribute), now.get(attribute)
            if a == b:
                continue
            if attribute == "columns":
                # Columns added or dropped are differences of their own; what is left is their
                # order, which no query that names its columns can see.
                if _same_order(a, b):
                    continue
                found.append(Difference(key.kind, key.name, attribute, a, b, True))
            else:
                cosmetic = attribute == "not null" and _generated_not_null_name_only(a, b)
                found.append(Difference(key.kind, key.name, attribute, a, b, cosmetic))
    return sorted(found, key=lambda d: (d.kind, d.name, d.attribute is not None, d.attribute or ""))


_TABLE_KINDS = ("table", "foreign table", "view", "materialized view")


def _owner_of(key: ObjectKey, attributes: Mapping[str, str]) -> str | None:
    """The table an object belongs to (and is dropped with), if it is part of one."""
    if key.kind in ("column", "constraint", "trigger", "policy"):
        return parent_name(key.name)
    if key.kind == "index":
        return attributes.get("table")
    if key.kind == "sequence" and "owned by" in attributes:
        return parent_name(attributes["owned by"])
    return None


# A NOT NULL constraint's name as PostgreSQL 18 generates it (table_column_not_null, maybe a
# number), shown by the snapshot only when it is not the one the table's present name would give.
_NOT_NULL_NAME = re.compile(r" \(constraint [^()]*_not_null\d*\)$")


def _generated_not_null_name_only(a: str | None, b: str | None) -> bool:
    """Two NOT NULLs that differ only by a name PostgreSQL made up (t_a_not_null, kept by a table
    renamed to u, against u_a_not_null after it was dropped and set again)."""
    return a is not None and b is not None and _NOT_NULL_NAME.sub("", a) == _NOT_NULL_NAME.sub("", b)


def _same_order(a: str | None, b: str | None) -> bool:
    """Column lists (comma-joined names) whose names found in both are in the same order."""
    was, now = (a or "").split(", "), (b or "").split(", ")
    return [n for n in was if n in now] == [n for n in now if n in was]


# A name PostgreSQL makes up for a constraint or index nobody named (ChooseConstraintName,
# ChooseIndexName): the table, maybe columns, a suffix, maybe a number making it unique.
_GENERATED_SUFFIX = r"(_[^.]*)?_(pkey|key|fkey|check|excl|idx|not_null)\d*"


def _looks_generated(name: str, table: str) -> bool:
    return re.fullmatch(re.escape(table) + _GENERATED_SUFFIX, name) is not None


def split_name(name: str) -> list[str]:
    """A qualified name's parts, unquoted: 'public."A.b".c' → ['public', 'A.b', 'c']. A function's
    argument list stays on its last part."""
    parts: list[str] = []
    current: list[str] = []
    i = 0
    while i < len(name):
        ch = name[i]
        if ch == "(":
            current.append(name[i:])
            break
        if ch == '"':
            i += 1
            while i < len(name) and not (name[i] == '"' and name[i + 1 : i + 2] != '"'):
                current.append(name[i])
                i += 2 if name[i] == '"' else 1
            i += 1
        elif ch == ".":
            parts.append("".join(current))
            current = []
            i += 1
        else:
            current.append(ch)
            i += 1
    parts.append("".join(current))
    return parts


def _last_part(name: str) -> str:
    return split_name(name)[-1]


def _generated_renames(
    before: Snapshot, after: Snapshot, gone: list[ObjectKey], new: list[ObjectKey]
) -> tuple[dict[ObjectKey, ObjectKey], dict[ObjectKey, ObjectKey]]:
    """Pairs (removed, added) of constraints or indexes that differ only by a generated name:
    the same table, the same definition (an index's with its own name taken out), both names
    made up by PostgreSQL. Dropping t_a_key and adding the same UNIQUE again as t_a_key1 changes
    nothing a query can see."""
    renamed_from: dict[ObjectKey, ObjectKey] = {}
    renamed_to: dict[ObjectKey, ObjectKey] = {}
    for old in gone:
        if old.kind not in ("constraint", "index"):
            continue
        was = before.objects[old]
        for candidate in new:
            if candidate.kind != old.kind or candidate in renamed_to:
                continue
            now = after.objects[candidate]
            if _without_name(old, was) == _without_name(candidate, now) and _both_generated(old, candidate, was):
                renamed_from[old] = candidate
                renamed_to[candidate] = old
                break
    return renamed_from, renamed_to


def _without_name(key: ObjectKey, attributes: Mapping[str, str]) -> dict[str, str]:
    """An index's attributes with its own name taken out of its definition (CREATE INDEX name ON)."""
    if key.kind != "index" or "definition" not in attributes:
        return dict(attributes)
    written = key.name[_last_dot(key.name) + 1 :]  # as pg_get_indexdef writes it, quotes kept
    definition = attributes["definition"].replace(f" INDEX {written} ON ", " INDEX ON ", 1)
    return {**attributes, "definition": definition}


def parent_name(name: str) -> str:
    """What a qualified name belongs to, as written: public.t for the column public.t.a, public
    for the table public.t ("" for an unqualified name)."""
    return name[: max(_last_dot(name), 0)]


def _last_dot(name: str) -> int:
    """Where the last dot outside double quotes (and before an argument list) is (-1: none)."""
    quoted = False
    last = -1
    for i, ch in enumerate(name):
        if ch == "(" and not quoted:
            break
        if ch == '"':
            quoted = not quoted
        elif ch == "." and not quoted:
            last = i
    return last


def _both_generated(old: ObjectKey, new: ObjectKey, attributes: Mapping[str, str]) -> bool:
    """Both names look like ones PostgreSQL chose for the object's table."""
    if old.kind == "constraint":
        table = split_name(old.name)[-2] if len(split_name(old.name)) >= 2 else ""
    else:
        table = split_name(attributes.get("table", ""))[-1]
    names = (_last_part(old.name), _last_part(new.name))
    return bool(table) and all(_looks_generated(name, table) for name in names)
