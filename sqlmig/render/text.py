"""Words and numbers as the human-readable renderers (plain and terminal) write them."""

from __future__ import annotations

from ..errors import done_verb
from ..migrations import Direction
from ..migrations import label as migration_label
from ..plan import Entry
from ..results import MigrationStep, SeedTableResult


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
