"""What validate, status and diff say about applied migrations compared with the files on disk:
warnings for cosmetic edits and renames, and the diff of the SQL that ran; pure, no database."""

from __future__ import annotations

import difflib

from .errors import Problem
from .migrations import label as migration_label
from .plan import DownChange, Entry, Plan


def label(entry: Entry) -> str:
    """How a migration is named in messages (migrations.label), for a plan entry."""
    return migration_label(entry.version, entry.name, entry.migration.up.path if entry.migration else None)


def cosmetic_warnings(plan: Plan) -> list[Problem]:
    """Applied files edited only in whitespace or comments: worth a word, never blocking."""
    return [
        Problem(
            str(e.migration.up.path),
            f"applied migration {e.version} changed only in whitespace or comments since it ran "
            "(a cosmetic edit, not drift; nothing blocks)",
            f"`sqlmig diff {e.version}` shows it; `sqlmig repair --accept {e.version}` records the new text",
        )
        for e in plan.entries
        if e.cosmetic_change and e.migration is not None
    ]


def down_warnings(plan: Plan) -> list[Problem]:
    """Down files edited since their up was applied (the history keeps the down of that release):
    a warning, never blocking: migrate goes by the up, and `down` runs the file as it is now."""
    warnings: list[Problem] = []
    for e in plan.entries:
        m, row = e.migration, e.applied
        if e.down_change is None or m is None or row is None or row.down_checksum is None:
            continue
        if e.down_change == DownChange.COSMETIC:
            said = "changed only in whitespace or comments since its up was applied (a cosmetic edit; nothing blocks)"
            hint = f"`sqlmig down` runs the file as it is now; `sqlmig repair --accept {e.version}` records it"
        else:
            said = (
                f"was edited after its up was applied (recorded down checksum {row.down_checksum[:12]}, "
                f"file now {m.down_checksum[:12]}); nothing blocks"
            )
            hint = (
                "`sqlmig down` runs the file as it is now, not the down recorded then: review the edit; "
                f"`sqlmig repair --accept {e.version}` records the file's down as the one to keep"
            )
        warnings.append(Problem(str(m.down.path), f"the down file of migration {e.version} {said}", hint))
    return warnings


def renamed_warnings(plan: Plan) -> list[Problem]:
    """Applied files whose name differs from the recorded one (same version, same checksum)."""
    return [
        Problem(
            str(e.migration.up.path),
            f"the history records migration {e.version} as {e.applied.name!r}; the file is now named {e.name!r}",
            f"harmless; `sqlmig repair --accept {e.version}` records the new name",
        )
        for e in plan.entries
        if e.migration is not None and e.applied is not None and e.applied.name != e.migration.name
    ]


def status_warnings(plan: Plan) -> list[Problem]:
    """What status explains below its table: drift, out-of-order files and cosmetic edits."""
    return plan.drift_problems() + plan.out_of_order_problems() + cosmetic_warnings(plan) + down_warnings(plan)


def unified_diff(old: str, new: str, fromfile: str, tofile: str) -> str:
    """A unified diff as `diff -u` prints it, including the no-newline-at-end marker."""
    lines = list(difflib.unified_diff(_lines(old), _lines(new), fromfile, tofile))
    out: list[str] = []
    for line in lines:
        if line.endswith("\n"):
            out.append(line)
        else:
            out.append(line + "\n\\ No newline at end of file\n")
    return "".join(out)


def _lines(text: str) -> list[str]:
    return text.splitlines(keepends=True)
