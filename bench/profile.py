"""`make bench-profile`: where sqlmig's time goes on the benchmark's paths (pyinstrument, else cProfile).

Profiles --help, apply of N migrations, status, a no-op migrate, the down of the last one with N
applied and the 100,000-row seed of `make bench`, each in its own process on one throwaway PostgreSQL,
and writes one report per path to
bench/work/profile/ (text; pyinstrument's call tree when it is installed).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))
import workload
from run import ROOT, SERVER_SOURCE, SERVER_VERSION, Server


def profiled(args: list[str], report: Path, env: dict[str, str]) -> None:
    if importlib.util.find_spec("pyinstrument"):
        cmd = [sys.executable, "-m", "pyinstrument", "-i", "0.0005", "-o", str(report), "-m", "sqlmig", *args]
    else:
        stats = report.with_suffix(".pstats")
        cmd = [sys.executable, "-m", "cProfile", "-o", str(stats), "-m", "sqlmig", *args]
    subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL, cwd=report.parent)
    if not importlib.util.find_spec("pyinstrument"):
        import pstats

        with report.open("w") as fh:
            pstats.Stats(str(report.with_suffix(".pstats")), stream=fh).sort_stats("cumulative").print_stats(60)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("-n", type=int, default=1000, help="number of migrations")
    parser.add_argument("--work", type=Path, default=ROOT / "bench" / "work" / "profile")
    parser.add_argument("--seed-only", action="store_true", help="profile only the 100,000-row seed")
    args = parser.parse_args()

    from sqlmig.embedded import throwaway

    subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "sqlmig")], check=True)
    work: Path = args.work.resolve()
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    w = workload.generate(work / "workload", args.n)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SQLMIG_") and k != "PYTHONDONTWRITEBYTECODE"}
    env["NO_COLOR"] = "1"
    pg_parent = Path(tempfile.mkdtemp(prefix="sqlmig-profile-"))
    pg_parent.chmod(0o755)
    try:
        with throwaway(pg_parent, SERVER_VERSION, source=SERVER_SOURCE) as url:
            server = Server(url)
            db = server.libpq(server.create())
            base = ["--database-url", db, "--dir", str(w.sqlmig_dir)]
            paths = [
                ("help", ["--help"]),
                ("apply", [*base, "migrate"]),
                ("status", [*base, "status"]),
                ("noop-migrate", [*base, "migrate"]),
                ("down-last", [*base, "down"]),
            ]
            for name, extra in [] if args.seed_only else paths:
                report = work / f"{name}.txt"
                profiled(extra, report, env)
                print(f"{name}: {report}")
            seed = workload.generate_seed(work / "seed")
            seed_db = server.libpq(server.create())
            with psycopg.connect(seed_db, autocommit=True) as conn:
                conn.execute(seed.schema_file.read_text())
            empty = work / "empty-sql"
            empty.mkdir()
            report = work / "seed.txt"
            seed_args = ["--database-url", seed_db, "--dir", str(empty), "seed", "--file", str(seed.json_file)]
            profiled([*seed_args, "--no-migrate"], report, env)
            print(f"seed: {report}")
            server.admin.close()
    finally:
        shutil.rmtree(pg_parent, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
