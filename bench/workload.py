"""The benchmark's content: N realistic migrations (in each tool's format) and a 100,000-row seed."""

from __future__ import annotations

import csv
import json
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path


def _stem(i: int, width: int) -> str:
    return f"{i:0{width}d}_create_item_{i:0{width}d}"


def up_sql(i: int, width: int) -> str:
    """Migration i: a table with a foreign key to table i-1, an index, a plpgsql function and 10 rows."""
    t = f"item_{i:0{width}d}"
    parent = f"item_{i - 1:0{width}d}"
    fk = f" REFERENCES {parent} (id)" if i > 1 else ""
    values = ",\n".join(f"    ('{t} row {k}', {k if i > 1 else 'NULL'}, {k * 10})" for k in range(1, 11))
    return f"""-- {t}: one more entity of the catalogue, linked to the previous one.
CREATE TABLE {t} (
    id bigserial PRIMARY KEY,
    label text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    parent_id bigint{fk},
    weight integer NOT NULL DEFAULT 0
);

CREATE INDEX {t}_parent_idx ON {t} (parent_id);

CREATE FUNCTION {t}_add(p_label text, p_weight integer) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    new_id bigint;
BEGIN
    IF p_weight < 0 THEN
        RAISE EXCEPTION 'weight must not be negative; got %', p_weight;
    END IF;
    INSERT INTO {t} (label, weight) VALUES (p_label, p_weight) RETURNING id INTO new_id;
    RETURN new_id;
END;
$$;

INSERT INTO {t} (label, parent_id, weight) VALUES
{values};
"""


def down_sql(i: int, width: int) -> str:
    t = f"item_{i:0{width}d}"
    return f"DROP FUNCTION {t}_add(text, integer);\nDROP TABLE {t};\n"


@dataclass(frozen=True)
class Workload:
    """Where the generated files of one size N are, per tool."""

    n: int
    root: Path

    # Each tool's usual directory name ("sqlmig" would also shadow the package for `python -m`).
    @property
    def sqlmig_dir(self) -> Path:
        return self.root / "sql"

    @property
    def dbmate_dir(self) -> Path:
        return self.root / "db" / "migrations"

    @property
    def yoyo_dir(self) -> Path:
        return self.root / "migrations"

    @property
    def psql_up(self) -> Path:
        return self.root / "psql_up.sql"

    @property
    def psql_down(self) -> Path:
        return self.root / "psql_down.sql"


def generate(root: Path, n: int) -> Workload:
    """Write the same N migrations for sqlmig, dbmate, yoyo and the psql floor scripts."""
    w = Workload(n, root)
    width = max(4, len(str(n)))
    for d in (w.sqlmig_dir, w.dbmate_dir, w.yoyo_dir):
        d.mkdir(parents=True, exist_ok=True)
    floor_up = ["\\set ON_ERROR_STOP 1"]
    floor_down = ["\\set ON_ERROR_STOP 1"]
    for i in range(1, n + 1):
        stem = _stem(i, width)
        up, down = up_sql(i, width), down_sql(i, width)
        (w.sqlmig_dir / f"{stem}.up.sql").write_text(up)
        (w.sqlmig_dir / f"{stem}.down.sql").write_text(down)
        (w.dbmate_dir / f"{stem}.sql").write_text(f"-- migrate:up\n{up}\n-- migrate:down\n{down}")
        (w.yoyo_dir / f"{stem}.sql").write_text(up)
        (w.yoyo_dir / f"{stem}.rollback.sql").write_text(down)
        floor_up += ["BEGIN;", f"\\ir sql/{stem}.up.sql", "COMMIT;"]
    for i in range(n, 0, -1):
        floor_down += ["BEGIN;", f"\\ir sql/{_stem(i, width)}.down.sql", "COMMIT;"]
    w.psql_up.write_text("\n".join(floor_up) + "\n")
    w.psql_down.write_text("\n".join(floor_down) + "\n")
    return w


# ---- seed: 3 tables, 100,000 rows, mixed types including jsonb --------------------------------

SEED_SCHEMA = """
CREATE TABLE seed_customer (
    id bigint PRIMARY KEY,
    email text NOT NULL UNIQUE,
    name text NOT NULL,
    active boolean NOT NULL,
    created_at timestamptz NOT NULL
);
CREATE TABLE seed_product (
    id bigint PRIMARY KEY,
    handle text NOT NULL UNIQUE,
    title text NOT NULL,
    price numeric(12, 2) NOT NULL,
    metadata jsonb NOT NULL
);
CREATE TABLE seed_order (
    id bigint PRIMARY KEY,
    customer_id bigint NOT NULL REFERENCES seed_customer (id),
    product_id bigint NOT NULL REFERENCES seed_product (id),
    quantity integer NOT NULL,
    total numeric(14, 2) NOT NULL,
    placed_at timestamptz NOT NULL,
    details jsonb
);
"""
SEED_COLUMNS = {
    "seed_customer": ("id", "email", "name", "active", "created_at"),
    "seed_product": ("id", "handle", "title", "price", "metadata"),
    "seed_order": ("id", "customer_id", "product_id", "quantity", "total", "placed_at", "details"),
}


@dataclass(frozen=True)
class Seed:
    json_file: Path
    schema_file: Path
    psql_copy: Path
    rows: int


def generate_seed(root: Path, customers: int = 20_000, products: int = 20_000, orders: int = 60_000) -> Seed:
    """The same rows as a sqlmig seed file and as CSV files loaded by one psql \\copy session."""
    rng = random.Random(7)
    start = datetime(2024, 1, 1, tzinfo=UTC)
    tables: dict[str, list[dict[str, object]]] = {
        "seed_customer": [
            {
                "id": i,
                "email": f"customer{i}@example.com",
                "name": f"Customer {i}",
                "active": i % 7 != 0,
                "created_at": (start + timedelta(minutes=i)).isoformat(),
            }
            for i in range(1, customers + 1)
        ],
        "seed_product": [
            {
                "id": i,
                "handle": f"product-{i}",
                "title": f"Product {i}",
                "price": rng.randint(100, 99_999) / 100,
                "metadata": {"color": rng.choice(["red", "green", "blue"]), "sizes": ["S", "M", "L"], "stock": i % 50},
            }
            for i in range(1, products + 1)
        ],
        "seed_order": [
            {
                "id": i,
                "customer_id": rng.randint(1, customers),
                "product_id": rng.randint(1, products),
                "quantity": rng.randint(1, 5),
                "total": rng.randint(100, 500_000) / 100,
                "placed_at": (start + timedelta(seconds=37 * i)).isoformat(),
                "details": None if i % 5 == 0 else {"gift": i % 3 == 0, "note": f"order {i}"},
            }
            for i in range(1, orders + 1)
        ],
    }
    root.mkdir(parents=True, exist_ok=True)
    doc = {"tables": [{"table": name, "rows": rows} for name, rows in tables.items()]}
    json_file = root / "seed.json"
    json_file.write_text(json.dumps(doc))
    schema_file = root / "seed_schema.sql"
    schema_file.write_text(SEED_SCHEMA)
    script = ["\\set ON_ERROR_STOP 1", "BEGIN;"]
    for name, rows in tables.items():
        cols = SEED_COLUMNS[name]
        path = root / f"{name}.csv"
        with path.open("w", newline="") as fh:
            out = csv.writer(fh)
            for row in rows:
                out.writerow([_csv(row[c]) for c in cols])
        script.append(f"\\copy {name} ({', '.join(cols)}) FROM '{path}' WITH (FORMAT csv)")
    script.append("COMMIT;")
    psql_copy = root / "psql_copy.sql"
    psql_copy.write_text("\n".join(script) + "\n")
    return Seed(json_file, schema_file, psql_copy, sum(len(r) for r in tables.values()))


def _csv(value: object) -> object:
    """CSV text for COPY: NULL is an unquoted empty field, JSON values are their JSON text."""
    if value is None:
        return ""
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    if isinstance(value, bool):
        return "t" if value else "f"
    return value
