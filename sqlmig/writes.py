"""Files sqlmig writes (a new migration pair, the schema file): whole, or not at all."""

from __future__ import annotations

import contextlib
import errno
from pathlib import Path

from .errors import Problem, RefusedError, WriteFailed


def replace_file(path: Path, text: str) -> None:
    """Write `text` to `path` whole or not at all (a temporary file renamed over it). An error
    names `path`, never the temporary file the user did not ask for."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise WriteFailed(
            f"cannot write {path}: {exc.strerror or exc}",
            hint="give a file in a folder that exists and that you may write to",
        ) from None


def write_new(directory: Path, *files: tuple[Path, str]) -> None:
    """Write both files or neither: each goes to a temporary name first, then both are renamed."""
    written: list[Path] = []
    try:
        for path, _ in files:  # inside the try: a path too long to look at is an OSError too
            if path.exists():
                raise RefusedError(f"{path} already exists", [Problem(str(path), "already exists")])
        directory.mkdir(parents=True, exist_ok=True)
        temps = []
        for path, text in files:
            tmp = path.with_name(f".{path.name}.tmp")
            written.append(tmp)
            tmp.write_text(text, encoding="utf-8")
            temps.append((tmp, path))
        for tmp, path in temps:
            tmp.rename(path)
            written.append(path)
    except OSError as exc:
        for path in written:
            with contextlib.suppress(OSError):
                path.unlink()
        too_long = exc.errno == errno.ENAMETOOLONG
        raise WriteFailed(
            f"cannot write {exc.filename or directory}: {exc.strerror}",
            hint="use a shorter folder (--into, --dir); nothing was created"
            if too_long
            else "check the directory's permissions and free space; nothing was created",
        ) from None


def rename_all(moves: list[tuple[Path, Path]]) -> None:
    """Rename each file, all or none: a target that exists stops everything before any rename, and
    a rename that fails undoes the ones before it (a renumbered pair is never left half moved)."""
    for _, target in moves:
        if target.exists():
            raise RefusedError(
                f"{target} already exists; nothing was renamed", [Problem(str(target), "already exists")]
            )
    done: list[tuple[Path, Path]] = []
    try:
        for source, target in moves:
            source.rename(target)
            done.append((source, target))
    except OSError as exc:
        for source, target in reversed(done):
            with contextlib.suppress(OSError):
                target.rename(source)
        raise WriteFailed(
            f"cannot rename {exc.filename or moves[0][0]}: {exc.strerror}",
            hint="check the folder's permissions; nothing was renamed",
        ) from None
