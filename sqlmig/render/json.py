"""--json: one JSON document on stdout, each result's `to_dict()`; progress stays on stderr."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from ..config import effective_dict
from ..events import Event
from .base import RendererBase

if TYPE_CHECKING:
    from ..config import ConfigValue
    from ..embedded import ServerStatus
    from ..errors import SqlmigError
    from ..lint.rules import Rule


class Record(Protocol):
    """A result record: its to_dict() is its JSON document (results.py)."""

    def to_dict(self) -> dict[str, object]: ...


class JsonRenderer(RendererBase):
    """Nothing but the document on stdout: waits and warnings are told on stderr."""

    def document(self, data: dict[str, object]) -> None:
        self.stdout.write(json.dumps(data, indent=2, default=_json_default) + "\n")
        self.stdout.flush()

    def run_event(self, event: Event) -> None:
        self.notice(event)

    verify_event = run_event  # verdicts are in the document; waits on stderr

    seed_event = run_event  # a seed waits as migrate does, and says so on stderr the same way

    def record(self, result: Record) -> None:
        self.document(result.to_dict())

    migrate = down = status = validation_report = diff = repair = baseline = new = seed = record
    embedded_status = verify = drift = dump = lint = sum = renumber = sql_script = record

    def lint_rules(self, rules: Sequence[Rule]) -> None:
        self.document({"rules": [r.to_dict() for r in rules]})

    def config(self, values: Sequence[ConfigValue], files: Sequence[Path]) -> None:
        self.document(effective_dict(values, files))

    def embedded_url(self, url: str) -> None:
        self.document({"url": url})

    def embedded_stopped(self, stopped: bool, info: ServerStatus) -> None:
        self.document({"stopped": stopped, **info.to_dict()})

    def error(self, exc: SqlmigError) -> None:
        """The error's document on stdout, and the readable message on stderr as in every mode."""
        self.document(exc.to_dict())
        super().error(exc)


def _json_default(value: object) -> object:
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)
