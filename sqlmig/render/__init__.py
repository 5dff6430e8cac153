"""Draw results and errors; the renderer is chosen once per command by `choose`.

- json.py: one JSON document on stdout (each record's `to_dict()`), diagnostics on stderr.
- plain.py: plain lines for pipes and CI logs: no boxes, no bar, no ANSI codes.
- terminal.py: rich on a terminal: a progress bar, tables, colours; plain's words otherwise.
- base.py: what all three share: the streams; waits, warnings and errors on stderr.
- text.py: durations, labels and counts as the human-readable renderers write them.

rich is imported only when something is drawn with it: plain and JSON output never pay for it.
"""

from __future__ import annotations

import sys
from typing import IO, TYPE_CHECKING

from .base import isatty

if TYPE_CHECKING:
    from .json import JsonRenderer
    from .plain import PlainRenderer

    # What a command draws with (TerminalRenderer is a PlainRenderer): mypy checks that each has
    # every method the CLI calls, which an abstract method apiece in the base class would repeat.
    Renderer = JsonRenderer | PlainRenderer


def choose(
    *,
    json: bool = False,
    color: bool = True,
    stdout: IO[str] | None = None,
    stderr: IO[str] | None = None,
    tty: bool | None = None,
) -> Renderer:
    """JSON with --json; else rich on a terminal (or when `tty` says so), plain lines elsewhere."""
    out = sys.stdout if stdout is None else stdout
    err = sys.stderr if stderr is None else stderr
    if json:
        from .json import JsonRenderer

        return JsonRenderer(color=color, stdout=out, stderr=err)
    if isatty(out) if tty is None else tty:
        from .terminal import TerminalRenderer

        return TerminalRenderer(color=color, stdout=out, stderr=err)
    from .plain import PlainRenderer

    return PlainRenderer(color=color, stdout=out, stderr=err)


__all__ = ["Renderer", "choose"]
