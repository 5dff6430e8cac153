"""The decisions behind `sqlmig repair`: which history rows to accept, forget or resolve, and why
a request is refused; pure (the api writes the changes in one transaction)."""

from __future__ import annotations

from collections.abc import Sequence

from .errors import ConfigError, Problem, RefusedError, plural
from .history_checks import label
from .plan import Entry, MigrationState, Plan
from .results import RepairChange


def repair_changes(
    plan: Plan,
    *,
    accept: Sequence[int] = (),
    accept_all: bool = False,
    forget: Sequence[int] = (),
    resolve: Sequence[int] = (),
) -> tuple[list[RepairChange], list[Problem]]:
    """Decide every change repair was asked for, or refuse them all at once.

    Returns (changes, skipped); `skipped` holds versions named that already are as asked.
    Raises ConfigError for unknown versions or a version named twice, RefusedError when a
    named migration is in a state the action does not apply to.
    """
    named = [*accept, *forget, *resolve]
    if not named and not accept_all:
        raise ConfigError(
            "repair needs to be told what to change",
            hint="give --accept VERSION, --accept-all, --forget VERSION or --resolve VERSION (see `sqlmig status`)",
        )
    twice = sorted({v for v in named if named.count(v) > 1})
    if twice:
        raise ConfigError(
            f"version {', '.join(map(str, twice))} is named more than once",
            hint="name each version in one of --accept, --forget, --resolve",
        )
    by_version = {e.version: e for e in plan.entries}
    unknown = sorted({v for v in named if v not in by_version})
    if unknown:
        raise ConfigError(
            f"no migration with version {', '.join(map(str, unknown))} on disk or in the history",
            hint="`sqlmig status` lists every version",
        )

    changes: list[RepairChange] = []
    skipped: list[Problem] = []
    problems: list[Problem] = []
    for v in accept:
        _accept(by_version[v], changes, skipped, problems)
    if accept_all:
        for e in plan.entries:
            if e.version not in named and (
                e.state == MigrationState.MODIFIED
                or (e.state == MigrationState.APPLIED and (e.cosmetic_change or e.down_change is not None))
            ):
                _accept(e, changes, skipped, problems)
    for v in forget:
        _forget(by_version[v], changes, problems)
    for v in resolve:
        _resolve(by_version[v], changes, problems)
    if problems:
        raise RefusedError(
            f"{plural(len(problems), 'repair request')} cannot be done; nothing was changed",
            problems,
        )
    changes.sort(key=lambda c: c.version)
    return changes, skipped


def _accept(e: Entry, changes: list[RepairChange], skipped: list[Problem], problems: list[Problem]) -> None:
    if e.state == MigrationState.PENDING:
        problems.append(
            Problem(e.where, f"--accept {e.version}: migration {e.version} was never applied, nothing to accept")
        )
    elif e.state == MigrationState.MISSING:
        problems.append(
            Problem(
                e.where,
                f"--accept {e.version}: migration {e.version} has no files on disk, nothing to accept",
                f"restore its files, or drop its history row with `sqlmig repair --forget {e.version}`",
            )
        )
    elif e.state == MigrationState.FAILED:
        problems.append(
            Problem(
                e.where,
                f"--accept {e.version}: migration {e.version} failed part-way",
                f"finish it by hand, then `sqlmig repair --resolve {e.version}`; "
                f"or `--forget {e.version}` to run it again",
            )
        )
    else:
        assert e.migration is not None and e.applied is not None
        same = e.applied.checksum == e.migration.checksum and e.applied.name == e.migration.name
        if same and not e.cosmetic_change and e.down_change is None:  # an edited down file is accepted too
            skipped.append(Problem(e.where, f"{label(e)} already matches its file; nothing to accept"))
            return
        changes.append(
            RepairChange(
                "accept", e.version, label(e), e.state, MigrationState.APPLIED, e.applied.checksum, e.migration.checksum
            )
        )


def _forget(e: Entry, changes: list[RepairChange], problems: list[Problem]) -> None:
    if e.applied is None:
        problems.append(
            Problem(e.where, f"--forget {e.version}: migration {e.version} is not in the history, nothing to forget")
        )
    elif e.state in (MigrationState.MISSING, MigrationState.FAILED):
        changes.append(RepairChange("forget", e.version, label(e), e.state, None, e.applied.checksum, None))
    else:
        problems.append(
            Problem(
                e.where,
                f"--forget {e.version}: migration {e.version} is {e.state} and its files are on disk; "
                "forgetting it would make `migrate` run it again over objects that already exist",
                "revert it with `sqlmig down`, or remove its files first if it should no longer exist"
                + (
                    f"; for an edited file use `sqlmig repair --accept {e.version}`"
                    if e.state == MigrationState.MODIFIED
                    else ""
                ),
            )
        )


def _resolve(e: Entry, changes: list[RepairChange], problems: list[Problem]) -> None:
    if e.state != MigrationState.FAILED or e.applied is None:
        problems.append(
            Problem(
                e.where,
                f"--resolve {e.version}: migration {e.version} is {e.state}, not failed; nothing to resolve",
                "--resolve marks a failed migration applied after it was finished by hand",
            )
        )
        return
    changes.append(
        RepairChange(
            "resolve",
            e.version,
            label(e),
            MigrationState.FAILED,
            MigrationState.APPLIED,
            e.applied.checksum,
            e.applied.checksum,
        )
    )
