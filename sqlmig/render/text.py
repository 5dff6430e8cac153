"""Words and numbers as the human-readable renderers (plain and terminal) write them."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from ..errors import done_verb, plural
from ..migrations import Direction
from ..migrations import label as migration_label
from ..plan import Entry
from ..results import (
    DriftResult,
    LintFinding,
    LintResult,
    MigrateResult,
    MigrationStep,
    MigrationVerdict,
    NotExecuted,
    SeedTableResult,
    VerdictKind,
    VerifyResult,
)
from ..snapshot import Difference

if TYPE_CHECKING:
    from ..lint.rules import Rule


def label(item: MigrationStep) -> str:
    return migration_label(item.version, item.name, item.path)


def ms(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.0f} ms" if value < 10_000 else f"{value / 1000:.1f} s"


def done(item: MigrationStep, direction: Direction) -> tuple[str, str]:
    """'applied 0001_x' and '12 ms': the line each migration gets when its commit returns."""
    return f"{done_verb(direction)} {label(item)}", ms(item.duration_ms)


def would_apply(item: MigrationStep) -> str:
    """A migration a dry run would apply, with its file."""
    return f"would apply {label(item)} ({item.path})"


def rehearsed(item: MigrationStep) -> str:
    """A migration run in a transaction that is rolled back (seed --dry-run, migrate --dry-run --execute)."""
    took = "" if item.duration_ms is None else f", ran in {ms(item.duration_ms)}, rolled back"
    return f"{would_apply(item)}{took}"


def not_rehearsed(n: NotExecuted) -> str:
    return f"not rehearsed {migration_label(n.version, n.name, n.path)} ({n.path}): {n.reason}"


def rehearsal_summary(result: MigrateResult) -> str:
    ran = [i for i in result.applied if i.duration_ms is not None]
    if not result.applied:
        return "nothing to rehearse: the database is up to date"
    said = (
        f"rehearsed {plural(len(ran), 'migration')} in {ms(sum(i.duration_ms or 0 for i in ran))}: rolled back"
        if ran
        else "nothing rehearsed"
    )
    if result.not_executed:
        said += f"; {len(result.not_executed)} not rehearsed (above)"
    return said


def when(e: Entry) -> str:
    if e.applied and e.applied.applied_at:
        return e.applied.applied_at.strftime("%Y-%m-%d %H:%M:%S%z")
    return ""


def config_text(value: object, *, wait: bool = False) -> str:
    """A setting's value in `sqlmig config`: '-' when not set; a wait with no end as 'inf'."""
    if value is None:
        return "inf" if wait else "-"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return f"{value:g}" if isinstance(value, float) else str(value)


def seeded(result: SeedTableResult, dry_run: bool) -> str:
    counts = f"{result.inserted} inserted, {result.skipped} skipped, {result.updated} updated"
    if dry_run:
        return f"would seed {result.table}: {counts}"
    return f"seeded {result.table}: {counts} ({ms(result.duration_ms)})"


# ---- verify ------------------------------------------------------------------------------------

# Each comparison's words for an object on one side only.
_SIDES = {
    "after down": ("exists after down", "missing after down"),
    "after up again": ("exists after up ran again", "missing after up ran again"),
}


def lock_mode(mode: str) -> str:
    """pg_locks' 'AccessExclusiveLock' as the documentation writes it: 'ACCESS EXCLUSIVE'."""
    words = re.findall(r"[A-Z][a-z]*", mode.removesuffix("Lock"))
    return " ".join(words).upper()


def verdict_head(v: MigrationVerdict) -> str:
    """'0002_mood: differs' and, for a failure, where and what the server said."""
    head = f"{migration_label(v.version, v.name, v.path)}: {v.verdict}"
    if v.verdict == VerdictKind.IRREVERSIBLE:
        head += " (its down file has no statement)"
    if v.failure is not None:
        f = v.failure
        head += f"; {f.step} failed at {f.location}: {f.message}"
    return head


def verdict_details(v: MigrationVerdict) -> list[str]:
    """Each difference, what the failure's server said besides its message, the statements that
    lock existing tables ACCESS EXCLUSIVE or rewrite them, and any note: indented under the head."""
    lines: list[str] = []
    if v.failure is not None:
        lines += [f"detail: {v.failure.detail}"] if v.failure.detail else []
        lines += [f"hint: {v.failure.hint}"] if v.failure.hint else []
    for side, found in (("after down", v.after_down), ("after up again", v.after_reup)):
        added, removed = _SIDES[side]
        for d in found:
            lines.append(d.describe(added=added, removed=removed) + (" (cosmetic)" if d.cosmetic else ""))
    for step, path, effects in (("up", v.path, v.up_effects), ("down", v.down_path, v.down_effects)):
        for e in effects:
            said = []
            if e.blocks_everything:
                said.append("takes ACCESS EXCLUSIVE on " + ", ".join(e.blocks_everything))
            if e.rewrites:
                said.append("rewrites " + ", ".join(e.rewrites))
            if said:
                shown = e.statement if len(e.statement) <= 60 else e.statement[:57] + "..."
                lines.append(f"{step} {path}:{e.line}: `{shown}` {' and '.join(said)}")
    if not v.measured:
        lines.append("locks not measured: a file of this pair runs outside a transaction")
    if v.note:
        lines.append(f"note: {v.note}")
    return lines


def nothing_to_verify(scope: str) -> str:
    """Why a verify judged nothing: nothing pending, or no migration at all (--from and --to name
    migrations verify can judge, so a narrowed scope is never empty)."""
    if scope == "pending":
        return "nothing to verify: no migration is pending (--all verifies every one)"
    return "nothing to verify: no migration found"


def verify_summary(result: VerifyResult) -> str:
    what = ", ".join(f"{n} {kind}" for kind, n in result.counts.items())
    first = "" if not result.prepared else f"; {plural(result.prepared, 'earlier migration')} applied first"
    verdict = "ok" if result.ok else "failed"
    return (
        f"verify {verdict}: {plural(len(result.verdicts), 'migration')} ({what}) "
        f"on a scratch database on {result.scratch}{first}"
    )


# ---- drift ---------------------------------------------------------------------------------------


def drift_line(d: Difference) -> str:
    """One difference between the schema the migrations build (before) and the live one (after)."""
    said = d.describe(
        added="in the database, not made by the migrations", removed="made by the migrations, missing from the database"
    )
    return said + (" (cosmetic)" if d.cosmetic else "")


def drift_summary(result: DriftResult) -> str:
    built = f"the schema its {plural(result.applied, 'applied migration')} build"
    if not result.differences:
        return f"no drift: the database has exactly {built}"
    real = sum(not d.cosmetic for d in result.differences)
    if not real:
        return f"no drift: only cosmetic differences from {built}"
    return f"drift: {plural(real, 'difference')} from {built} (on a scratch database on {result.scratch})"


_CONTEXTS = {
    "database": "the pending files, with the database's table sizes",
    "files": "the files given, in the order they run",
    "static": "every file on its own, no database",
}


def lint_head(f: LintFinding) -> str:
    """A finding's first line: where, how bad, which rule, what this statement does (and its table's size)."""
    level = "waived" if f.waived is not None else f.severity
    size = f" ({f.size})" if f.size else ""
    return f"{f.where}: {level} {f.code} {f.name}: {f.detail}{size}"


def lint_details(f: LintFinding) -> list[str]:
    """What happens and the safe way; for a waived finding, the reason given instead."""
    if f.waived is not None:
        return [f"reason: {f.waived}"]
    return [f.message, f"safe: {f.safe}"]


def lint_summary(result: LintResult) -> str:
    c = result.counts
    counts = ", ".join(
        [plural(c["error"], "error"), plural(c["warning"], "warning"), f"{c['info']} info", f"{c['waived']} waived"]
    )
    version = f"; PostgreSQL {result.server_version}" if result.server_version else ""
    verdict = "ok" if result.ok else f"{plural(len(result.failing), 'finding')} at {result.fail_on} or above"
    return f"lint: {verdict}: {counts} in {plural(result.files, 'file')} ({_CONTEXTS[result.context]}{version})"


def github_annotation(f: LintFinding) -> str:
    """A GitHub Actions workflow command: the finding as an annotation on the pull request's line."""
    level = {"error": "error", "warning": "warning", "info": "notice"}[f.severity]
    size = f" ({f.size})" if f.size else ""
    props = f"file={_gh_prop(_repo_path(f.path))},line={f.line},col={f.column},title={_gh_prop(f'{f.code} {f.name}')}"
    return f"::{level} {props}::{_gh_data(f'{f.detail}{size}: {f.message}. Safe: {f.safe}')}"


def _repo_path(path: str) -> str:
    """GitHub places an annotation by the file's path in the repository: an absolute path under
    the working directory (a checkout's root in a workflow) is made relative to it."""
    import os

    if os.path.isabs(path):
        relative = os.path.relpath(path)
        if not relative.startswith(".."):
            return relative
    return path


def _gh_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _gh_prop(text: str) -> str:
    return _gh_data(text).replace(":", "%3A").replace(",", "%2C")


def rule_line(rule: Rule) -> str:
    graded = ""
    if rule.graded:
        graded = ", info on an empty table" if rule.fails_with_rows else ", lower on small tables"
    return f"{rule.code}  {rule.name}  ({rule.severity}{graded}): {rule.what}"
