"""Discover migration directories into frozen Migration records, reporting every problem at once."""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

from .config import parse_duration_ms
from .errors import DiscoveryError, Problem, plural

FILE_RE = re.compile(r"^(?P<version>[0-9]+)_(?P<name>[a-z0-9][a-z0-9_]*)\.(?P<kind>up|down)\.sql$")
NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_]*$")
MAX_VERSION = 2**63 - 1  # the history's version column is a bigint
BOM = "\ufeff"
DIRECTIVE_RE = re.compile(r"^--\s*sqlmig:\s*(?P<key>[a-z_-]+)\s*(?:=\s*(?P<value>\S+))?\s*$")
KNOWN_DIRECTIVES = {"no-transaction", "lock_timeout", "statement_timeout"}


class Directives(NamedTuple):
    """Options a file sets in its leading comment lines (`-- sqlmig:no-transaction`, ...)."""

    no_transaction: bool = False
    lock_timeout: str | None = None
    statement_timeout: str | None = None


_NO_DIRECTIVES = Directives()


class SqlFile:
    """One up or down file: its text with the BOM stripped and CRLF turned into LF.

    Read-only by convention. Its Path is built on first use: for a thousand migrations, building
    2000 Path objects costs more than reading the files.
    """

    __slots__ = ("_path", "directives", "sql")

    def __init__(self, path: str | Path, sql: str, directives: Directives | None = None) -> None:
        self._path = path
        self.sql = sql
        self.directives = _NO_DIRECTIVES if directives is None else directives

    @property
    def path(self) -> Path:
        path = self._path
        if isinstance(path, str):
            path = self._path = Path(path)
        return path

    @property
    def is_empty(self) -> bool:
        """True when the file holds no statement (empty or only comments): a valid no-op."""
        from .scanner import split_statements

        return not split_statements(self.sql)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SqlFile):
            return NotImplemented
        return (str(self._path), self.sql, self.directives) == (str(other._path), other.sql, other.directives)

    def __hash__(self) -> int:
        return hash((str(self._path), self.sql))

    def __repr__(self) -> str:
        return f"SqlFile({str(self._path)!r}, {len(self.sql)} characters, {self.directives!r})"


class Migration(NamedTuple):
    """A numbered up/down pair, ordered by version (numerically)."""

    version: int
    name: str
    up: SqlFile
    down: SqlFile
    checksum: str

    @property
    def label(self) -> str:
        return f"{self.version:04d}_{self.name}"


def normalize(text: str) -> str:
    """Strip a BOM and turn CRLF into LF, so a Windows checkout has the same text and checksum."""
    if text.startswith(BOM):
        text = text[1:]
    return text.replace("\r\n", "\n")


def checksum(sql: str) -> str:
    """SHA-256 of the normalised up text."""
    return hashlib.sha256(sql.encode("utf-8")).hexdigest()


def parse_directives(sql: str, path: str | Path) -> tuple[Directives, list[Problem]]:
    """Read `-- sqlmig:key[=value]` lines among the leading comment lines of a file."""
    values: dict[str, str | bool] = {}
    problems: list[Problem] = []
    if "sqlmig:" not in sql:  # every directive, well-formed or not, has it: most files need no parsing
        return _NO_DIRECTIVES, problems
    for lineno, raw in enumerate(sql.split("\n"), start=1):
        line = raw.strip()
        if not line:
            continue
        if not line.startswith("--"):
            break
        match = DIRECTIVE_RE.match(line)
        if not match:
            if re.match(r"^--\s*sqlmig:", line):
                problems.append(Problem(f"{path}:{lineno}", f"malformed directive {line!r}"))
            continue
        key, value = match.group("key"), match.group("value")
        where = f"{path}:{lineno}"
        if key not in KNOWN_DIRECTIVES:
            problems.append(
                Problem(
                    where,
                    f"unknown directive sqlmig:{key}",
                    "known: " + ", ".join(sorted(KNOWN_DIRECTIVES)),
                )
            )
        elif key == "no-transaction":
            if value is not None:
                problems.append(Problem(where, "sqlmig:no-transaction takes no value"))
            values[key] = True
        elif value is None:
            problems.append(Problem(where, f"sqlmig:{key} needs a value, e.g. sqlmig:{key}=5s"))
        else:
            try:
                parse_duration_ms(value)
                values[key] = value
            except ValueError:
                problems.append(
                    Problem(
                        where,
                        f"invalid duration {value!r} for sqlmig:{key}",
                        "e.g. 200ms, 5s, 1min",
                    )
                )
    directives = Directives(
        no_transaction=bool(values.get("no-transaction", False)),
        lock_timeout=_str_or_none(values.get("lock_timeout")),
        statement_timeout=_str_or_none(values.get("statement_timeout")),
    )
    return directives, problems


def _str_or_none(value: str | bool | None) -> str | None:
    return value if isinstance(value, str) else None


def parse_filename(name: str) -> tuple[int, str, str] | None:
    """(version, name, 'up'|'down') for a well-formed migration file name, else None."""
    match = FILE_RE.match(name)
    if not match:
        return None
    return int(match.group("version")), match.group("name"), match.group("kind")


def discover(dirs: Sequence[Path]) -> list[Migration]:
    """Read every pair from the directories, sorted by version; raise DiscoveryError listing all problems."""
    problems: list[Problem] = []
    halves: dict[int, dict[str, tuple[str, str]]] = {}  # paths as str: Path objects are built on first use
    for directory in dirs:
        if not directory.is_dir():
            problems.append(
                Problem(
                    str(directory),
                    "migration directory does not exist" if not directory.exists() else "not a directory",
                    "create it with `sqlmig new NAME`, or point --dir at your migrations",
                )
            )
            continue
        root = directory.resolve()
        # scandir: names sort like the paths would, and file type and link-ness come without a stat each
        with os.scandir(directory) as listing:
            entries = sorted((e for e in listing if e.name.lower().endswith(".sql")), key=lambda e: e.name)
        prefix = "" if str(directory) == "." else os.path.join(directory, "")  # spelled as `directory / name` would be
        for entry in entries:
            path = prefix + entry.name
            parsed = parse_filename(entry.name)
            if parsed is None:
                problems.append(
                    Problem(
                        path,
                        "not a migration file name",
                        "expected NNNN_snake_name.up.sql or NNNN_snake_name.down.sql (lowercase a-z, 0-9, _)",
                    )
                )
                continue
            version, name, kind = parsed
            if version > MAX_VERSION:
                problems.append(Problem(path, f"version {version} does not fit a bigint (max {MAX_VERSION})"))
                continue
            if entry.is_symlink() and not _inside(Path(path).resolve(), root):
                problems.append(Problem(path, "symbolic link pointing outside the migration directory"))
                continue
            if not entry.is_file():
                problems.append(Problem(path, "not a regular file"))
                continue
            slot = halves.setdefault(version, {})
            if kind in slot:
                other = slot[kind][1]
                problems.append(Problem(path, f"version {version} is used twice: also {other}"))
                continue
            slot[kind] = (name, path)

    migrations: list[Migration] = []
    for version in sorted(halves):
        slot = halves[version]
        if "up" not in slot or "down" not in slot:
            have_kind = "up" if "up" in slot else "down"
            missing = "down" if have_kind == "up" else "up"
            name, path = slot[have_kind]
            folder, filename = os.path.split(path)
            expected = os.path.join(folder, f"{filename.split('_', 1)[0]}_{name}.{missing}.sql")
            problems.append(Problem(path, f"has no {missing} file", f"create {expected}"))
            continue
        (up_name, up_path), (down_name, down_path) = slot["up"], slot["down"]
        if up_name != down_name:
            up_file = os.path.basename(up_path)
            problems.append(Problem(down_path, f"name {down_name!r} does not match its up file {up_file}"))
            continue
        up = _read(up_path, problems)
        down = _read(down_path, problems)
        if up is None or down is None:
            continue
        migrations.append(Migration(version, up_name, up, down, checksum(up.sql)))

    if problems:
        raise DiscoveryError(
            f"{plural(len(problems), 'problem')} in the migration directory",
            problems,
        )
    return migrations


def _inside(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def _read(path: str, problems: list[Problem]) -> SqlFile | None:
    try:
        data = _read_bytes(path)
    except OSError as exc:
        problems.append(Problem(path, f"cannot read: {exc.strerror}"))
        return None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        problems.append(
            Problem(
                f"{path}:{line}",
                f"not valid UTF-8 (byte 0x{data[exc.start]:02x} at offset {exc.start})",
            )
        )
        return None
    if "\x00" in text:
        line = text[: text.index("\x00")].count("\n") + 1
        problems.append(Problem(f"{path}:{line}", "contains a NUL byte (binary file?)"))
        return None
    sql = normalize(text)
    directives, directive_problems = parse_directives(sql, path)
    problems.extend(directive_problems)
    return SqlFile(path, sql, directives)


def _read_bytes(path: str) -> bytes:
    """The file's bytes through os.read: half the cost of Path.read_bytes's io layers, for thousands of files."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        chunks = []
        while chunk := os.read(fd, 1 << 16):
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def next_version_name(migrations: Sequence[Migration], name: str) -> tuple[int, int]:
    """(next version, zero-pad width) for `new`: highest on disk + 1, padded like the existing files."""
    if not NAME_RE.match(name):
        from .errors import ConfigError

        raise ConfigError(
            f"invalid migration name {name!r}",
            hint="use lowercase letters, digits and underscores, e.g. add_customer_email",
        )
    width = 4
    highest = 0
    for m in migrations:
        if m.version >= highest:
            highest = m.version
            width = len(m.up.path.name.split("_", 1)[0])
    return highest + 1, width
