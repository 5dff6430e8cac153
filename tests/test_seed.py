"""`sqlmig seed` against a real PostgreSQL: validation before anything runs, one transaction, idempotence."""

from __future__ import annotations

import io
import json
import uuid
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.conninfo import make_conninfo

from sqlmig import Migrator, SeedFailed, SeedInvalid
from sqlmig.events import Event, RowsLoaded
from sqlmig.render import choose

from .support import ROOT, Cli, Conn, Project, run_cli, tables

SHOP = """
CREATE TABLE currency (code text PRIMARY KEY CHECK (code ~ '^[a-z]{3}$'), name text NOT NULL);
CREATE TABLE product (
    id integer PRIMARY KEY,
    handle text NOT NULL UNIQUE,
    title text NOT NULL,
    price integer NOT NULL CHECK (price >= 0),
    currency_code text NOT NULL REFERENCES currency (code),
    status text NOT NULL DEFAULT 'draft',
    metadata jsonb NOT NULL DEFAULT '{}'
);
"""


def shop(project: Project) -> None:
    project.add(1, "shop", SHOP, "DROP TABLE product; DROP TABLE currency;\n")


def seed_file(project: Project, *tables: dict[str, Any], name: str = "data/seed.json") -> Path:
    path = project.root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"tables": list(tables)}, indent=2), encoding="utf-8")
    return path


CURRENCIES = {"table": "currency", "rows": [{"code": "eur", "name": "Euro"}, {"code": "usd", "name": "US Dollar"}]}


def products(n: int, **extra: Any) -> dict[str, Any]:
    rows = [
        {"id": i, "handle": f"p{i}", "title": f"Product {i}", "price": i * 100, "currency_code": "eur"}
        for i in range(n)
    ]
    return {"table": "product", "rows": rows, **extra}


def count(db: Conn, table: str) -> int:
    row = db.execute(f"SELECT count(*) FROM {table}").fetchone()
    assert row is not None
    return int(str(row[0]))


def test_seed_runs_pending_migrations_then_loads(cli: Cli, project: Project, db: Conn) -> None:
    shop(project)
    seed_file(project, CURRENCIES, products(3))
    r = cli("seed")
    assert r.exit_code == 0, r.stderr
    assert r.stderr == ""
    lines = r.stdout.splitlines()
    assert lines[0].startswith("applied 0001_shop (")
    assert lines[1].startswith("seeded currency: 2 inserted, 0 skipped, 0 updated (")
    assert lines[2].startswith("seeded product: 3 inserted, 0 skipped, 0 updated (")
    assert lines[3].startswith("seeded 2 tables from data/seed.json: 5 inserted, 0 skipped, 0 updated in ")
    assert db.execute("SELECT id, title, price, status, metadata FROM product ORDER BY id LIMIT 1").fetchone() == (
        0,
        "Product 0",
        0,
        "draft",
        {},
    )
    assert tables(db) == {"currency", "product", "sqlmig_migrations"}


def test_json_summary(cli: Cli, project: Project) -> None:
    shop(project)
    seed_file(project, {**CURRENCIES, "on_conflict": "skip"}, products(3, on_conflict="skip"))
    r = cli("seed", "--json")
    assert r.exit_code == 0 and r.stderr == ""
    assert json.loads(r.stdout) == {
        "tables": [
            {"table": "currency", "inserted": 2, "skipped": 0, "updated": 0},
            {"table": "product", "inserted": 3, "skipped": 0, "updated": 0},
        ],
        "migrations_applied": 1,
        "dry_run": False,
    }
    again = json.loads(cli("seed", "--json").stdout)
    assert again["migrations_applied"] == 0
    assert again["tables"][1] == {"table": "product", "inserted": 0, "skipped": 3, "updated": 0}


def test_schema_violation_runs_nothing_not_even_migrations(cli: Cli, project: Project, db: Conn) -> None:
    shop(project)
    seed_file(project, CURRENCIES, {"table": "product", "rows": [1], "on_conflict": "merge"})
    r = cli("seed")
    assert r.exit_code == 3
    assert r.stdout == ""
    assert "error: invalid seed file: data/seed.json: 2 problems in its structure" in r.stderr
    assert "/tables/1/on_conflict: 'merge' is not one of" in r.stderr
    assert "/tables/1/rows/0: expected an object, found the number 1" in r.stderr
    assert "Traceback" not in r.stderr
    assert tables(db) == set()


def test_bad_json_runs_nothing(cli: Cli, project: Project, db: Conn) -> None:
    shop(project)
    (project.root / "data").mkdir()
    (project.root / "data" / "seed.json").write_text('{"tables": [\n  {"table": "currency",\n}', encoding="utf-8")
    r = cli("seed", "--json")
    assert r.exit_code == 3
    doc = json.loads(r.stdout)
    assert doc["error"] == "SeedInvalid" and doc["exit_code"] == 3
    assert doc["problems"][0]["where"] == "data/seed.json:3:1"
    assert "data/seed.json:3:1: Expecting property name enclosed in double quotes" in r.stderr
    assert tables(db) == set()


def test_catalog_problems_all_reported_and_nothing_loaded(cli: Cli, project: Project, db: Conn) -> None:
    shop(project)
    rows = [
        {"id": 1, "handle": "a", "title": "A", "price": 1, "currency_code": "eur"},
        {"id": 2, "handle": "b", "title": {"not": "text"}, "price": "abc", "currency_code": "eur"},
        {"id": "x", "handle": "c", "price": 99999999999, "currency_code": "eur"},
        {"id": 4, "handle": "d", "title": "D", "price": 1, "currency_code": "eur", "pricee": 5, "status": None},
    ]
    seed_file(project, CURRENCIES, {"table": "product", "rows": rows}, {"table": "Currency", "rows": []})
    r = cli("seed")
    assert r.exit_code == 3, r.stderr
    assert r.stdout.startswith("applied 0001_shop")  # migrations ran before the catalog check
    err = r.stderr
    assert "error: invalid seed file: data/seed.json: 8 problems against the database; nothing was loaded" in err
    for expected in (
        '/tables/2/table: table "Currency" does not exist',
        '/tables/1/rows/3/pricee: column "pricee" does not exist in table product',
        "hint: did you mean price?",
        '/tables/1/rows/1/title: {"not": "text"} is not valid for column title text',
        "/tables/1/rows/2: missing value for column title (NOT NULL, no default)",
        "/tables/1/rows/3/status: null is not allowed: column status is NOT NULL",
        '/tables/1/rows/1/price: "abc" is not valid for column price integer',
        'hint: invalid input syntax for type integer: "abc"',
        '/tables/1/rows/2/id: "x" is not valid for column id integer',
        "/tables/1/rows/2/price: 99999999999 is not valid for column price integer",
        "hint: out of range: integer holds -2147483648 to 2147483647",
    ):
        assert expected in err, expected
    assert count(db, "currency") == 0 and count(db, "product") == 0


def test_bad_values_alone_are_all_reported_though_the_load_meets_one(cli: Cli, project: Project, db: Conn) -> None:
    """A file that fits the catalog is loaded without asking about values first; when the load then
    fails, every bad value is still named (not only the first COPY met) and nothing stays."""
    shop(project)
    rows = [
        {"id": 1, "handle": "a", "title": "A", "price": 1, "currency_code": "eur"},
        {"id": 2, "handle": "b", "title": "B", "price": "abc", "currency_code": "eur"},
        {"id": 3, "handle": "c", "title": "C", "price": 99999999999, "currency_code": "eur"},
    ]
    seed_file(project, CURRENCIES, {"table": "product", "rows": rows})
    r = cli("seed")
    assert r.exit_code == 3, r.stderr
    assert "2 problems against the database; nothing was loaded" in r.stderr
    assert '/tables/1/rows/1/price: "abc" is not valid for column price integer' in r.stderr
    assert "/tables/1/rows/2/price: 99999999999 is not valid for column price integer" in r.stderr
    assert "seeded" not in r.stdout  # currency was loaded before product failed, and rolled back with it
    assert count(db, "currency") == 0 and count(db, "product") == 0


def test_no_migrate_leaves_pending_migrations(cli: Cli, project: Project, db: Conn) -> None:
    shop(project)
    seed_file(project, CURRENCIES)
    r = cli("seed", "--no-migrate")
    assert r.exit_code == 3
    assert '/tables/0/table: table "currency" does not exist' in r.stderr
    assert "seed runs pending migrations unless --no-migrate" in r.stderr
    assert tables(db) == set()  # not even the history table


def test_missing_seed_file_is_usage_error(cli: Cli, project: Project) -> None:
    r = cli("seed", "--file", "elsewhere/seed.json")
    assert r.exit_code == 2
    assert "no seed file at elsewhere/seed.json" in r.stderr


def test_seed_file_from_config_and_flag(database_url: str, project: Project, db: Conn) -> None:
    shop(project)
    seed_file(project, CURRENCIES, name="fixtures/base.json")
    (project.root / "sqlmig.toml").write_text('seed_file = "fixtures/base.json"\n', encoding="utf-8")
    r = run_cli("--database-url", database_url, "seed")
    assert r.exit_code == 0, r.stderr
    assert "from " + str(project.root / "fixtures" / "base.json") in r.stdout
    seed_file(project, {"table": "currency", "rows": [{"code": "gbp", "name": "Pound"}]}, name="other.json")
    assert run_cli("--database-url", database_url, "seed", "--file", "other.json").exit_code == 0
    assert count(db, "currency") == 3


def test_failure_on_the_server_rolls_back_every_table_and_names_the_row(cli: Cli, project: Project, db: Conn) -> None:
    shop(project)
    bad_check = products(5)
    bad_check["rows"][3]["price"] = -1  # CHECK violation: COPY's context gives the line
    seed_file(project, CURRENCIES, bad_check)
    r = cli("seed")
    assert r.exit_code == 1
    assert (
        'error: seed failed: /tables/1/rows/3 (product): new row for relation "product" violates check '
        'constraint "product_price_check"' in r.stderr
    )
    assert "SQLSTATE 23514" in r.stderr and "nothing was loaded" in r.stderr
    assert count(db, "currency") == 0 and count(db, "product") == 0

    bad_fk = products(40)
    bad_fk["rows"][27]["currency_code"] = "xyz"  # a foreign key is checked at the end of COPY: found by replay
    seed_file(project, CURRENCIES, bad_fk)
    r = cli("seed", "--json")
    assert r.exit_code == 1
    doc = json.loads(r.stdout)
    assert doc["error"] == "SeedFailed" and doc["where"] == "/tables/1/rows/27" and doc["row"] == 27
    assert doc["table"] == "product" and doc["sqlstate"] == "23503"
    assert "Key (currency_code)=(xyz) is not present" in doc["detail"]
    assert count(db, "currency") == 0 and count(db, "product") == 0


def test_failure_in_upsert_names_the_row(cli: Cli, project: Project, db: Conn) -> None:
    shop(project)
    seed_file(project, CURRENCIES, products(3))
    assert cli("seed").exit_code == 0
    clash = products(6, on_conflict="update")
    clash["rows"][4]["handle"] = "p1"  # conflicts on handle, not on the key (id): a unique violation
    seed_file(project, {**CURRENCIES, "on_conflict": "skip"}, clash)
    r = cli("seed")
    assert r.exit_code == 1
    assert "/tables/1/rows/4 (product): duplicate key value violates unique constraint" in r.stderr
    assert count(db, "product") == 3


def test_reseed_with_skip_and_update_is_idempotent(cli: Cli, project: Project, db: Conn) -> None:
    shop(project)
    doc = [{**CURRENCIES, "on_conflict": "skip"}, products(4, on_conflict="update", key=["handle"])]
    seed_file(project, *doc)
    first = json.loads(cli("seed", "--json").stdout)
    assert [t["inserted"] for t in first["tables"]] == [2, 4]
    db.execute("UPDATE currency SET name = 'Euro (edited)' WHERE code = 'eur'")
    before = db.execute("SELECT * FROM product ORDER BY id").fetchall()
    second = json.loads(cli("seed", "--json").stdout)
    assert second["tables"] == [
        {"table": "currency", "inserted": 0, "skipped": 2, "updated": 0},
        {"table": "product", "inserted": 0, "skipped": 4, "updated": 0},
    ]
    assert db.execute("SELECT * FROM product ORDER BY id").fetchall() == before  # untouched
    assert db.execute("SELECT name FROM currency WHERE code = 'eur'").fetchone() == ("Euro (edited)",)  # kept
    doc[1]["rows"][2]["title"] = "Renamed"
    doc[1]["rows"].append({"id": 9, "handle": "new", "title": "New", "price": 5, "currency_code": "usd"})
    seed_file(project, *doc)
    third = json.loads(cli("seed", "--json").stdout)
    assert third["tables"][1] == {"table": "product", "inserted": 1, "skipped": 3, "updated": 1}
    assert db.execute("SELECT title FROM product WHERE handle = 'p2'").fetchone() == ("Renamed",)


def test_error_mode_duplicate_of_existing_row_fails(cli: Cli, project: Project, db: Conn) -> None:
    shop(project)
    seed_file(project, CURRENCIES)
    assert cli("seed").exit_code == 0
    r = cli("seed")
    assert r.exit_code == 1
    assert "/tables/0/rows/0 (currency): duplicate key value violates unique constraint" in r.stderr
    assert "Key (code)=(eur) already exists" in r.stderr


def test_dry_run_reports_real_counts_and_keeps_nothing(cli: Cli, project: Project, db: Conn) -> None:
    shop(project)
    seed_file(project, CURRENCIES, products(3))
    r = cli("seed", "--dry-run")
    assert r.exit_code == 0, r.stderr
    assert r.stdout.splitlines() == [
        "would apply 0001_shop (sql/0001_shop.up.sql)",
        "would seed currency: 2 inserted, 0 skipped, 0 updated",
        "would seed product: 3 inserted, 0 skipped, 0 updated",
        "dry run: 1 migration would be applied, then 2 tables would get 5 inserted, 0 skipped, 0 updated; "
        "nothing was written",
    ]
    assert tables(db) == set()
    bad = products(1)
    bad["rows"][0]["price"] = "cheap"
    seed_file(project, CURRENCIES, bad)
    r = cli("seed", "--dry-run")
    assert r.exit_code == 3 and '/tables/1/rows/0/price: "cheap" is not valid' in r.stderr
    assert tables(db) == set()


def test_dry_run_with_a_pending_no_transaction_migration_says_what_happens(
    cli: Cli, project: Project, db: Conn
) -> None:
    """The rehearsal runs pending migrations in the seed's rolled-back transaction; the user never
    passed --single-transaction, so the message must not blame it."""
    shop(project)
    project.add(2, "index", "-- sqlmig:no-transaction\nCREATE INDEX CONCURRENTLY product_title ON product (title);\n")
    seed_file(project, CURRENCIES)
    r = cli("seed", "--dry-run")
    assert r.exit_code == 3, r.stderr
    assert "single-transaction" not in r.stdout + r.stderr and "Traceback" not in r.stderr
    assert r.stderr.splitlines()[-2:] == [
        "  sql/0002_index.up.sql: marked -- sqlmig:no-transaction, so seed --dry-run cannot rehearse it: the dry"
        " run applies pending migrations inside the seed's one transaction and rolls it back, and this file"
        " cannot run inside a transaction",
        "    hint: apply the pending migrations first (sqlmig migrate), then run sqlmig seed --dry-run;"
        " sqlmig migrate --dry-run lists them",
    ]
    assert tables(db) == set()


def test_names_and_values_can_never_inject_sql(cli: Cli, project: Project, db: Conn) -> None:
    project.add(
        1,
        "odd",
        "CREATE TABLE victim (id int PRIMARY KEY);\n"
        'CREATE TABLE "We""ird; Table" (id int PRIMARY KEY, "co;l"")" text);\n',
    )
    evil = "x'); DROP TABLE victim; --"
    seed_file(
        project,
        {"table": "victim; DROP TABLE victim; --", "rows": []},
        {"table": "victim", "rows": [{"id": 1, 'id") VALUES (1); DROP TABLE victim; --': 1}]},
    )
    r = cli("seed")
    assert r.exit_code == 3
    assert '/tables/0/table: table "victim; DROP TABLE victim; --" does not exist' in r.stderr
    assert 'column "id\\") VALUES (1); DROP TABLE victim; --" does not exist' in r.stderr
    assert "victim" in tables(db)
    values = [evil, "\\N", "tab\there", "new\nline", "back\\slash", '"quoted"', "NULL", "", "€ ☃"]
    rows = [{"id": i, 'co;l")': v} for i, v in enumerate(values)]
    seed_file(project, {"table": 'We"ird; Table', "rows": rows}, {"table": "victim", "rows": [{"id": 1}]})
    r = cli("seed")
    assert r.exit_code == 0, r.stderr
    stored = db.execute('SELECT "co;l"")" FROM "We""ird; Table" ORDER BY id').fetchall()
    assert [v for (v,) in stored] == values
    assert count(db, "victim") == 1


def test_json_array_numeric_and_default_columns(cli: Cli, project: Project, db: Conn) -> None:
    project.add(
        1,
        "types",
        "CREATE TABLE t (id int PRIMARY KEY, doc jsonb, raw json, tags text[], grid int[], docs jsonb[],"
        " amount numeric(40, 20), flag boolean, at timestamptz, note text NOT NULL DEFAULT 'none');\n",
    )
    rows = [
        {
            "id": 1,
            "doc": {"a": [1, 2.50, None], "s": "é"},
            "raw": "a string",
            "tags": ["x", None, 'q"uote', "NULL"],
            "grid": [[1, 2], [3, 4]],
            "docs": [{"k": 1}, [1], "s"],
            "amount": "AMOUNT",  # replaced below by a number with more digits than a float holds
            "flag": True,
            "at": "2026-01-02T03:04:05Z",
        },
        {"id": 2, "note": "given", "doc": None},
    ]
    path = seed_file(project, {"table": "t", "rows": rows})
    path.write_text(path.read_text().replace('"AMOUNT"', "12345678901234567890.12345678901234567890"))
    r = cli("seed")
    assert r.exit_code == 0, r.stderr
    row = db.execute(
        "SELECT doc, raw::text, tags, grid, docs, amount::text, flag, extract(epoch FROM at), note FROM t WHERE id = 1"
    ).fetchone()
    assert row == (
        {"a": [1, 2.5, None], "s": "é"},
        '"a string"',
        ["x", None, 'q"uote', "NULL"],
        [[1, 2], [3, 4]],
        [{"k": 1}, [1], "s"],
        "12345678901234567890.12345678901234567890",
        True,
        1767323045,
        "none",
    )
    assert db.execute("SELECT note, doc FROM t WHERE id = 2").fetchone() == ("given", None)


def test_identity_and_serial_sequences_move_past_seeded_ids(cli: Cli, project: Project, db: Conn) -> None:
    project.add(
        1,
        "ids",
        "CREATE TABLE a (id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, name text);\n"
        "CREATE TABLE b (id serial PRIMARY KEY, name text);\n"
        "CREATE TABLE c (id int GENERATED ALWAYS AS IDENTITY PRIMARY KEY, name text,"
        " upper_name text GENERATED ALWAYS AS (upper(name)) STORED);\n",
    )
    seed_file(
        project,
        {"table": "a", "rows": [{"id": 5, "name": "five"}, {"name": "generated"}]},
        {"table": "b", "rows": [{"id": 7, "name": "seven"}]},
        {"table": "c", "on_conflict": "update", "rows": [{"id": 3, "name": "three"}]},
    )
    r = cli("seed")
    assert r.exit_code == 0, r.stderr
    db.execute("INSERT INTO a (name) VALUES ('next')")
    db.execute("INSERT INTO b (name) VALUES ('next')")
    db.execute("INSERT INTO c (name) VALUES ('next')")
    assert db.execute("SELECT id FROM a WHERE name = 'next'").fetchone() == (6,)
    assert db.execute("SELECT id FROM b WHERE name = 'next'").fetchone() == (8,)
    assert db.execute("SELECT id, upper_name FROM c ORDER BY id").fetchall() == [(3, "THREE"), (4, "NEXT")]
    seed_file(project, {"table": "c", "rows": [{"id": 9, "name": "x", "upper_name": "X"}]})
    r = cli("seed")
    assert r.exit_code == 3
    assert "/tables/0/rows/0/upper_name: column upper_name is generated and cannot be given" in r.stderr


def test_schema_qualified_tables_and_search_path(cli: Cli, project: Project, db: Conn) -> None:
    project.add(
        1,
        "schemas",
        'CREATE SCHEMA catalog;\nCREATE TABLE catalog.product (id int PRIMARY KEY);\nCREATE TABLE "Mixed" (id int);\n',
    )
    seed_file(
        project,
        {"table": "catalog.product", "rows": [{"id": 1}]},
        {"table": "Mixed", "rows": [{"id": 2}, {}]},
        {"table": "product", "rows": []},
    )
    r = cli("seed")
    assert r.exit_code == 3
    assert '/tables/2/table: table "product" does not exist' in r.stderr  # catalog is not on the search_path
    seed_file(project, {"table": "catalog.product", "rows": [{"id": 1}]}, {"table": "Mixed", "rows": [{"id": 2}, {}]})
    assert cli("seed").exit_code == 0
    assert db.execute("SELECT id FROM catalog.product").fetchall() == [(1,)]
    assert db.execute('SELECT id FROM "Mixed" ORDER BY id').fetchall() == [(2,), (None,)]


def test_a_view_is_not_a_table(cli: Cli, project: Project) -> None:
    project.add(1, "view", "CREATE TABLE t (id int);\nCREATE VIEW v AS SELECT id FROM t;\n")
    seed_file(project, {"table": "v", "rows": [{"id": 1}]})
    r = cli("seed")
    assert r.exit_code == 3 and "/tables/0/table: v is a view, not a table" in r.stderr


ORDERS = (
    "CREATE TABLE orders (id serial PRIMARY KEY, code text UNIQUE, total int NOT NULL);\n"
    "CREATE TABLE note (body text);\n"
)
THREE_ORDERS = {"table": "orders", "rows": [{"total": 1}, {"total": 2}, {"total": 3}]}


def test_rows_without_a_key_load_once_and_a_rerun_is_refused_before_anything_is_written(
    cli: Cli, project: Project, db: Conn
) -> None:
    """on_conflict error with the serial key left out: nothing could ever conflict, so a second seed
    would insert every row again (3 orders became 6, exit 0). It loads into an empty table only."""
    project.add(1, "orders", ORDERS)
    seed_file(project, THREE_ORDERS, {"table": "note", "rows": [{"body": "hello"}]})
    r = cli("seed")
    assert r.exit_code == 0, r.stderr
    assert count(db, "orders") == 3 and count(db, "note") == 1
    for args in (("seed",), ("seed", "--dry-run")):
        r = cli(*args)
        assert r.exit_code == 3, (args, r.stdout, r.stderr)
        assert r.stdout == "" and "Traceback" not in r.stderr
        assert r.stderr.splitlines() == [
            "error: invalid seed file: data/seed.json: 2 problems against the database; nothing was loaded",
            "  /tables/0/rows/0: orders already holds rows, and this row gives no key, (id) or (code), so"
            " on_conflict error cannot tell it from a row loaded before: seeding again would insert it again"
            " (also in 2 more rows)",
            '    hint: give the key in every row ("on_conflict": "skip" or "update" then makes re-running'
            ' idempotent), or set "on_conflict": "append" to insert these rows on every run',
            "  /tables/1/rows/0: note already holds rows, and this row gives no key (note has no primary key or"
            " unique constraint), so on_conflict error cannot tell it from a row loaded before: seeding again"
            " would insert it again",
            "    hint: add a primary key or unique constraint and give it in every row, or set"
            ' "on_conflict": "append" to insert these rows on every run',
        ]
        assert count(db, "orders") == 3 and count(db, "note") == 1
    # Rows that all give a key are not refused: a re-run fails on the duplicate, as on_conflict error says.
    seed_file(project, {"table": "orders", "rows": [{"code": "c", "total": 3}]})
    assert cli("seed").exit_code == 0
    r = cli("seed")
    assert r.exit_code == 1 and "Key (code)=(c) already exists" in r.stderr
    assert count(db, "orders") == 4


def test_append_inserts_rows_without_a_key_on_every_run(cli: Cli, project: Project, db: Conn) -> None:
    project.add(1, "orders", ORDERS)
    seed_file(
        project, {**THREE_ORDERS, "on_conflict": "append"}, {"table": "note", "on_conflict": "append", "rows": []}
    )
    for total in (3, 6):
        r = cli("seed")
        assert r.exit_code == 0, r.stderr
        assert r.stdout.splitlines()[-3].startswith("seeded orders: 3 inserted, 0 skipped, 0 updated (")
        assert count(db, "orders") == total
    assert db.execute("SELECT array_agg(id ORDER BY id) FROM orders").fetchone() == ([1, 2, 3, 4, 5, 6],)
    rows = [{"code": "c", "total": 3}, {"code": "c", "total": 4}]
    seed_file(project, {"table": "orders", "on_conflict": "append", "rows": rows})
    r = cli("seed")  # append checks no key: a unique constraint still holds
    assert r.exit_code == 1 and "Key (code)=(c) already exists" in r.stderr


def test_a_role_that_cannot_read_the_table_cannot_seed_rows_without_a_key(
    cli: Cli, project: Project, db: Conn, database_url: str
) -> None:
    project.add(1, "orders", ORDERS)
    assert cli("migrate").exit_code == 0
    role = "seeder_" + uuid.uuid4().hex[:8]
    db.execute(f"CREATE ROLE {role} LOGIN")
    try:
        db.execute(f"GRANT USAGE ON SCHEMA public TO {role}; GRANT INSERT ON orders TO {role};")
        db.execute(f"GRANT USAGE ON SEQUENCE orders_id_seq TO {role}")
        seed_file(project, THREE_ORDERS)
        url = make_conninfo(database_url, user=role)
        r = run_cli("--database-url", url, "seed", "--no-migrate")
        assert r.exit_code == 3, r.stderr
        assert "/tables/0/rows/0: sqlmig cannot tell whether orders already holds rows (permission denied" in r.stderr
        assert "grant SELECT on orders to this role, give the key in every row" in r.stderr
        assert count(db, "orders") == 0
        seed_file(project, {**THREE_ORDERS, "on_conflict": "append"})
        r = run_cli("--database-url", url, "seed", "--no-migrate")
        assert r.exit_code == 0, r.stderr
        assert count(db, "orders") == 3
    finally:
        db.execute(f"DROP OWNED BY {role}")
        db.execute(f"DROP ROLE {role}")


def test_drift_in_history_refuses_before_seeding(cli: Cli, project: Project, db: Conn) -> None:
    shop(project)
    seed_file(project, CURRENCIES)
    assert cli("migrate").exit_code == 0
    (project.sql / "0001_shop.up.sql").write_text(SHOP + "-- edited\nSELECT 1;\n", encoding="utf-8")
    r = cli("seed")
    assert r.exit_code == 3
    assert count(db, "currency") == 0


def test_repo_seed_loads_on_the_example_schema_and_reseeds_idempotently(database_url: str, db: Conn) -> None:
    m = Migrator(database_url, dirs=[ROOT / "sql"])
    first = m.seed(file=ROOT / "data" / "seed.json")
    assert len(first.migrations) >= 5
    inserted = {t.table: t.inserted for t in first.tables}
    assert inserted["product"] >= 20 and count(db, "product") == inserted["product"]
    assert count(db, "product_variant") == inserted["product_variant"] > inserted["product"]
    again = m.seed(file=ROOT / "data" / "seed.json")
    assert again.migrations == ()
    assert all(t.inserted == 0 and t.updated == 0 and t.skipped == t.rows for t in again.tables)


def test_library_api_events_and_errors(database_url: str, project: Project) -> None:
    shop(project)
    path = seed_file(project, CURRENCIES, products(12_000))
    events: list[Event] = []
    m = Migrator(database_url, dirs=[project.sql], on_event=events.append)
    result = m.seed(file=path)
    assert [(t.table, t.rows, t.inserted) for t in result.tables] == [("currency", 2, 2), ("product", 12_000, 12_000)]
    kinds = [type(e).__name__ for e in events]
    assert kinds[0] == "RunStarted" and "MigrationDone" in kinds
    assert kinds.index("SeedStarted") < kinds.index("TableStarted") < kinds.index("TableDone")
    progress = [e.done for e in events if isinstance(e, RowsLoaded) and e.position == 2]
    assert progress == sorted(progress) and progress[-1] == 12_000 and len(progress) >= 3
    with pytest.raises(SeedFailed) as failed:
        m.seed(file=path)
    assert failed.value.exit_code == 1 and failed.value.where == "/tables/0/rows/0"
    seed_file(project, {"table": "nope", "rows": []}, name="bad.json")
    with pytest.raises(SeedInvalid) as invalid:
        m.seed(file=project.root / "bad.json", migrate=False)
    assert [p.where for p in invalid.value.problems] == ["/tables/0/table"]


def test_progress_bar_on_a_terminal(database_url: str, project: Project) -> None:
    shop(project)
    path = seed_file(project, CURRENCIES, products(20))
    screen = io.StringIO()
    out = choose(stdout=screen, stderr=io.StringIO(), tty=True, color=False)
    m = Migrator(database_url, dirs=[project.sql])
    with out.seed_progress() as on_event:
        m.on_event = on_event
        result = m.seed(file=path)
    out.seed(result)
    text = screen.getvalue()
    assert "✓ applied 0001_shop" in text
    assert "✓ seeded product: 20 inserted, 0 skipped, 0 updated" in text
    assert "seeded 2 tables from" in text


def test_values_trusted_without_asking_the_server_are_valid(db: Conn) -> None:
    """valid_by_construction may only say yes where pg_input_is_valid says yes; and it does say yes
    to the plain texts it exists for, or every value would be asked about (and this test be vacuous)."""
    from decimal import Decimal

    from sqlmig.seed.catalog import Column
    from sqlmig.seed.values import to_text, valid_by_construction

    trusted = {"smallint": ["0", "-7", "32767", "-32768"], "integer": ["2147483647", "-2147483648"],
               "bigint": ["9223372036854775807"], "boolean": ["true", "false"], "numeric": ["1.5", "-1.25"],
               "numeric(3,1)": ["9.95"], "numeric(12,2)": ["123456789.5"], "double precision": ["99.95"],
               "text": ["", " 1"]}  # fmt: skip
    for type_name, sure in trusted.items():
        certain = valid_by_construction(Column("c", type_name))
        assert certain is not None and all(certain(text) for text in sure), type_name
    texts = ["0", "-0", "7", "-7", "00012", "2147483647", "2147483648", "-2147483648", "-2147483649", "32767",
             "32768", "9223372036854775807", "9223372036854775808", "1.5", "-1.25", "99.95", "9.95", "123456789.5",
             "1e3", "", " 1", "\u0661", "\u00b2", "true", "false", "t", "NaN", "1" * 400]  # fmt: skip
    for type_name in ("smallint", "integer", "bigint", "boolean", "numeric", "numeric(3,1)", "numeric(12,2)",
                      "double precision", "text"):  # fmt: skip
        certain = valid_by_construction(Column("c", type_name))
        assert certain is not None
        for text in texts:
            if certain(text):
                row = db.execute("SELECT pg_input_is_valid(%s, %s)", (text, type_name)).fetchone()
                assert row == (True,), (type_name, text)
    # json and jsonb get only text sqlmig's serializer wrote
    values = [{"a": [1, None, True]}, "x", "nul\u0000", Decimal("1E+99999"), Decimal("1E+999"), Decimal("-0.5"), []]
    for type_name in ("json", "jsonb"):
        column = Column("c", type_name, kind="json")
        certain = valid_by_construction(column)
        assert certain is not None
        assert certain(to_text({"a": [1, None, True]}, column) or ""), type_name
        for value in values:
            written = to_text(value, column)
            assert written is not None
            if certain(written):
                row = db.execute("SELECT pg_input_is_valid(%s, %s)", (written, type_name)).fetchone()
                assert row == (True,), (type_name, written)


def test_database_in_another_encoding(server_url: str, project: Project) -> None:
    """Text is sent as UTF-8; a character the database cannot hold is a located error, not a crash."""
    name = "t_latin1_" + uuid.uuid4().hex[:8]
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name} ENCODING 'LATIN1' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0")
    try:
        url = make_conninfo(server_url, dbname=name)
        project.add(1, "t", "CREATE TABLE t (id int PRIMARY KEY, a text);\n")
        seed_file(project, {"table": "t", "rows": [{"id": 1, "a": "café"}, {"id": 2, "a": "20 €"}]})
        r = run_cli("--database-url", url, "seed")
        assert r.exit_code == 1
        assert "/tables/0/rows/1 (t):" in r.stderr and "SQLSTATE 22P05" in r.stderr
        assert "Traceback" not in r.stderr
        seed_file(project, {"table": "t", "rows": [{"id": 1, "a": "café"}]})
        assert run_cli("--database-url", url, "seed").exit_code == 0
        with psycopg.connect(url) as conn:
            conn.execute("SET client_encoding TO 'UTF8'")
            assert conn.execute("SELECT a FROM t").fetchall() == [("café",)]
    finally:
        with psycopg.connect(server_url, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
