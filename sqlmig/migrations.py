"""Discover migration directories into frozen Migration records, reporting every problem at once."""

from __future__ import annotations

import errno
import hashlib
import os
import re
import stat
from collections.abc import Sequence
from pathlib import Path
from typing import Literal, NamedTuple

from .config import parse_duration_ms
from .errors import DiscoveryError, Problem, plural

# Which way a run goes: "up" applies migrations, "down" reverts them.
Direction = Literal["up", "down"]

FILE_RE = re.compile(r"^(?P<version>[0-9]+)_(?P<name>[a-z0-9][a-z0-9_]*)\.(?P<kind>up|down)\.sql$")
NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_]*$")
MAX_VERSION = 2**63 - 1  # the history's version column is a bigint
NAME_MAX = 255  # bytes in a file name: ext4, xfs, btrfs, APFS and NTFS (in characters) alike
BOM = "\ufeff"
MARKER_START_RE = re.compile(r"^--\s*sqlmig:")  # a line sqlmig reads as a marker, well-formed or not
# `-- sqlmig:allow SM101 reason`: a lint waiver, read by `sqlmig lint` wherever it is, not a marker.
WAIVER_RE = re.compile(r"--[ \t]*sqlmig:allow\b")
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
        return label(self.version, self.name, self.up.path)

    @property
    def down_checksum(self) -> str:
        """SHA-256 of the normalised down text (`checksum` is the up's): recorded beside it when applied."""
        return checksum(self.down.sql)

    def file(self, direction: Direction) -> SqlFile:
        """The file a run in `direction` runs: up applies, down reverts."""
        return self.up if direction == "up" else self.down


def label(version: int, name: str, path: Path | str | None = None) -> str:
    """How a migration is named in messages and output: its file's stem when it has a file on disk
    (0001_create_x, padded as the file is), else version_name. The one place that says so."""
    if path is not None:
        file = Path(path).name
        for suffix in (".up.sql", ".down.sql"):
            if file.endswith(suffix):
                return file.removesuffix(suffix)
    return f"{version}_{name}"


def normalize(text: str) -> str:
    """Strip a BOM and turn CRLF into LF, so a Windows checkout has the same text and checksum."""
    if text.startswith(BOM):
        text = text[1:]
    return text.replace("\r\n", "\n")


def checksum(sql: str) -> str:
    """SHA-256 of the normalised up text."""
    return hashlib.sha256(sql.encode("utf-8")).hexdigest()


def marker_lines(sql: str) -> list[tuple[int, str, re.Match[str] | None]]:
    """The lines sqlmig reads as markers: among the leading `--` comment lines (before any statement
    or block comment), those written `--` then `sqlmig:`. Each as (line number, text, DIRECTIVE_RE
    match, None when malformed); parse_directives applies them, file_checks.unread_markers warns about
    every other comment that looks like one."""
    lines: list[tuple[int, str, re.Match[str] | None]] = []
    if "sqlmig:" not in sql:  # every marker, well-formed or not, has it: most files need no parsing
        return lines
    for lineno, raw in enumerate(sql.split("\n"), start=1):
        line = raw.strip()
        if not line:
            continue
        if not line.startswith("--"):
            break
        if MARKER_START_RE.match(line) and not WAIVER_RE.match(line):
            lines.append((lineno, line, DIRECTIVE_RE.match(line)))
    return lines


def parse_directives(sql: str, path: str | Path) -> tuple[Directives, list[Problem]]:
    """Read `-- sqlmig:key[=value]` lines among the leading comment lines of a file."""
    values: dict[str, str | bool] = {}
    problems: list[Problem] = []
    lines = marker_lines(sql)
    if not lines:
        return _NO_DIRECTIVES, problems
    for lineno, line, match in lines:
        if not match:
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


class Discovery(NamedTuple):
    """What the directories hold: the complete pairs, every file that could be read (paired or not, so
    `validate` can check their contents too), and every problem found."""

    migrations: list[Migration]
    files: list[SqlFile]
    problems: list[Problem]


def discover(dirs: Sequence[Path]) -> list[Migration]:
    """Read every pair from the directories, sorted by version; raise DiscoveryError listing all problems."""
    found = scan(dirs)
    if found.problems:
        raise DiscoveryError(
            f"{plural(len(found.problems), 'problem')} in the migration directory",
            found.problems,
        )
    return found.migrations


def scan(dirs: Sequence[Path]) -> Discovery:
    """Read the directories without stopping at a problem: each is located and collected, never raised.

    Raises ConfigError (exit 2) only when a folder is given twice: that is the command line or the
    configuration, not the folder's content, and every file in it would conflict with itself.
    """
    _refuse_repeated(dirs)
    problems: list[Problem] = []
    # version -> kind -> (name, path, readable): paths as str, Path objects are built on first use; a
    # half that is there but cannot be read (a loop, a FIFO) still counts, so its other half is not
    # told to create it
    halves: dict[int, dict[str, tuple[str, str, bool]]] = {}
    duplicates: list[str] = []
    for directory in dirs:
        trouble = _directory_problem(directory)
        if trouble is not None:
            problems.append(trouble)
            continue
        root = Path(os.path.realpath(directory))
        # scandir: names sort like the paths would, and file type and link-ness come without a stat each
        try:
            with os.scandir(directory) as listing:
                entries = sorted((e for e in listing if e.name.lower().endswith(".sql")), key=lambda e: e.name)
        except OSError as exc:  # unreadable, or removed since it was checked
            problems.append(Problem(str(directory), f"cannot list the directory: {exc.strerror}", _READ_HINT))
            continue
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
            # a plain regular file, known from the listing alone; anything else is looked at closely
            trouble = None if _is_plain_file(entry) else _entry_problem(path, root)
            if trouble is not None:
                problems.append(trouble)
            slot = halves.setdefault(version, {})
            if kind in slot:
                other = slot[kind][1]
                stem = Path(path).name.removesuffix(f".{kind}.sql")
                problems.append(
                    Problem(
                        path,
                        f"version {version} is used twice: also {other}",
                        f"two branches chose the same number? `sqlmig renumber {stem} NEW` moves this pair "
                        "(if no database has applied it)",
                    )
                )
                if trouble is None:
                    duplicates.append(path)
                continue
            slot[kind] = (name, path, trouble is None)

    migrations: list[Migration] = []
    files: list[SqlFile] = []
    for version in sorted(halves):
        slot = halves[version]
        up_half, down_half = slot.get("up"), slot.get("down")
        up = _read(up_half[1], problems) if up_half and up_half[2] else None
        down = _read(down_half[1], problems) if down_half and down_half[2] else None
        if up is not None:
            files.append(up)
        if down is not None:
            files.append(down)
        if up_half is None or down_half is None:
            have_kind = "up" if "up" in slot else "down"
            missing = "down" if have_kind == "up" else "up"
            name, path, _ = slot[have_kind]
            folder, filename = os.path.split(path)
            expected = os.path.join(folder, f"{filename.split('_', 1)[0]}_{name}.{missing}.sql")
            problems.append(Problem(path, f"has no {missing} file", f"create {expected}"))
            continue
        (up_name, up_path, _), (down_name, down_path, _) = up_half, down_half
        if up_name != down_name:
            up_file = os.path.basename(up_path)
            problems.append(Problem(down_path, f"name {down_name!r} does not match its up file {up_file}"))
            continue
        if up is None or down is None:
            continue
        migrations.append(Migration(version, up_name, up, down, checksum(up.sql)))
    files.extend(f for f in (_read(path, problems) for path in duplicates) if f is not None)
    printable = [Problem(shown(p.where), shown(p.message), shown(p.hint)) for p in problems]
    return Discovery(migrations, files, printable)


_READ_HINT = "let the user running sqlmig read it (r and x on the folder and x on every folder above it)"


def shown(path: str) -> str:
    """A path as it can be printed: bytes of a name that is not UTF-8 reach Python as lone surrogates,
    which no UTF-8 output can encode; they are shown as \\xNN instead."""
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        return os.fsencode(path).decode("utf-8", "backslashreplace")
    return path


def _refuse_repeated(dirs: Sequence[Path]) -> None:
    """The same folder given twice (`--dir sql --dir ./sql`, or a link to it) is a usage error naming it,
    not a conflict of every file with itself. Folders that cannot be looked at are left to
    _directory_problem."""
    seen: dict[tuple[int, int], Path] = {}
    for directory in dirs:
        try:
            info = os.stat(directory)
        except (OSError, ValueError):
            continue
        key = (info.st_dev, info.st_ino)
        first = seen.get(key)
        if first is None:
            seen[key] = directory
            continue
        from .errors import ConfigError

        message = (
            f"the migration directory {shown(str(first))} is given twice"
            if str(first) == str(directory)
            else f"{shown(str(directory))} is the same migration directory as {shown(str(first))}, given twice"
        )
        raise ConfigError(message, hint="list each migration directory once (--dir, SQLMIG_DIR or dirs in sqlmig.toml)")


def _directory_problem(directory: Path) -> Problem | None:
    """Why a migration directory cannot be listed (missing, a loop, unreadable, a file), or None."""
    where = str(directory)
    try:
        info = os.stat(directory)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return Problem(where, "symbolic link loop: following it never reaches a folder", _LINK_HINT)
        if exc.errno == errno.ENOENT and os.path.islink(directory):
            return Problem(where, f"symbolic link to a missing directory ({os.readlink(directory)})", _LINK_HINT)
        if exc.errno == errno.ENOENT:
            return Problem(
                where,
                "migration directory does not exist",
                "create it with `sqlmig new NAME`, or point --dir at your migrations",
            )
        if exc.errno == errno.ENOTDIR:
            return Problem(where, "not a directory", "point --dir at the folder that holds the migrations")
        return Problem(where, f"cannot be read: {exc.strerror}", _READ_HINT)
    except ValueError:  # a NUL byte in the path (from SQLMIG_DIR or a config file)
        return Problem(where.replace("\x00", "\\x00"), "not a valid path (it contains a NUL byte)")
    if not stat.S_ISDIR(info.st_mode):
        return Problem(where, "not a directory", "point --dir at the folder that holds the migrations")
    return None


_LINK_HINT = "point the link at the real file or folder, or replace the link with it"
_KINDS = {
    stat.S_IFDIR: "a directory",
    stat.S_IFIFO: "a named pipe (FIFO)",
    stat.S_IFSOCK: "a socket",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
}


def _is_plain_file(entry: os.DirEntry[str]) -> bool:
    """A regular file, not a link, from the listing's file type (no system call where the file system
    gives one); False when it must be asked and cannot be, so _entry_problem says why."""
    try:
        return entry.is_file(follow_symlinks=False)
    except OSError:
        return False


def _entry_problem(path: str, root: Path) -> Problem | None:
    """Why a listed name cannot be read as a migration file, or None: a symbolic link that loops, leads
    nowhere or leaves the directory, or something that is not a regular file (a FIFO would block the
    read forever). Only entries the listing does not already show as regular files get here."""
    try:
        info = os.stat(path)  # follows links
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return Problem(path, "symbolic link loop: following it never reaches a file", _LINK_HINT)
        if exc.errno == errno.ENOENT and os.path.islink(path):
            return Problem(path, f"symbolic link to a missing file ({os.readlink(path)})", _LINK_HINT)
        return Problem(path, f"cannot be read: {exc.strerror}", _READ_HINT)
    if os.path.islink(path) and not _inside(Path(os.path.realpath(path)), root):
        return Problem(path, "symbolic link pointing outside the migration directory")
    if not stat.S_ISREG(info.st_mode):
        kind = _KINDS.get(stat.S_IFMT(info.st_mode), "a special file")
        return Problem(
            path,
            f"{kind}, not a regular file",
            "a migration must be a regular file: replace it with one, or remove it",
        )
    return None


def _inside(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def read_file(path: str) -> tuple[SqlFile | None, list[Problem]]:
    """One file read as discovery reads it (UTF-8, no NUL, markers parsed), for commands given
    paths (`lint --files`); the problems say why it could not be."""
    problems: list[Problem] = []
    return _read(path, problems), problems


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


def next_version_name(migrations: Sequence[Migration], name: str, *, timestamp: bool = False) -> tuple[int, int]:
    """(next version, zero-pad width) for `new`: highest on disk + 1, padded like the existing files;
    with `timestamp`, the UTC time as YYYYMMDDHHMMSS (or highest + 1 if that is not above the
    highest: a clock behind, or a folder whose versions are larger). Either way the new pair sorts
    last, in a folder of one scheme or both.

    Refuses what discovery would refuse once written: a version past the bigint the history stores,
    or a name whose files (with the temporary name `new` writes first) the file system cannot hold.
    """
    from .errors import ConfigError, RefusedError

    if not NAME_RE.match(name):
        raise ConfigError(
            f"invalid migration name {name!r}",
            hint="use lowercase letters, digits and underscores, e.g. add_customer_email",
        )
    width = 4
    highest: Migration | None = None
    for m in migrations:
        if highest is None or m.version >= highest.version:
            highest = m
            width = len(m.up.path.name.split("_", 1)[0])
    if highest is not None and highest.version >= MAX_VERSION:
        raise RefusedError(
            f"no version is left after {highest.version}, the largest the history's bigint holds; nothing was written",
            [Problem(str(highest.up.path), f"has version {highest.version}")],
            hint="if it is not applied anywhere yet, rename its pair to a smaller version "
            "(e.g. a timestamp like 20260101120000), then run `sqlmig new` again",
        )
    version = 1 if highest is None else highest.version + 1
    if timestamp:
        from datetime import UTC, datetime

        version = max(version, int(datetime.now(UTC).strftime("%Y%m%d%H%M%S")))
        width = 14
    longest = f".{version:0{width}d}_{name}.down.sql.tmp"  # the temporary name `new` writes first
    if len(longest) > NAME_MAX:
        room = NAME_MAX - (len(longest) - len(name))
        raise ConfigError(
            f"migration name too long ({len(name)} characters): its files would have names longer than "
            f"{NAME_MAX} bytes, the most a file system allows",
            hint=f"use a name of at most {room} characters",
        )
    return version, width
