"""The contributor's map (CONTRIBUTING.md) names every module under sqlmig/, and only those."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MAP = ROOT / "CONTRIBUTING.md"


def _listed() -> list[str]:
    text = MAP.read_text(encoding="utf-8")
    section = text.split("<!-- layout:start -->", 1)[1].split("<!-- layout:end -->", 1)[0]
    return re.findall(r"^\| `(sqlmig/[^`]+\.py)` \| \S", section, re.MULTILINE)


def _modules() -> set[str]:
    return {p.relative_to(ROOT).as_posix() for p in (ROOT / "sqlmig").rglob("*.py")}


def test_every_module_is_on_the_map_with_its_job() -> None:
    listed = _listed()
    assert len(listed) == len(set(listed)), "a module is listed twice"
    missing = sorted(_modules() - set(listed))
    assert not missing, f"add these to CONTRIBUTING.md's layout table, with their one job: {missing}"


def test_the_map_names_no_module_that_does_not_exist() -> None:
    gone = sorted(set(_listed()) - _modules())
    assert not gone, f"CONTRIBUTING.md lists modules that are gone: {gone}"
