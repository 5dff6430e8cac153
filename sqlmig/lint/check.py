"""What each statement of a set of files does to tables that already exist; pure.

Files are read in the order they would run. A table created above (in the same file, or in an
earlier file of the set when the caller says the set runs together) is new: locking or rewriting
it blocks nobody, so it gets no lock finding. That context is what a one-file-at-a-time linter
lacks, and why it either drowns its users in warnings or treats every table as new.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import NamedTuple

from ..migrations import SqlFile
from ..scanner import Statement, split_statements
from .rules import LOCK_MODES
from .sql import Name, View


class Hit(NamedTuple):
    """One rule firing on one statement, before sizes, settings and waivers judge it."""

    code: str
    line: int
    column: int
    statement: Statement
    table: Name | None = None
    detail: str = ""  # what this statement does, in its own names
    uncertain: bool = False  # the rule cannot tell without the database (a type change's old type)


class ColumnFacts(NamedTuple):
    """What the database says of an existing table, for the rules that need more than its name."""

    types: dict[str, str]  # column -> format_type, e.g. "character varying(50)"
    not_null_checked: frozenset[str]  # columns a validated CHECK (col IS NOT NULL) covers


@dataclass
class Context:
    """What is known across the files of one lint: tables and types created so far, checks
    validated so far, and what the settings and the server say."""

    lock_timeout: bool = False  # the lock_timeout setting (or --lock-timeout) is on
    server_version: int | None = None  # server_version_num // 10000; None: unknown
    default_schema: str = "public"  # where an unqualified name is (the database's current_schema())
    columns: dict[Name, ColumnFacts] = field(default_factory=dict)  # from the database, when reachable
    in_database: list[Name] | None = None  # tables the database has now; None: no database
    new_tables: list[Name] = field(default_factory=list)
    new_types: list[Name] = field(default_factory=list)
    new_indexes: list[Name] = field(default_factory=list)
    if_absent: list[Name] = field(default_factory=list)  # created with IF NOT EXISTS: no error if there
    dropped: list[Name] = field(default_factory=list)
    not_null_checks: dict[tuple[Name, str], str] = field(default_factory=dict)  # (table, constraint) -> column
    not_null_validated: set[tuple[Name, str]] = field(default_factory=set)  # (table, column)

    def same(self, a: Name, b: Name) -> bool:
        return a.matches(b, self.default_schema)

    def is_new(self, table: Name) -> bool:
        return any(self.same(table, t) for t in self.new_tables)

    def created(self, table: Name) -> None:
        """A CREATE TABLE: new, unless the database already has that table (CREATE TABLE IF NOT
        EXISTS of it, or a file already applied) and nothing above dropped it."""
        known = self.in_database is not None and any(self.same(table, t) for t in self.in_database)
        if not known or any(self.same(table, d) for d in self.dropped):
            self.new_tables.append(table)

    def facts(self, table: Name) -> ColumnFacts | None:
        for known, facts in self.columns.items():
            if self.same(table, known):
                return facts
        return None


# ALTER TABLE subcommands that take less than ACCESS EXCLUSIVE (PostgreSQL's ALTER TABLE page;
# the truth tests measure each); everything else takes ACCESS EXCLUSIVE.
_WEAKER_SUBCOMMANDS: tuple[tuple[tuple[str, ...], str], ...] = (
    (("VALIDATE", "CONSTRAINT"), "ShareUpdateExclusiveLock"),
    (("ENABLE", "TRIGGER"), "ShareRowExclusiveLock"),
    (("DISABLE", "TRIGGER"), "ShareRowExclusiveLock"),
    (("ENABLE", "ALWAYS", "TRIGGER"), "ShareRowExclusiveLock"),
    (("ENABLE", "REPLICA", "TRIGGER"), "ShareRowExclusiveLock"),
    (("CLUSTER", "ON"), "ShareUpdateExclusiveLock"),
    (("SET", "WITHOUT", "CLUSTER"), "ShareUpdateExclusiveLock"),
    (("SET", "\0("), "ShareUpdateExclusiveLock"),
    (("RESET", "\0("), "ShareUpdateExclusiveLock"),
    (("ATTACH", "PARTITION"), "ShareUpdateExclusiveLock"),
)

# ALTER TABLE subcommands that write the whole table anew (a copy, like VACUUM FULL).
_REWRITING_SUBCOMMANDS = (("SET", "TABLESPACE"), ("SET", "LOGGED"), ("SET", "UNLOGGED"), ("SET", "ACCESS", "METHOD"))

# Functions whose value differs per row: a DEFAULT calling one fills each existing row, a rewrite.
_VOLATILE = frozenset(
    {
        "random", "random_normal", "clock_timestamp", "timeofday", "gen_random_uuid", "uuid_generate_v1",
        "uuid_generate_v1mc", "uuid_generate_v4", "uuidv4", "uuidv7", "nextval", "txid_current", "setseed",
        "gen_random_bytes", "pg_backend_pid",
    }
)  # fmt: skip
# First words of the statements a rule looks at; CREATE only of these objects.
_HANDLED = frozenset({"TRUNCATE", "CLUSTER", "VACUUM", "REFRESH", "LOCK", "UPDATE", "DELETE", "WITH", "REINDEX", "DO"})
_CREATED = frozenset({"INDEX", "TABLE", "VIEW", "TYPE"})
# PL/pgSQL block words blanked out of a DO body so the statements between them split as SQL.
_BLOCK_WORDS = re.compile(r"(?i)\b(?:begin|end|declare)\b")
_SERIALS = frozenset({"SMALLSERIAL", "SERIAL", "BIGSERIAL", "SERIAL2", "SERIAL4", "SERIAL8"})
_VARCHAR = re.compile(r"^(?:character varying|varchar)(?:\((\d+)\))?$")
_NUMERIC = re.compile(r"^(?:numeric|decimal)(?:\((\d+)(?:,\s*(\d+))?\))?$")


class Checked(NamedTuple):
    """One file's statements and the hits among them."""

    statements: list[Statement]
    hits: list[Hit]


def check_file(file: SqlFile, context: Context) -> Checked:
    """Every hit in one file; tables, types and checks it creates are added to `context`."""
    return _FileCheck(file, context).run()


class _FileCheck:
    """One file, statement by statement."""

    def __init__(self, file: SqlFile, context: Context) -> None:
        self.file = file
        self.context = context
        self.transactional = not file.directives.no_transaction
        timeout = file.directives.lock_timeout
        self.lock_timeout = context.lock_timeout or (timeout is not None and not _is_zero(timeout))
        self.hits: list[Hit] = []
        self.altered: list[Name] = []  # existing tables this file's DDL changed (SM302)
        self.labels: dict[str, Name] = {}  # enum labels added to existing types in this transaction (SM303)
        self.enclosing: Statement | None = None  # the DO statement whose body is being checked

    def run(self) -> Checked:
        statements = split_statements(self.file.sql)
        concurrent: list[Statement] = []
        count = 0
        for stmt in statements:
            # The first words decide whether a statement can concern any rule: tokenizing only
            # those keeps a file of function bodies and INSERTs as cheap as splitting it.
            words = stmt.words(4)
            if not words:
                continue
            count += 1
            if self.labels:
                self._labels_used(View(stmt))
            if self._concerns(words, stmt):
                self._statement(View(stmt))
            if words[0] in ("SET", "RESET"):
                count -= 1  # harmless to run again: no reason to keep CREATE INDEX CONCURRENTLY apart
            if words[0] == "CREATE" and "CONCURRENTLY" in words and "INDEX" in words:
                concurrent.append(stmt)
        if concurrent and count > 1:
            for stmt in concurrent:
                self._hit("SM304", stmt, None, "CREATE INDEX CONCURRENTLY shares its file with other statements")
        return Checked(statements, self.hits)

    def _concerns(self, words: tuple[str, ...], stmt: Statement) -> bool:
        first = words[0]
        if first == "CREATE":
            return any(w in _CREATED for w in words[1:])
        if first == "INSERT":
            return bool(self.altered)  # SM302 only
        if first in ("SET", "RESET"):
            return "LOCK_TIMEOUT" in words or words[1:2] == ("ALL",)
        if first in ("ALTER", "DROP"):
            return words[1:2] in (("TABLE",), ("TYPE",), ("INDEX",))
        if first == "SELECT":  # SELECT ... INTO a new table; set_config('lock_timeout', ...)
            lowered = stmt.text.lower()
            return "into" in lowered or "set_config" in lowered
        return first in _HANDLED

    # ---- helpers -------------------------------------------------------------------------------

    def _hit(
        self,
        code: str,
        stmt: Statement,
        table: Name | None,
        detail: str = "",
        *,
        at: tuple[int, int] | None = None,
        uncertain: bool = False,
    ) -> None:
        line, column = at if at is not None else (stmt.line, stmt.column)
        # A statement of a DO block is waived, and shown, as the DO statement it is part of.
        self.hits.append(Hit(code, line, column, self.enclosing or stmt, table, detail, uncertain))

    def _exclusive(self, view: View, table: Name, at: tuple[int, int] | None = None) -> None:
        """An ACCESS EXCLUSIVE lock on an existing table, with no lock_timeout: SM112."""
        if not self.lock_timeout:
            self._hit("SM112", view.statement, table, f"ACCESS EXCLUSIVE lock on {table.shown()}", at=at)

    def _existing(self, table: Name | None) -> bool:
        return table is not None and not self.context.is_new(table)

    # ---- statements ----------------------------------------------------------------------------

    def _statement(self, view: View) -> None:
        first = view.words[0]
        handler = {
            "CREATE": self._create,
            "ALTER": self._alter,
            "DROP": self._drop,
            "TRUNCATE": self._truncate,
            "CLUSTER": self._cluster,
            "VACUUM": self._vacuum,
            "REFRESH": self._refresh,
            "LOCK": self._lock,
            "UPDATE": self._write,
            "DELETE": self._write,
            "INSERT": self._write,
            "SET": self._set,
            "RESET": self._set,
            "WITH": self._with,
            "SELECT": self._select,
            "REINDEX": self._reindex,
            "DO": self._do,
        }.get(first)
        if handler is not None:
            handler(view)

    def _create(self, view: View) -> None:
        i = view.skip(1, "OR", "REPLACE")
        i = view.skip(view.skip(i, "UNIQUE"), "GLOBAL")
        i = view.skip(i, "LOCAL")
        for word in ("TEMP", "TEMPORARY", "UNLOGGED", "RECURSIVE"):
            i = view.skip(i, word)
        if view.at(i, "INDEX"):
            self._create_index(view, i + 1)
            return
        if view.at(i, "MATERIALIZED", "VIEW"):
            i += 1
        if view.at(i, "TABLE") or view.at(i, "VIEW"):
            name, _ = view.name(view.skip(i + 1, "IF", "NOT", "EXISTS"))
            if name is not None:
                self.context.created(name)
                if view.at(i + 1, "IF", "NOT", "EXISTS"):
                    self.context.if_absent.append(name)
        elif view.at(i, "TYPE"):
            name, _ = view.name(i + 1)
            if name is not None:
                self.context.new_types.append(name)

    def _create_index(self, view: View, i: int) -> None:
        concurrently = view.at(i, "CONCURRENTLY")
        on = view.find("ON", i)
        if on < 0:
            return
        name, _ = view.name(view.skip(view.skip(i, "CONCURRENTLY"), "IF", "NOT", "EXISTS"))
        if name is not None and name.name != "on":
            self.context.new_indexes.append(name)
        if concurrently:
            return
        table, _ = view.name(view.skip(on + 1, "ONLY"))
        if self._existing(table):
            assert table is not None
            self._hit("SM101", view.statement, table, f"CREATE INDEX on {table.shown()}")

    def _alter(self, view: View) -> None:
        if view.at(1, "TYPE"):
            self._alter_type(view)
            return
        if not view.at(1, "TABLE") or view.at(2, "ALL"):
            return
        i = view.skip(view.skip(2, "IF", "EXISTS"), "ONLY")
        table, i = view.name(i)
        if table is None:
            return
        if i < len(view) and view.tokens[i].text == "*":
            i += 1
        existing = self._existing(table)
        exclusive_at: tuple[int, int] | None = None
        for start, stop in view.split(i):
            lock = self._subcommand(view, table, start, stop, existing)
            if lock == "AccessExclusiveLock" and exclusive_at is None:
                exclusive_at = view.position(start)
        if existing:
            self.altered.append(table)
            if exclusive_at is not None:
                self._exclusive(view, table)

    def _subcommand(self, view: View, table: Name, start: int, stop: int, existing: bool) -> str:
        """Hits of one ALTER TABLE subcommand; returns the lock mode it takes."""
        at = view.position(start)
        stmt = view.statement
        words = view.words
        if view.at(start, "RENAME"):
            j = start + 1
            if view.at(j, "TO"):
                new, _ = view.name(j + 1)
                if not existing and new is not None:
                    self.context.new_tables.append(Name(table.schema, new.name))
                elif existing:
                    self._hit("SM203", stmt, table, f"{table.shown()} renamed", at=at)
            elif not view.at(j, "CONSTRAINT") and existing:
                column, _ = view.name(view.skip(j, "COLUMN"))
                shown = column.name if column else "?"
                self._hit("SM204", stmt, table, f"column {table.shown()}.{shown} renamed", at=at)
            return "AccessExclusiveLock"
        rewriting = next((" ".join(k) for k in _REWRITING_SUBCOMMANDS if view.at(start, *k)), None)
        if rewriting is not None:
            if existing:
                self._hit("SM109", stmt, table, f"{rewriting} of {table.shown()}", at=at)
            return "AccessExclusiveLock"
        for keywords, mode in _WEAKER_SUBCOMMANDS:
            if view.at(start, *keywords):
                if keywords[0] == "VALIDATE":
                    name, _ = view.name(start + 2)
                    for (on, constraint), checked in self.context.not_null_checks.items():
                        if name is not None and constraint == name.name and self.context.same(table, on):
                            self.context.not_null_validated.add((table, checked))
                return mode
        if view.at(start, "ALTER"):
            j = view.skip(start + 1, "COLUMN")
            column, j = view.name(j)
            if column is None:
                return "AccessExclusiveLock"
            if view.at(j, "SET", "STATISTICS") or view.at(j, "SET", "\0(") or view.at(j, "RESET", "\0("):
                return "ShareUpdateExclusiveLock"
            if existing:
                self._alter_column(view, table, column.name, j, stop, at)
            return "AccessExclusiveLock"
        if view.at(start, "ADD"):
            return self._add(view, table, start + 1, stop, existing, at)
        if view.at(start, "DROP"):
            j = start + 1
            if not view.at(j, "CONSTRAINT") and existing and words[j : j + 1] != ("\0(",):
                j = view.skip(view.skip(j, "COLUMN"), "IF", "EXISTS")
                column, _ = view.name(j)
                if column is not None and column.name not in ("constraint",):
                    detail = f"column {table.shown()}.{column.name} dropped"
                    self._hit("SM201", stmt, table, detail, at=at)
                    self._hit("SM401", stmt, table, detail, at=at)
            return "AccessExclusiveLock"
        if view.at(start, "DETACH", "PARTITION") and view.has("CONCURRENTLY", start, stop):
            return "ShareUpdateExclusiveLock"
        return "AccessExclusiveLock"

    def _alter_column(
        self, view: View, table: Name, column: str, j: int, stop: int, at: tuple[int, int], *, not_null: bool = False
    ) -> None:
        stmt = view.statement
        where = f"{table.shown()}.{column}"
        if not_null or view.at(j, "SET", "NOT", "NULL"):
            facts = self.context.facts(table)
            checked = any(self.context.same(table, t) and c == column for t, c in self.context.not_null_validated)
            checked = checked or (facts is not None and column in facts.not_null_checked)
            version = self.context.server_version
            if not checked or (version is not None and version < 12):  # 12 first skips the scan for a CHECK
                self._hit("SM105", stmt, table, f"SET NOT NULL on {where}", at=at)
        elif view.at(j, "DROP", "DEFAULT"):
            self._hit("SM206", stmt, table, f"default of {where} dropped", at=at)
        elif view.at(j, "TYPE") or view.at(j, "SET", "DATA", "TYPE"):
            k = j + 1 if view.at(j, "TYPE") else j + 3
            using = view.find("USING", k, stop)
            new_type = " ".join(view.text(k, using if using >= 0 else stop).split())
            facts = self.context.facts(table)
            old_type = facts.types.get(column) if facts is not None else None
            if old_type is not None:
                if using < 0 and _coercible(old_type, new_type):
                    return
                self._hit("SM104", stmt, table, f"{where}: {old_type} to {new_type}", at=at)
            else:
                maybe_safe = bool(_VARCHAR.match(new_type.lower()) or _NUMERIC.match(new_type.lower()))
                maybe_safe = maybe_safe or new_type.lower() in ("text", "varbit", "bit varying")
                self._hit("SM104", stmt, table, f"{where} to {new_type}", at=at, uncertain=maybe_safe and using < 0)

    def _add(self, view: View, table: Name, j: int, stop: int, existing: bool, at: tuple[int, int]) -> str:
        stmt = view.statement
        words = view.words
        if view.at(j, "CONSTRAINT"):
            constraint, j = view.name(j + 1)
        else:
            constraint = None
        kind = words[j] if j < stop else ""
        not_valid = any(view.at(k, "NOT", "VALID") for k in view.top_level(j, stop))
        if view.at(j, "NOT", "NULL"):  # PostgreSQL 18: ADD [CONSTRAINT n] NOT NULL col, checked like SET NOT NULL
            column, _ = view.name(j + 2)
            if existing and column is not None:
                self._alter_column(view, table, column.name, j - 1, stop, at, not_null=True)
            return "AccessExclusiveLock"
        if kind == "CHECK":
            checked = _not_null_check(view, j + 1, stop)
            if checked is not None and constraint is not None:
                self.context.not_null_checks[(table, constraint.name)] = checked
                if not not_valid:
                    self.context.not_null_validated.add((table, checked))
            if existing and not not_valid:
                self._hit("SM106", stmt, table, f"CHECK on {table.shown()} without NOT VALID", at=at)
            return "AccessExclusiveLock"
        if kind == "FOREIGN":
            if existing and not not_valid:
                self._hit("SM106", stmt, table, f"FOREIGN KEY on {table.shown()} without NOT VALID", at=at)
            return "ShareRowExclusiveLock"
        if kind in ("UNIQUE", "PRIMARY", "EXCLUDE"):
            after = j + 2 if kind == "PRIMARY" else j + 1
            with_index = view.at(after, "USING", "INDEX") and not view.at(after + 2, "TABLESPACE")
            if existing and not with_index:
                label = "PRIMARY KEY" if kind == "PRIMARY" else kind
                self._hit("SM107", stmt, table, f"{label} on {table.shown()} builds its index", at=at)
            return "AccessExclusiveLock"
        if existing:
            k = view.skip(view.skip(j, "COLUMN"), "IF", "NOT", "EXISTS")
            self._add_column(view, table, k, stop, at)
        return "AccessExclusiveLock"

    def _add_column(self, view: View, table: Name, k: int, stop: int, at: tuple[int, int]) -> None:
        stmt = view.statement
        words = view.words
        column, k = view.name(k)
        if column is None:
            return
        where = f"{table.shown()}.{column.name}"
        has_default = view.find("DEFAULT", k, stop) >= 0
        generated = view.find("GENERATED", k, stop)
        if words[k] in _SERIALS if k < stop else False:
            self._hit("SM108", stmt, table, f"{where} is {view.tokens[k].text}", at=at)
            return
        if generated >= 0:
            if view.at(generated + 1, "ALWAYS", "AS", "IDENTITY") or view.at(generated + 1, "BY", "DEFAULT"):
                self._hit("SM108", stmt, table, f"{where} is an identity column", at=at)
                return
            if view.find("STORED", generated, stop) >= 0:
                self._hit("SM108", stmt, table, f"{where} is a stored generated column", at=at)
                return
        inline = next((i for i in view.top_level(k, stop) if words[i] in ("UNIQUE", "PRIMARY")), None)
        if inline is not None:
            label = "PRIMARY KEY" if words[inline] == "PRIMARY" else "UNIQUE"
            self._hit("SM107", stmt, table, f"{where} is {label}: its index is built", at=at)
        if has_default:
            d = view.find("DEFAULT", k, stop)
            calls = [
                view.words[i].lower()
                for i in range(d + 1, stop)
                if view.tokens[i].kind == "word" and i + 1 < stop and view.tokens[i + 1].text == "("
            ]
            volatile = sorted({c for c in calls if c in _VOLATILE})
            version = self.context.server_version
            if volatile:
                self._hit("SM103", stmt, table, f"{where} defaults to {volatile[0]}()", at=at)
            elif version is not None and version < 11:
                self._hit("SM103", stmt, table, f"{where} has a DEFAULT (PostgreSQL {version})", at=at)
        nullable_not = any(view.at(i, "NOT", "NULL") for i in view.top_level(k, stop))
        if nullable_not and not has_default:
            self._hit("SM102", stmt, table, f"{where} is NOT NULL without a default", at=at)

    def _alter_type(self, view: View) -> None:
        name, i = view.name(2)
        if name is None or any(self.context.same(name, t) for t in self.context.new_types):
            return
        if view.at(i, "RENAME", "VALUE"):
            self._hit("SM205", view.statement, None, f"a label of {name.shown()} renamed")
        elif view.at(i, "ADD", "VALUE") and self.transactional:
            j = view.skip(i + 2, "IF", "NOT", "EXISTS")
            if j < len(view) and view.tokens[j].kind == "string":
                self.labels[view.tokens[j].text] = name

    def _labels_used(self, view: View) -> None:
        if not self.labels or view.at(0, "ALTER", "TYPE") or view.at(0, "COMMENT"):
            return
        for token in view.tokens:
            if token.kind == "string" and token.text in self.labels:
                type_name = self.labels[token.text].shown()
                detail = f"label {token.text} of {type_name} is used in the transaction that added it"
                self._hit("SM303", view.statement, None, detail, at=(token.line, token.column))
                return

    def _drop(self, view: View) -> None:
        if view.at(1, "INDEX"):
            if not view.at(2, "CONCURRENTLY"):
                for index in view.names(view.skip(2, "IF", "EXISTS")):
                    if not any(self.context.same(index, n) for n in self.context.new_indexes):
                        detail = f"DROP INDEX {index.shown()}: ACCESS EXCLUSIVE lock on its table"
                        self._hit("SM113", view.statement, None, detail)
            return
        if not view.at(1, "TABLE"):
            return
        for table in view.names(view.skip(2, "IF", "EXISTS")):
            self.context.dropped.append(table)
            if self._existing(table):
                self._hit("SM202", view.statement, table, f"{table.shown()} dropped")
                self._hit("SM401", view.statement, table, f"{table.shown()} dropped")
                self._exclusive(view, table)

    def _truncate(self, view: View) -> None:
        for table in view.names(view.skip(1, "TABLE")):
            if self._existing(table):
                self._hit("SM401", view.statement, table, f"{table.shown()} truncated")
                self._exclusive(view, table)

    def _cluster(self, view: View) -> None:
        i = view.skip(view.skip(1, "VERBOSE"), "\0(")
        table, _ = view.name(i)
        if table is None or table.name == "verbose":
            self._hit("SM109", view.statement, None, "CLUSTER of every clustered table")
        elif self._existing(table):
            self._hit("SM109", view.statement, table, f"CLUSTER {table.shown()}")
            self._exclusive(view, table)

    def _vacuum(self, view: View) -> None:
        if view.at(1, "\0("):  # VACUUM (FULL, VERBOSE) t: FULL among the options, not turned off
            close = next((i for i in range(len(view)) if view.tokens[i].text == ")"), len(view))
            options = view.words[2:close]
            full = any(
                w == "FULL" and tuple(options[k + 1 : k + 2]) not in (("FALSE",), ("OFF",), ("0",))
                for k, w in enumerate(options)
            )
        else:
            close, full = 1, view.at(1, "FULL")
        if not full:
            return
        tables = view.names(view.skip(view.skip(view.skip(close + 1, "FREEZE"), "VERBOSE"), "ANALYZE"))
        targets = [t for t in tables if self._existing(t)] if tables else [None]
        for table in targets:
            shown = table.shown() if table else "every table of the database"
            self._hit("SM109", view.statement, table, f"VACUUM FULL of {shown}")
            if table is not None:
                self._exclusive(view, table)

    def _refresh(self, view: View) -> None:
        if not view.at(1, "MATERIALIZED", "VIEW") or view.at(3, "CONCURRENTLY"):
            return
        table, _ = view.name(3)
        if self._existing(table):
            assert table is not None
            self._hit("SM110", view.statement, table, f"REFRESH of {table.shown()}")
            self._exclusive(view, table)

    def _lock(self, view: View) -> None:
        i = view.skip(1, "TABLE")
        tables = [t for t in view.names(i) if self._existing(t)]
        if not tables:
            return
        in_at = view.find("IN")
        mode = "AccessExclusiveLock"
        if in_at >= 0:
            mode_end = view.find("MODE", in_at)
            words = view.words[in_at + 1 : mode_end if mode_end >= 0 else None]
            mode = "".join(w.capitalize() for w in words) + "Lock"
        if mode not in LOCK_MODES or LOCK_MODES.index(mode) < LOCK_MODES.index("ShareLock"):
            return  # blocks neither reads nor writes (an unknown mode: the server will say)
        for table in tables:
            self._hit("SM111", view.statement, table, f"LOCK {table.shown()} in {mode}")
            if mode == "AccessExclusiveLock" and not view.has("NOWAIT"):
                self._exclusive(view, table)

    def _write(self, view: View, start: int = 0, stop: int | None = None) -> None:
        """UPDATE, DELETE or INSERT at `start` (up to `stop`: a data-modifying WITH query's end)."""
        first = view.words[start]
        if first == "UPDATE":
            table, _ = view.name(view.skip(start + 1, "ONLY"))
        elif first == "DELETE":
            table, _ = view.name(view.skip(view.skip(start + 1, "FROM"), "ONLY"))
        else:
            table, _ = view.name(view.skip(start + 1, "INTO"))
        if not self._existing(table):
            return
        assert table is not None
        if first != "INSERT" and view.find("WHERE", start, stop) < 0:
            self._hit("SM301", view.statement, table, f"{first} of every row of {table.shown()}")
            if first == "DELETE":
                self._hit("SM401", view.statement, table, f"every row of {table.shown()} deleted")
        if self.transactional and any(self.context.same(table, t) for t in self.altered):
            self._hit("SM302", view.statement, table, f"{first} of {table.shown()} after its schema change")

    def _with(self, view: View) -> None:
        """WITH queries: the main statement after them, and each data-modifying one inside them."""
        for i in range(1, len(view)):
            if view.words[i] in ("UPDATE", "DELETE", "INSERT") and view.tokens[i - 1].text == "(":
                self._write(view, i, _matching_paren(view, i - 1))
        main = next((i for i in view.top_level(1) if view.words[i] in ("UPDATE", "DELETE", "INSERT", "SELECT")), -1)
        if main >= 0 and view.words[main] != "SELECT":
            self._write(view, main)

    def _select(self, view: View) -> None:
        """SELECT ... INTO creates a table; SELECT set_config('lock_timeout', ...) sets the timeout."""
        into = view.find("INTO")
        if into >= 0:
            i = into + 1
            for word in ("TEMPORARY", "TEMP", "UNLOGGED", "TABLE"):
                i = view.skip(i, word)
            name, _ = view.name(i)
            if name is not None:
                self.context.created(name)
        for i in range(len(view) - 2):
            if view.words[i] == "SET_CONFIG" and view.tokens[i + 2].text.lower() == "'lock_timeout'":
                args = view.split(i + 2, _matching_paren(view, i + 1))
                value = view.text(*args[1]).strip("'") if len(args) > 1 else ""
                local = len(args) > 2 and view.text(*args[2]).lower() in ("true", "'t'", "'true'", "'on'")
                if not (local and not self.transactional):
                    self.lock_timeout = not _is_zero(value)

    def _reindex(self, view: View) -> None:
        i = view.skip(1, "\0(")
        if i > 1:
            i = _matching_paren(view, 1) + 1
        what = view.words[i] if i < len(view) else ""
        if view.at(i + 1, "CONCURRENTLY") or what not in ("TABLE", "INDEX", "SCHEMA"):
            return  # DATABASE and SYSTEM cannot run in a transaction: file_checks refuses them there
        name, _ = view.name(i + 1)
        if name is None:
            return
        if what == "TABLE" and self._existing(name):
            self._hit("SM113", view.statement, name, f"REINDEX TABLE {name.shown()}: SHARE lock while it rebuilds")
        elif what == "INDEX" and not any(self.context.same(name, n) for n in self.context.new_indexes):
            self._hit("SM113", view.statement, None, f"REINDEX INDEX {name.shown()}: SHARE lock on its table")
        elif what == "SCHEMA":
            self._hit("SM113", view.statement, None, f"REINDEX SCHEMA {name.shown()}: SHARE lock on each table")

    def _do(self, view: View) -> None:
        """A DO block runs at migration time: the statements of its body (a dollar-quoted PL/pgSQL
        block) are checked like the file's, at their own file:line:column. EXECUTE of a string and
        statements under IF or LOOP are not read."""
        body = next((t for t in view.tokens if t.kind == "dollar_string"), None)
        if body is None:
            return
        tag_end = body.text.index("$", 1) + 1
        inner = body.text[tag_end : len(body.text) - tag_end]
        blanked = _BLOCK_WORDS.sub(lambda m: " " * len(m.group()), inner)
        base_line = body.line + body.text.count("\n", 0, tag_end)
        for stmt in split_statements(blanked):
            words = stmt.words(4)
            if not words or not self._concerns(words, stmt):
                continue
            line = base_line + stmt.line - 1
            column = stmt.column + (body.column + tag_end - 1 if stmt.line == 1 else 0)
            offset = body.start + tag_end
            moved = Statement(stmt.text, offset + stmt.start, offset + stmt.end, line, column)
            self.enclosing = view.statement
            try:
                self._statement(View(moved))
            finally:
                self.enclosing = None

    def _set(self, view: View) -> None:
        if view.at(1, "LOCAL") and not self.transactional:
            return  # outside a transaction block, SET LOCAL ends with its own statement
        i = view.skip(view.skip(1, "LOCAL"), "SESSION")
        if view.words[0] == "RESET":
            if view.at(1, "LOCK_TIMEOUT") or view.at(1, "ALL"):
                self.lock_timeout = self.context.lock_timeout
            return
        if not view.at(i, "LOCK_TIMEOUT"):
            return
        j = i + 1
        if (j < len(view) and view.tokens[j].text == "=") or view.at(j, "TO"):
            j += 1
        value = view.tokens[j].text.strip("'") if j < len(view) else ""
        self.lock_timeout = not _is_zero(value) and value.upper() != "DEFAULT"


def _matching_paren(view: View, open_at: int) -> int:
    """The position of the ')' closing the '(' at `open_at` (the end when unclosed)."""
    depth = 0
    for i in range(open_at, len(view)):
        text = view.tokens[i].text
        if text == "(":
            depth += 1
        elif text == ")":
            depth -= 1
            if depth == 0:
                return i
    return len(view)


def _is_zero(value: str) -> bool:
    digits = value.strip().rstrip("abcdefghijklmnopqrstuvwxyz")
    try:
        return float(digits) == 0
    except ValueError:
        return False


def _not_null_check(view: View, j: int, stop: int) -> str | None:
    """The column of `CHECK (col IS NOT NULL)`, else None."""
    if not (j < stop and view.tokens[j].text == "("):
        return None
    column, k = view.name(j + 1)
    if column is None or column.schema is not None:
        return None
    if view.at(k, "IS", "NOT", "NULL") and k + 3 < len(view) and view.tokens[k + 3].text == ")":
        return column.name
    return None


# Type names as written in a migration, as format_type() spells them.
_TYPE_ALIASES = {
    "int": "integer", "int4": "integer", "int8": "bigint", "int2": "smallint", "bool": "boolean",
    "float8": "double precision", "float4": "real", "float": "double precision", "decimal": "numeric",
    "varchar": "character varying", "char": "character", "timestamptz": "timestamp with time zone",
    "timestamp": "timestamp without time zone", "timetz": "time with time zone",
    "time": "time without time zone", "varbit": "bit varying",
}  # fmt: skip
_TYPE_NAME = re.compile(r"^([a-z0-9_ ]+?)\s*(\(.*\))?$")


def _canonical(type_name: str) -> str:
    """`INT4`, `varchar (20)`, `numeric(10, 2)` as format_type() writes them: `integer`,
    `character varying(20)`, `numeric(10,2)`."""
    text = " ".join(type_name.lower().split())
    match = _TYPE_NAME.match(text)
    if match is None:
        return text
    base, modifier = match.group(1).strip(), (match.group(2) or "").replace(" ", "")
    return _TYPE_ALIASES.get(base, base) + modifier


def _coercible(old: str, new: str) -> bool:
    """True when PostgreSQL changes `old` to `new` without rewriting the table: the same type, a
    varchar made longer or unbounded, varchar to text or back, a numeric given more precision at
    the same scale."""
    old, new = _canonical(old), _canonical(new)
    if old == new:
        return True
    old_v, new_v = _VARCHAR.match(old), _VARCHAR.match(new)
    if old_v and (
        new == "text"
        or (
            new_v
            and (new_v.group(1) is None or (old_v.group(1) is not None and int(new_v.group(1)) >= int(old_v.group(1))))
        )
    ):
        return True
    if old == "text" and new_v and new_v.group(1) is None:
        return True
    old_n, new_n = _NUMERIC.match(old), _NUMERIC.match(new)
    if old_n and new_n:
        if new_n.group(1) is None:
            return True
        if old_n.group(1) is None:
            return False
        old_scale, new_scale = int(old_n.group(2) or 0), int(new_n.group(2) or 0)
        return old_scale == new_scale and int(new_n.group(1)) >= int(old_n.group(1))
    return False
