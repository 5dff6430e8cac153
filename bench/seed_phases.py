"""Where the 100,000-row seed's time goes, phase by phase, beside psql's \\copy in the same run.

`make bench` times whole processes; this times the phases of Migrator.seed in one process (each on a
new database, interleaved with a psql \\copy of the same rows and with a new process that only imports
what `sqlmig seed` imports), and prints the median of each. bench/seed-floor.md reads these figures.
"""

from __future__ import annotations

import argparse
import functools
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))
import workload
from run import ROOT, SERVER_SOURCE, SERVER_VERSION, Server

IMPORTS = "import sqlmig.cli, sqlmig.api, psycopg, jsonschema, sqlmig.db.load, sqlmig.seed.file, sqlmig.seed.rows"


def timed_calls(times: dict[str, list[float]], module: Any, name: str) -> None:
    """Replace module.name by a wrapper that adds the wall time of each call to times[name]."""
    original: Callable[..., Any] = getattr(module, name)

    @functools.wraps(original)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            times.setdefault(name, []).append(time.perf_counter() - started)

    setattr(module, name, wrapper)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--reps", type=int, default=9)
    parser.add_argument("--work", type=Path, default=ROOT / "bench" / "work" / "seed-phases")
    args = parser.parse_args()

    import sqlmig.db.load
    import sqlmig.seed.file
    import sqlmig.seed.rows
    from sqlmig import Migrator
    from sqlmig.embedded import bin_dir, throwaway

    times: dict[str, list[float]] = {}
    for module, name in (
        (sqlmig.seed.file, "read"),
        (sqlmig.db.load, "read_catalog"),
        (sqlmig.seed.rows, "prepare"),
        (sqlmig.db.load, "check_reruns"),
        (sqlmig.db.load, "load_tables"),
    ):
        timed_calls(times, module, name)
    work: Path = args.work.resolve()
    shutil.rmtree(work, ignore_errors=True)
    seed = workload.generate_seed(work)
    empty = work / "empty-sql"
    empty.mkdir()
    pg_parent = Path(tempfile.mkdtemp(prefix="sqlmig-phases-"))
    pg_parent.chmod(0o755)
    try:
        with throwaway(pg_parent, SERVER_VERSION, source=SERVER_SOURCE) as url:
            server = Server(url)
            for _ in range(args.reps):
                started = time.perf_counter()
                subprocess.run([sys.executable, "-c", IMPORTS], check=True)
                times.setdefault("imports, in a new process", []).append(time.perf_counter() - started)
                for tool in ("psql \\copy (the floor)", "Migrator.seed, in all"):
                    with server.database() as db:
                        with psycopg.connect(server.libpq(db), autocommit=True) as conn:
                            conn.execute(seed.schema_file.read_text())
                        started = time.perf_counter()
                        if tool.startswith("psql"):
                            psql = [
                                str(bin_dir(SERVER_VERSION, SERVER_SOURCE) / "psql"),
                                "-X",
                                "-q",
                                "-v",
                                "ON_ERROR_STOP=1",
                            ]
                            subprocess.run([*psql, "-d", server.libpq(db), "-f", str(seed.psql_copy)], check=True)
                        else:
                            Migrator(server.libpq(db), dirs=[empty]).seed(file=seed.json_file, migrate=False)
                        times.setdefault(tool, []).append(time.perf_counter() - started)
            server.admin.close()
    finally:
        shutil.rmtree(pg_parent, ignore_errors=True)
    for name, seconds in times.items():
        print(f"{name:28} median {statistics.median(seconds):.3f} s   ({' '.join(f'{s:.2f}' for s in seconds)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
