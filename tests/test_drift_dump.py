"""`sqlmig drift` (the live schema against the one the applied migrations build) and `sqlmig dump`
(the schema as stable text), on a real server."""

from __future__ import annotations

import json

from .support import Conn, Project, run_cli, tables


def three_tables(project: Project) -> None:
    project.add(1, "a", "CREATE TABLE a (id int PRIMARY KEY, name text NOT NULL);", "DROP TABLE a;")
    project.add(2, "a_name", "CREATE INDEX a_name ON a (name);", "DROP INDEX a_name;")
    project.add(
        3,
        "b",
        "CREATE TYPE mood AS ENUM ('sad', 'ok');\nCREATE TABLE b (id int REFERENCES a, m mood DEFAULT 'ok');",
        "DROP TABLE b;\nDROP TYPE mood;",
    )


def test_no_drift_right_after_migrate(project: Project, database_url: str, server_url: str) -> None:
    three_tables(project)
    assert run_cli("--database-url", database_url, "migrate").exit_code == 0
    r = run_cli("--database-url", database_url, "drift", "--scratch-url", server_url)
    assert (r.exit_code, r.stderr) == (0, "")
    assert r.stdout == "no drift: the database has exactly the schema its 3 applied migrations build\n"


def test_a_column_added_and_an_index_dropped_by_hand_are_drift(
    project: Project, database_url: str, server_url: str, db: Conn
) -> None:
    three_tables(project)
    assert run_cli("--database-url", database_url, "migrate").exit_code == 0
    db.execute("ALTER TABLE a ADD COLUMN extra int")
    db.execute("DROP INDEX a_name")
    r = run_cli("--database-url", database_url, "drift", "--scratch-url", server_url)
    assert r.exit_code == 3
    assert "column public.a.extra: in the database, not made by the migrations" in r.stdout
    assert "index public.a_name: made by the migrations, missing from the database" in r.stdout
    assert "drift: " in r.stdout.splitlines()[-1]
    doc = json.loads(run_cli("--json", "--database-url", database_url, "drift", "--scratch-url", server_url).stdout)
    assert doc["ok"] is False and doc["applied"] == 3
    found = {(d["kind"], d["name"], d["attribute"]) for d in doc["differences"] if not d["cosmetic"]}
    assert ("column", "public.a.extra", None) in found and ("index", "public.a_name", None) in found


def test_drift_builds_from_the_sql_that_ran_not_an_edited_file(
    project: Project, database_url: str, server_url: str
) -> None:
    """An edit after applying is validate's business; drift compares with what really ran."""
    three_tables(project)
    assert run_cli("--database-url", database_url, "migrate").exit_code == 0
    (project.sql / "0002_a_name.up.sql").write_text("CREATE INDEX a_name ON a (name, id);")
    r = run_cli("--database-url", database_url, "drift", "--scratch-url", server_url)
    assert r.exit_code == 0, r.stdout


def test_drift_only_reads_the_target(project: Project, database_url: str, server_url: str, db: Conn) -> None:
    three_tables(project)
    r = run_cli("--database-url", database_url, "drift", "--scratch-url", server_url)
    assert r.exit_code == 0, r.stdout + r.stderr
    assert "0 applied migrations" in r.stdout
    assert tables(db) == set()


def test_dump_is_stable_across_runs_and_after_up_down_up(project: Project, database_url: str, db: Conn) -> None:
    three_tables(project)
    assert run_cli("--database-url", database_url, "migrate").exit_code == 0
    first = run_cli("--database-url", database_url, "dump")
    assert first.exit_code == 0 and first.stderr == ""
    assert first.stdout == run_cli("--database-url", database_url, "dump").stdout
    assert "sqlmig_migrations" not in first.stdout
    for name in ("a", "b", "a_name", "mood"):
        assert name in first.stdout
    assert run_cli("--database-url", database_url, "down", "--all").exit_code == 0
    assert run_cli("--database-url", database_url, "migrate").exit_code == 0
    assert run_cli("--database-url", database_url, "dump").stdout == first.stdout


def test_dump_to_a_file_and_the_schema_file_setting(project: Project, database_url: str, db: Conn) -> None:
    three_tables(project)
    out = project.root / "schema.sql"
    (project.root / "sqlmig.toml").write_text('schema_file = "schema.sql"\n')
    assert run_cli("--database-url", database_url, "migrate", "--to", "1").exit_code == 0
    after_one = out.read_text()
    assert "a_name" not in after_one and "CREATE TABLE" in after_one
    assert run_cli("--database-url", database_url, "migrate").exit_code == 0
    after_all = out.read_text()
    assert "a_name" in after_all
    n = json.loads(run_cli("--json", "--database-url", database_url, "dump").stdout)["objects"]
    r = run_cli("--database-url", database_url, "dump", "-o", str(project.root / "other.sql"))
    assert r.exit_code == 0 and r.stdout == f"wrote {project.root / 'other.sql'} ({n} objects)\n"
    assert (project.root / "other.sql").read_text() == after_all
    assert run_cli("--database-url", database_url, "down", "--all").exit_code == 0
    assert "a_name" not in out.read_text()
    # nothing to apply: the file is not rewritten
    out.write_text("kept")
    assert run_cli("--database-url", database_url, "down").exit_code == 0
    assert out.read_text() == "kept"


def test_dump_creates_nothing_and_a_bad_output_is_a_clear_error(project: Project, database_url: str, db: Conn) -> None:
    r = run_cli("--database-url", database_url, "dump", "-o", str(project.root / "no" / "such" / "dir" / "s.sql"))
    assert r.exit_code == 3 and "cannot write" in r.stderr and "Traceback" not in r.stderr
    assert tables(db) == set()
    assert not (project.root / "no").exists()
