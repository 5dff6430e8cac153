"""Plain lines for pipes and CI logs: no boxes, no progress bar, no ANSI codes.

The terminal renderer draws the same words with rich; it overrides only what it draws differently
(the summary line, tables, findings, the diff, the seeded tables, progress)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from ..config import WAITS
from ..errors import Problem, plural
from ..events import Event, LockRetry, MigrationDone, MigrationRehearsed, MigrationVerified
from .base import RendererBase
from .text import (
    config_text,
    done,
    drift_line,
    drift_summary,
    github_annotation,
    label,
    lint_details,
    lint_head,
    lint_summary,
    ms,
    not_rehearsed,
    nothing_to_verify,
    rehearsal_summary,
    rehearsed,
    rule_line,
    seeded,
    verdict_details,
    verdict_head,
    verify_summary,
    when,
    would_apply,
)

if TYPE_CHECKING:
    from .. import results
    from ..config import ConfigValue
    from ..embedded import ServerStatus
    from ..lint.rules import Rule
    from ..plan import Entry


class PlainRenderer(RendererBase):
    """One line per migration as its commit returns, then a summary line."""

    # ---- progress --------------------------------------------------------------------------------

    def run_event(self, event: Event) -> None:
        if isinstance(event, MigrationDone):
            what, took = done(event.item, event.direction)
            self.line(f"{what} ({took})")
        elif isinstance(event, MigrationRehearsed):
            self.line(rehearsed(event.item))
        elif isinstance(event, LockRetry):
            self.line(event.message)
        else:
            self.notice(event)

    def verify_event(self, event: Event) -> None:
        if isinstance(event, MigrationVerified):
            self.verdict(event.verdict)
        else:
            self.notice(event)

    def seed_event(self, event: Event) -> None:
        """A table is seeded when the transaction commits: seed() names the tables then, not their
        events; a migration seed --dry-run rehearses is named as one the dry run would apply."""
        if isinstance(event, MigrationRehearsed):
            self.line(would_apply(event.item))
        else:
            self.run_event(event)

    # ---- results -----------------------------------------------------------------------------

    def migrate(self, result: results.MigrateResult) -> None:
        if not result.applied:
            self.line("nothing to apply: the database is up to date")
        if result.dry_run and result.executed:  # each rehearsed one was told as it ran
            for n in result.not_executed:
                self.line(not_rehearsed(n))
            self.summary(rehearsal_summary(result))
        elif result.dry_run:
            for item in result.applied:
                self.line(would_apply(item))
        elif result.applied:
            total = sum(i.duration_ms or 0 for i in result.applied)
            self.summary(f"applied {plural(len(result.applied), 'migration')} in {ms(total)}")

    def down(self, result: results.DownResult) -> None:
        if result.nothing_applied:
            self.line("nothing to revert: no migration is applied")
        elif result.dry_run:
            for item in result.reverted:
                self.line(f"would revert {label(item)} ({item.path})")
        elif not result.reverted:
            self.line("nothing to revert")
        else:
            total = sum(i.duration_ms or 0 for i in result.reverted)
            self.summary(f"reverted {plural(len(result.reverted), 'migration')} in {ms(total)}")

    def status(self, result: results.StatusResult) -> None:
        if result.running:  # what follows may change under it
            self.note(f"a sqlmig run is in progress (it holds the migration lock): {result.running}")
        if not result.entries:
            self.line("no migrations found")
            return
        self.status_table(result)
        counts: dict[str, int] = {}
        for e in result.entries:
            counts[e.state] = counts.get(e.state, 0) + 1
        self.summary(", ".join(f"{n} {state}" for state, n in counts.items()))
        for p in result.warnings:  # what each marked row means and what to do about it
            self.finding("note", p)

    def status_table(self, result: results.StatusResult) -> None:
        entries: Sequence[Entry] = result.entries
        width = max(len("NAME"), *(len(e.name) for e in entries))
        vwidth = max(len("VERSION"), *(len(str(e.version)) for e in entries))
        lines = [f"{'VERSION':<{vwidth}}  {'NAME':<{width}}  {'STATE':<9}  APPLIED AT"]
        for e in entries:
            extra = " cosmetic-edit" if e.cosmetic_change else ""
            extra += " out-of-order" if e.out_of_order else ""
            extra += f" down-edit ({e.down_change})" if e.down_change else ""
            lines.append(f"{e.version:<{vwidth}}  {e.name:<{width}}  {e.state:<9}  {when(e)}{extra}".rstrip())
        self.line("\n".join(lines))  # one write, not one flush per migration

    def validation_report(self, result: results.ValidateResult) -> None:
        groups = (("problem", result.problems), ("warning", result.warnings), ("note", result.notes))
        for kind, items in groups:
            for p in items:
                self.finding(kind, p)
        counted = ", ".join(plural(len(items), kind) for kind, items in groups)
        scope = f"{plural(result.migrations, 'migration')}"
        scope += f", {result.applied} applied" if result.history_checked else ", history not checked"
        verdict = "ok" if result.ok else "refused: `sqlmig migrate` would not run"
        self.summary(f"{verdict} ({counted}; {scope})")

    def diff(self, result: results.DiffResult) -> None:
        if result.identical:
            self.note(f"migration {result.version}: the file on disk is the SQL that was applied")
            return
        self.diff_text(result.diff)
        if result.cosmetic_change:
            self.note(f"migration {result.version}: only whitespace or comments differ (a cosmetic edit, not drift)")

    def diff_text(self, diff: str) -> None:
        self.stdout.write(diff)
        self.stdout.flush()

    def repair(self, result: results.RepairResult) -> None:
        would = "would " if result.dry_run else ""
        for c in result.changes:
            if c.action == "accept":
                after = (c.checksum_after or "")[:12]
                self.line(
                    f"{would}accept {c.label}: checksum {c.checksum_before[:12]} -> {after}, "
                    "recorded SQL replaced by the file's text"
                    + (f" (was {c.state_before})" if c.state_before != "applied" else "")
                )
            elif c.action == "forget":
                self.line(
                    f"{would}forget {c.label}: delete its history row (was {c.state_before}); "
                    "its schema objects are not touched"
                )
            else:
                self.line(f"{would}resolve {c.label}: state failed -> applied, error cleared")
        for p in result.skipped:
            self.line(f"unchanged: {p.message}")
        if not result.changes:
            self.summary("nothing to repair: the history was not changed")
        elif not result.dry_run:
            self.summary(f"changed {plural(len(result.changes), 'history row')}")

    def baseline(self, result: results.BaselineResult) -> None:
        verb = "would record" if result.dry_run else "recorded"
        for m in result.recorded:
            self.line(f"{verb} {m.up.path.name.removesuffix('.up.sql')} as applied (not run)")
        if not result.dry_run:
            self.summary(
                f"baseline at {result.version}: {plural(len(result.recorded), 'migration')} recorded as applied "
                "without running; `sqlmig migrate` continues from here"
            )

    def new(self, result: results.NewResult) -> None:
        self.line(f"created {result.up_path}")
        self.line(f"created {result.down_path}")

    def config(self, values: Sequence[ConfigValue], files: Sequence[Path]) -> None:
        self.config_table([(v.key, config_text(v.value, wait=v.key in WAITS), v.source) for v in values])
        self.summary("config files: " + (", ".join(str(f) for f in files) if files else "none"))

    def config_table(self, shown: Sequence[tuple[str, str, str]]) -> None:
        kw = max(len(k) for k, _, _ in shown)
        vw = max(len(v) for _, v, _ in shown)
        for key, value, source in shown:
            self.line(f"{key:<{kw}}  {value:<{vw}}  {source}")

    def embedded_status(self, info: ServerStatus) -> None:
        if info.running:
            self.line(f"running (pid {info.pid}, PostgreSQL {info.version}) with data in {info.pgdata}")
            self.line(f"url: {info.url}")
        elif info.initialized:
            self.line(f"stopped; data kept in {info.pgdata} (PostgreSQL {info.version})")
        else:
            self.line(f"not created yet; `sqlmig --database-url embedded migrate` creates it in {info.pgdata}")
        if info.running:
            self.line(f"socket: {info.socket}")
            self.line(
                f"tcp: {info.tcp_url}" if info.tcp_url else "tcp: none (set embedded_port to listen on localhost)"
            )
        if info.source is None:
            self.line(
                f"source: none installed for PostgreSQL {info.version} (`sqlmig embedded url` says what to install)"
            )
        else:
            self.line(f"source: {info.source}, PostgreSQL {info.version} in {info.bin_dir}")
            self.line(f"extensions ({len(info.extensions)}): {', '.join(info.extensions)}")

    def embedded_url(self, url: str) -> None:
        self.line(url)

    def embedded_stopped(self, stopped: bool, info: ServerStatus) -> None:
        if stopped:
            self.line(f"stopped the embedded server; its data stays in {info.pgdata}")
        else:
            self.line("the embedded server is not running")

    def seed(self, result: results.SeedResult) -> None:
        if not result.tables:
            self.line(f"nothing to seed: {result.file} lists no tables")
            return
        for table in result.tables:  # only now: until the commit, a later table could still undo them all
            self.seeded(table, result.dry_run)
        inserted = sum(t.inserted for t in result.tables)
        skipped = sum(t.skipped for t in result.tables)
        updated = sum(t.updated for t in result.tables)
        n = len(result.tables)
        counts = f"{inserted} inserted, {skipped} skipped, {updated} updated"
        if result.dry_run:
            m = len(result.migrations)
            first = f"{plural(m, 'migration')} would be applied, then " if m else ""
            self.summary(f"dry run: {first}{plural(n, 'table')} would get {counts}; nothing was written")
        else:
            self.summary(f"seeded {plural(n, 'table')} from {result.file}: {counts} in {ms(result.duration_ms)}")

    def verify(self, result: results.VerifyResult) -> None:
        """The verdicts were drawn as they came (verify_event): the summary."""
        if not result.verdicts:
            self.line(nothing_to_verify(result.scope))
            return
        self.summary(verify_summary(result))

    def drift(self, result: results.DriftResult) -> None:
        for d in result.differences:
            self.line(drift_line(d))
        for note in result.notes:
            self.line(f"note: {note}")
        self.summary(drift_summary(result))

    def renumber(self, result: results.RenumberResult) -> None:
        verb = "would rename" if result.dry_run else "renamed"
        for source, target in result.moves:
            self.line(f"{verb} {source} -> {target.name}")
        if result.history_checked is None:
            self.line("no database configured: no history was checked; renumber only a pair no database has applied")
        else:
            self.line(f"checked against {result.history_checked}: not applied there")
        if result.sum_updated:
            self.line("sqlmig.sum updated")
        elif not result.dry_run:
            self.line("sqlmig.sum not updated (absent, or unreadable: after a merge, `sqlmig sum` rewrites it)")

    def sum(self, result: results.SumResult) -> None:
        listed = plural(result.migrations, "migration")
        self.line(f"wrote {result.path} ({listed})" if result.changed else f"{result.path} is up to date ({listed})")

    def lint(self, result: results.LintResult) -> None:
        """Each finding's head line; what happens and the safe way under the first of each rule
        only (a migration with ten ALTER TABLEs would repeat the same paragraph ten times)."""
        explained: set[str] = set()
        for f in result.findings:
            self.line(lint_head(f))
            if f.waived is None and f.code in explained:
                continue
            for detail in lint_details(f):
                self.line(f"  {detail}")
            if f.waived is None:
                explained.add(f.code)
        self.summary(lint_summary(result))

    def lint_github(self, result: results.LintResult) -> None:
        """--format github: one workflow command per finding that stands, then the summary."""
        for f in result.findings:
            if f.waived is None:
                self.line(github_annotation(f))
        self.line(lint_summary(result))

    def lint_rules(self, rules: Sequence[Rule]) -> None:
        for rule in rules:
            self.line(rule_line(rule))

    def sql_script(self, result: results.SqlScript) -> None:
        """--print-sql: the script alone on stdout, to be redirected to a file."""
        self.stdout.write(result.text)
        self.stdout.flush()

    def dump(self, result: results.DumpResult) -> None:
        if result.path is None:
            self.stdout.write(result.text)
            self.stdout.flush()
        else:
            self.line(f"wrote {result.path} ({plural(result.objects, 'object')})")

    # ---- what the terminal draws differently ---------------------------------------------------

    def verdict(self, v: results.MigrationVerdict) -> None:
        self.line(verdict_head(v))
        for line in verdict_details(v):
            self.line(f"  {line}")

    def seeded(self, table: results.SeedTableResult, dry_run: bool) -> None:
        self.line(seeded(table, dry_run))

    def summary(self, text: str) -> None:
        self.line(text)

    def finding(self, kind: str, p: Problem) -> None:
        """One finding and its hint, on stdout: for status and validate they are the report itself."""
        self.line(f"{kind}: {p.where}: {p.message}" if p.where else f"{kind}: {p.message}")
        if p.hint:
            self.line(f"  hint: {p.hint}")
