"""--json: one JSON document on stdout, each result's `to_dict()`; progress stays on stderr."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from ..config import effective_dict
from ..events import EventHandler
from ..results import (
    BaselineResult,
    DiffResult,
    DownResult,
    MigrateResult,
    NewResult,
    RepairResult,
    SeedResult,
    StatusResult,
    ValidateResult,
)
from .base import Renderer

if TYPE_CHECKING:
    from ..config import ConfigValue
    from ..embedded import ServerStatus
    from ..errors import SqlmigError


class JsonRenderer(Renderer):
    """Nothing but the document on stdout: waits and warnings are told on stderr."""

    def document(self, data: dict[str, object]) -> None:
        self.stdout.write(json.dumps(data, indent=2, default=_json_default) + "\n")
        self.stdout.flush()

    @contextmanager
    def progress(self) -> Iterator[EventHandler]:
        yield self.notice

    @contextmanager
    def seed_progress(self) -> Iterator[EventHandler]:
        yield self.warning

    def migrate(self, result: MigrateResult) -> None:
        self.document(result.to_dict())

    def down(self, result: DownResult) -> None:
        self.document(result.to_dict())

    def status(self, result: StatusResult) -> None:
        self.document(result.to_dict())

    def validation_report(self, result: ValidateResult) -> None:
        self.document(result.to_dict())

    def diff(self, result: DiffResult) -> None:
        self.document(result.to_dict())

    def repair(self, result: RepairResult) -> None:
        self.document(result.to_dict())

    def baseline(self, result: BaselineResult) -> None:
        self.document(result.to_dict())

    def new(self, result: NewResult) -> None:
        self.document(result.to_dict())

    def config(self, values: Sequence[ConfigValue], files: Sequence[Path]) -> None:
        self.document(effective_dict(values, files))

    def embedded_status(self, info: ServerStatus) -> None:
        self.document(info.to_dict())

    def embedded_url(self, url: str) -> None:
        self.document({"url": url})

    def embedded_stopped(self, stopped: bool, info: ServerStatus) -> None:
        self.document({"stopped": stopped, **info.to_dict()})

    def seed(self, result: SeedResult) -> None:
        self.document(result.to_dict())

    def error(self, exc: SqlmigError) -> None:
        """The error's document on stdout, and the readable message on stderr as in every mode."""
        self.document(exc.to_dict())
        super().error(exc)


def _json_default(value: object) -> object:
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)
