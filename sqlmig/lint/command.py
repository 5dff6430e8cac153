"""What `sqlmig lint` and migrate's lint gate share: the options the settings give, a lint with the
database's facts when there is a connection, and the gate's verdict."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from ..config import Settings, parse_duration_ms
from ..errors import Problem, RefusedError, plural
from ..results import LintResult
from .run import Options, Target, as_problem, lint

if TYPE_CHECKING:
    from ..db.connect import Conn


def options_of(settings: Settings, fail_on: str) -> Options:
    """The lint's options from the settings (lint_rules, lint_pg_version, the lock_timeout setting)."""
    timeout = settings.lock_timeout
    return Options(
        fail_on="warning" if fail_on == "warning" else "error",
        rules=settings.lint_rules,
        lock_timeout=timeout is not None and parse_duration_ms(timeout) > 0,
        server_version=settings.lint_pg_version,
    )


def run(targets: Sequence[Target], *, context: str, shared: bool, options: Options, conn: Conn | None) -> LintResult:
    """The lint of `targets`; with a connection, the server's version and current schema decide
    the version-dependent rules and where unqualified names are, and table facts grade sizes."""
    if conn is None:
        return lint(targets, shared=shared, context=context, options=options)
    from ..db import table_facts

    live = conn
    options = options._replace(
        server_version=table_facts.server_version(live), default_schema=table_facts.current_schema(live)
    )
    return lint(
        targets, shared=shared, context=context, options=options, facts=lambda names: table_facts.read(live, names)
    )


def gate(result: LintResult, level: str) -> tuple[Problem, ...]:
    """The `lint` setting's verdict on the files migrate is about to apply: refused (exit 3) when a
    finding reaches `level`; the warnings below it, as problems to tell."""
    if result.failing:
        raise RefusedError(
            f"lint = {level!r}: {plural(len(result.failing), 'finding')} at {level} or above in the files to apply",
            [as_problem(f) for f in result.failing],
            hint="write each the safe way shown, or waive it with `-- sqlmig:allow CODE reason` next to the "
            "statement; `sqlmig lint` shows every finding",
        )
    return tuple(as_problem(f) for f in result.findings if f.waived is None and f.severity == "warning")
