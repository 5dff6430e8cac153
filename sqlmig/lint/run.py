"""One lint: the files in run order, checked with what is known of their tables, then graded by
size and settings and held against the waivers next to each statement; pure but for `facts`, the
callback that asks the database about the tables the findings name."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, NamedTuple

from ..errors import Problem
from ..migrations import Migration, SqlFile
from ..results import LintFinding, LintResult, LintSeverity
from ..scanner import split_statements
from . import waivers
from .check import Checked, ColumnFacts, Context, Hit, check_file
from .rules import BY_CODE, SEVERITIES, Rule
from .sql import Name

if TYPE_CHECKING:
    from ..db.table_facts import TableFacts

FactsReader = Callable[[Sequence[Name]], Mapping[Name, "TableFacts"]]

# A table at least this big (rows, or bytes with its indexes) is large: a lock on it or a rewrite
# of it is felt. Below, a lock is short: the finding is lowered one level; empty, to info.
LARGE_ROWS = 10_000
LARGE_BYTES = 100 * 1024 * 1024

# Down files undo their up for an application rolled back to before it: what they drop or rename
# is what the up added, so these families do not apply to them.
_NOT_FOR_DOWNS = ("application", "reversibility")


class Target(NamedTuple):
    """A file to lint, whether it is an up or a down, and its migration when it belongs to one."""

    file: SqlFile
    direction: str
    migration: Migration | None = None


class Options(NamedTuple):
    fail_on: LintSeverity = "error"
    rules: Mapping[str, str] = {}  # code -> "off" or a severity (the lint_rules setting)
    lock_timeout: bool = False  # the lock_timeout setting is on
    server_version: int | None = None
    default_schema: str = "public"  # the database's current_schema(), where unqualified names are


def lint(
    targets: Sequence[Target],
    *,
    shared: bool,
    context: str,
    options: Options,
    facts: FactsReader | None = None,
) -> LintResult:
    """Findings of `targets` (in run order). `shared`: the up files run as one set, so a table an
    earlier one creates is new for the later ones; otherwise each file stands alone."""
    checked, created = _check(targets, shared, options, {}, None)
    table_facts: Mapping[Name, TableFacts] = {}
    if facts is not None:
        # Asked of the database: the tables findings name, and the tables the files create (one
        # that exists already is not new: a CREATE TABLE IF NOT EXISTS of it, a file already applied).
        named = {h.table for _, c in checked for h in c.hits if h.table is not None} | set(created)
        table_facts = facts(sorted(named, key=_sort_key))
        columns = {n: ColumnFacts(f.types, f.not_null_checked) for n, f in table_facts.items()}
        in_database = [Name(f.schema, f.relname) for f in table_facts.values()]
        checked, _ = _check(targets, shared, options, columns, in_database)
    findings: list[LintFinding] = []
    for target, result in checked:  # in the order the files run; in each, in the order of its lines
        findings.extend(sorted(_findings(target, result, options, table_facts), key=lambda f: (f.line, f.column)))
    return LintResult(tuple(findings), len(targets), context, options.server_version, options.fail_on)


def _sort_key(name: Name) -> tuple[str, str]:
    return (name.schema or "", name.name)


def _check(
    targets: Sequence[Target],
    shared: bool,
    options: Options,
    columns: dict[Name, ColumnFacts],
    in_database: list[Name] | None,
) -> tuple[list[tuple[Target, Checked]], list[Name]]:
    """Each target checked in order, and every table the files create."""

    def fresh() -> Context:
        return Context(
            lock_timeout=options.lock_timeout,
            server_version=options.server_version,
            default_schema=options.default_schema,
            columns=columns,
            in_database=in_database,
        )

    together = fresh()
    out: list[tuple[Target, Checked]] = []
    created: list[Name] = []
    made_by: dict[int, Context] = {}  # id(up file) -> what it created (its tables, types, indexes)
    for target in targets:
        context = together if shared and target.direction == "up" else fresh()
        if target.direction == "down" and target.migration is not None:
            # What the up created is what its down removes: not a table the application uses
            # once it is rolled back to before the up.
            made = made_by.get(id(target.migration.up))
            if made is None:
                made = fresh()
                check_file(target.migration.up, made)
            context.new_tables.extend(made.new_tables)
            context.new_types.extend(made.new_types)
            context.new_indexes.extend(made.new_indexes)
        before = (len(context.new_tables), len(context.new_types), len(context.new_indexes))
        out.append((target, check_file(target.file, context)))
        made = Context(
            new_tables=context.new_tables[before[0] :],
            new_types=context.new_types[before[1] :],
            new_indexes=context.new_indexes[before[2] :],
        )
        created.extend(made.new_tables)
        if target.direction == "up":
            made_by[id(target.file)] = made
    return out, created


def _findings(
    target: Target, checked: Checked, options: Options, table_facts: Mapping[Name, TableFacts]
) -> list[LintFinding]:
    path = str(target.file.path)
    hits = [h for h in checked.hits if _applies(h, target)]
    extra: list[LintFinding | None] = []
    migration = target.migration
    if (
        target.direction == "down"
        and migration is not None
        and not checked.statements
        and _has_statements(migration.up)
    ):
        extra.append(_meta("SM402", path, 1, 1, "down", "empty down file", options))
    marks = waivers.read(target.file.sql, checked.statements)
    for mark in marks:
        unknown = [c for c in mark.codes if c not in BY_CODE]
        if unknown or not mark.codes:
            detail = f"unknown code {', '.join(unknown)}" if unknown else "no code after sqlmig:allow"
            extra.append(_meta("SM001", path, mark.line, mark.column, target.direction, detail, options))
        elif not mark.reason:
            detail = f"waiver of {', '.join(mark.codes)} gives no reason"
            extra.append(_meta("SM002", path, mark.line, mark.column, target.direction, detail, options))
    out: list[LintFinding] = [f for f in extra if f is not None]
    for hit in hits:
        rule = BY_CODE[hit.code]
        severity = _severity(rule, hit, options, table_facts)
        if severity is None:
            continue
        facts = table_facts.get(hit.table) if hit.table is not None else None
        covering = waivers.covering(marks, checked.statements, hit.statement, target.file.sql)
        reason = next((w.reason or "(no reason given)" for w in covering if hit.code in w.codes), None)
        out.append(
            LintFinding(
                rule.code,
                rule.name,
                severity,
                path,
                hit.line,
                hit.column,
                target.direction,
                hit.statement.text.split("\n", 1)[0].strip(),
                hit.detail,
                rule.what,
                rule.safe,
                table=facts.qualified if facts is not None else (hit.table.shown() if hit.table else None),
                size=_size(facts) if facts is not None else None,
                waived=reason,
            )
        )
    return out


def _applies(hit: Hit, target: Target) -> bool:
    rule = BY_CODE[hit.code]
    if target.direction == "down":
        return rule.family not in _NOT_FOR_DOWNS
    if hit.code == "SM401":  # only an up whose down claims to undo it
        return target.migration is not None and _has_statements(target.migration.down)
    return True


def _has_statements(file: SqlFile) -> bool:
    return any(s.words(1) for s in split_statements(file.sql))


def _meta(
    code: str, path: str, line: int, column: int, direction: str, detail: str, options: Options
) -> LintFinding | None:
    """A finding about the file itself (a waiver, an empty down), not about one statement's table;
    None when the rule is off."""
    rule = BY_CODE[code]
    setting = options.rules.get(code, rule.severity)
    if setting == "off":
        return None
    severity = _as_severity(setting)
    return LintFinding(code, rule.name, severity, path, line, column, direction, "", detail, rule.what, rule.safe)


def _severity(rule: Rule, hit: Hit, options: Options, table_facts: Mapping[Name, TableFacts]) -> LintSeverity | None:
    """The rule's severity (or the setting's), lowered for a small table (unless the statement
    fails on any row), to info for an empty one,
    and one level when the rule could not be sure without the database; None: the rule is off."""
    setting = options.rules.get(rule.code, rule.severity)
    if setting == "off":
        return None
    level = SEVERITIES.index(_as_severity(setting))
    facts = table_facts.get(hit.table) if hit.table is not None else None
    if rule.graded and facts is not None:
        size = size_class(facts)
        if size == "empty":
            level = 0
        elif size == "small" and not rule.fails_with_rows:  # a lock is short on a small table; a failure is not
            level = max(level - 1, 0)
    if hit.uncertain:
        level = max(level - 1, 0)
    return SEVERITIES[level]


def _as_severity(value: str) -> LintSeverity:
    for s in SEVERITIES:
        if s == value:
            return s
    raise ValueError(value)


def size_class(facts: TableFacts) -> str | None:
    """ "empty", "small" or "large"; None when the size is unknown (a partitioned table)."""
    if facts.kind not in ("r", "m"):
        return None
    if facts.rows == 0:
        return "empty"
    if (facts.rows is not None and facts.rows >= LARGE_ROWS) or facts.total_bytes >= LARGE_BYTES:
        return "large"
    return "small"


def _size(facts: TableFacts) -> str:
    if facts.rows == 0:
        return "empty"
    if facts.rows is None:
        rows = "rows unknown"
    else:
        rows = f"{'at least' if facts.rows_counted else 'about'} {facts.rows:,} rows"
    return f"{rows}, {_bytes(facts.total_bytes)}"


def _bytes(n: int) -> str:
    size = float(n)
    for unit in ("bytes", "kB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TB"


def as_problem(finding: LintFinding) -> Problem:
    """A finding as a problem of migrate's refusal under the lint setting (or one of its warnings)."""
    size = f" ({finding.size})" if finding.size else ""
    return Problem(
        finding.where,
        f"{finding.severity} {finding.code} {finding.name}: {finding.detail}{size}: {finding.message}",
        f"safe: {finding.safe}",
    )
