"""History integrity against a real PostgreSQL: drift, missing and failed rows, out-of-order files,
validate / diff / repair / baseline and status --check, through the CLI and the library."""

from __future__ import annotations

import json
import uuid

import pytest
from psycopg.conninfo import make_conninfo

from sqlmig import BaselineResult, DiffResult, Migrator, RepairResult, ValidateResult
from sqlmig.db.lock import lock_key
from sqlmig.errors import ConfigError, HistoryError, RefusedError
from sqlmig.history_checks import unified_diff
from sqlmig.migrations import checksum
from sqlmig.plan import is_cosmetic
from sqlmig.scanner import significant_tokens, tokenize

from .support import Cli, Conn, Project, history, run_cli, tables, three


def states(cli: Cli) -> dict[int, str]:
    r = cli("status", "--json")
    assert r.exit_code == 0, r.stderr
    return {m["version"]: m["state"] for m in json.loads(r.stdout)["migrations"]}


def row(db: Conn, version: int) -> tuple[object, ...] | None:
    return db.execute(
        "SELECT name, checksum, applied_sql, state, error FROM sqlmig_migrations WHERE version = %s", (version,)
    ).fetchone()


def snapshot(db: Conn) -> list[tuple[object, ...]]:
    """Everything the history holds, to prove a refused command changed nothing."""
    return db.execute(
        "SELECT version, name, checksum, applied_sql, state, error, seq FROM sqlmig_migrations ORDER BY seq"
    ).fetchall()


# ---- cosmetic edits ----------------------------------------------------------------------------


def test_cosmetic_edit_stays_applied_and_blocks_nothing(cli: Cli, project: Project, db: Conn) -> None:
    three(project)
    assert cli("migrate", "--to", "2").exit_code == 0
    up, _ = project.add(
        1, "create_a", "-- the currency table\ncreate   table a (\n  id INT primary key -- key\n);\n", "DROP TABLE a;\n"
    )

    doc = json.loads(cli("status", "--json").stdout)
    first = doc["migrations"][0]
    assert first["state"] == "applied" and first["cosmetic_change"] is True
    assert first["checksum"] != first["file_checksum"]
    assert doc["warnings"][0]["where"] == "sql/0001_create_a.up.sql"
    assert "cosmetic" in doc["warnings"][0]["message"]

    plain = cli("status")
    assert plain.exit_code == 0 and plain.stderr == ""
    assert plain.stdout.splitlines()[1].split()[2] == "applied" and "cosmetic-edit" in plain.stdout.splitlines()[1]
    assert "note: sql/0001_create_a.up.sql: applied migration 1 changed only in whitespace or comments" in plain.stdout

    v = cli("validate")
    assert v.exit_code == 0, v.stdout + v.stderr
    assert "warning: sql/0001_create_a.up.sql:" in v.stdout and "cosmetic" in v.stdout
    assert v.stdout.splitlines()[-1].startswith("ok (0 problems, 1 warning")
    assert v.stderr == ""

    d = cli("diff", "1")
    assert d.exit_code == 0
    assert d.stdout.startswith("--- 0001_create_a (as applied)\n+++ sql/0001_create_a.up.sql\n")
    assert "-CREATE TABLE a (id int PRIMARY KEY);\n" in d.stdout and "+-- the currency table\n" in d.stdout
    assert "cosmetic" in d.stderr

    # nothing blocks: a check, a migrate and a down all go ahead
    assert cli("status", "--check").exit_code == 3  # 3 is pending ...
    assert cli("migrate").exit_code == 0
    assert cli("status", "--check").exit_code == 0  # ... and a cosmetic edit alone is at head
    assert cli("down", "--all").exit_code == 0
    assert tables(db) == {"sqlmig_migrations"}
    assert up.is_file()


def test_comment_inside_function_body_is_a_real_change(cli: Cli, project: Project) -> None:
    """A dollar-quoted body is stored by the server as written: a comment there is not cosmetic."""
    body = "CREATE FUNCTION f() RETURNS int LANGUAGE sql AS $$ SELECT 1 $$;\n"
    project.add(1, "f", body, "DROP FUNCTION f();\n")
    assert cli("migrate").exit_code == 0
    project.add(1, "f", body.replace("SELECT 1", "SELECT 1 -- one"), "DROP FUNCTION f();\n")
    assert states(cli) == {1: "modified"}


# ---- real edits ------------------------------------------------------------------------------


def test_real_edit_blocks_until_accepted(cli: Cli, project: Project, db: Conn) -> None:
    three(project)
    assert cli("migrate", "--to", "2").exit_code == 0
    old_sum = checksum("CREATE TABLE b (id int REFERENCES a);\n")
    new_sql = "CREATE TABLE b (id int REFERENCES a, note text);\n"
    project.add(2, "create_b", new_sql, "DROP TABLE b;\n")
    before = snapshot(db)

    s = cli("status")
    assert s.exit_code == 0
    assert s.stdout.splitlines()[2].split()[:3] == ["2", "create_b", "modified"]
    assert "`sqlmig diff 2`" in s.stdout

    check = cli("status", "--check")
    assert check.exit_code == 3
    assert "modified" in check.stdout  # the status itself is still printed
    assert check.stderr.strip() == "error: not at head: 1 modified, 1 pending"

    v = cli("validate")
    assert v.exit_code == 3
    assert (
        f"problem: sql/0002_create_b.up.sql: applied migration 2 was modified after it ran "
        f"(recorded checksum {old_sum[:12]}, file now {checksum(new_sql)[:12]})" in v.stdout
    )
    assert "error: validation found 1 blocking problem" in v.stderr

    for command in (("migrate",), ("down",), ("down", "--all")):
        r = cli(*command)
        assert r.exit_code == 3, command
        assert "sql/0002_create_b.up.sql: applied migration 2 was modified" in r.stderr
        assert old_sum[:12] in r.stderr and checksum(new_sql)[:12] in r.stderr
        assert "nothing was run" in r.stderr and "Traceback" not in r.stderr
    assert tables(db) == {"a", "b", "sqlmig_migrations"}
    assert snapshot(db) == before

    d = cli("diff", "2")
    assert d.exit_code == 0 and d.stderr == ""
    assert d.stdout == (
        "--- 0002_create_b (as applied)\n"
        "+++ sql/0002_create_b.up.sql\n"
        "@@ -1 +1 @@\n"
        "-CREATE TABLE b (id int REFERENCES a);\n"
        "+CREATE TABLE b (id int REFERENCES a, note text);\n"
    )

    r = cli("repair", "--accept", "2")
    assert r.exit_code == 0, r.stderr
    assert r.stdout.splitlines() == [
        f"accept 0002_create_b: checksum {old_sum[:12]} -> {checksum(new_sql)[:12]}, "
        "recorded SQL replaced by the file's text (was modified)",
        "changed 1 history row",
    ]
    assert row(db, 2) == ("create_b", checksum(new_sql), new_sql, "applied", None)
    assert cli("diff", "2").stderr.startswith("migration 2: the file on disk is the SQL that was applied")
    assert cli("migrate").exit_code == 0
    assert cli("status", "--check").exit_code == 0

    again = cli("repair", "--accept", "2")  # idempotent: says so, changes nothing
    assert again.exit_code == 0
    assert "unchanged: 0002_create_b already matches its file" in again.stdout
    assert "nothing to repair" in again.stdout


def test_accept_all_dry_run_and_json(cli: Cli, project: Project, db: Conn) -> None:
    three(project)
    assert cli("migrate").exit_code == 0
    project.add(1, "create_a", "CREATE TABLE a (id int PRIMARY KEY);  -- cosmetic\n", "DROP TABLE a;\n")
    project.add(3, "create_c", "CREATE TABLE c (id bigint);\n", "DROP TABLE c;\n")
    before = snapshot(db)

    dry = cli("repair", "--accept-all", "--dry-run")
    assert dry.exit_code == 0
    assert [line.split(":")[0] for line in dry.stdout.splitlines()] == [
        "would accept 0001_create_a",
        "would accept 0003_create_c",
    ]
    assert snapshot(db) == before

    r = cli("repair", "--accept-all", "--json")
    assert r.exit_code == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["dry_run"] is False and doc["skipped"] == []
    assert [(c["action"], c["version"], c["state_before"], c["state_after"]) for c in doc["changes"]] == [
        ("accept", 1, "applied", "applied"),
        ("accept", 3, "modified", "applied"),
    ]
    assert doc["changes"][1]["checksum_after"] == checksum("CREATE TABLE c (id bigint);\n")
    assert states(cli) == {1: "applied", 2: "applied", 3: "applied"}
    assert json.loads(cli("status", "--json").stdout)["warnings"] == []
    # seq (the order of application) is untouched by repair
    assert [r[0] for r in snapshot(db)] == [1, 2, 3]

    nothing = cli("repair", "--accept-all")
    assert nothing.exit_code == 0 and nothing.stdout.strip() == "nothing to repair: the history was not changed"


def test_repair_refuses_bad_requests_and_changes_nothing(cli: Cli, project: Project, db: Conn) -> None:
    three(project)
    assert cli("migrate", "--to", "2").exit_code == 0
    project.add(2, "create_b", "CREATE TABLE b (id int);\n", "DROP TABLE b;\n")
    before = snapshot(db)

    none = cli("repair")
    assert none.exit_code == 2 and "--accept VERSION" in none.stderr and none.stdout == ""
    unknown = cli("repair", "--accept", "9")
    assert unknown.exit_code == 2 and "no migration with version 9" in unknown.stderr
    twice = cli("repair", "--accept", "2", "--forget", "2")
    assert twice.exit_code == 2 and "named more than once" in twice.stderr

    # one good request and two bad ones: both bad ones are reported, none is carried out
    r = cli("repair", "--accept", "2", "--accept", "3", "--forget", "1")
    assert r.exit_code == 3
    assert "2 repair requests cannot be done; nothing was changed" in r.stderr
    assert "--accept 3: migration 3 was never applied" in r.stderr
    assert "--forget 1: migration 1 is applied and its files are on disk" in r.stderr
    assert r.stdout == "" and "Traceback" not in r.stderr
    resolve = cli("repair", "--resolve", "1")
    assert resolve.exit_code == 3 and "--resolve 1: migration 1 is applied, not failed" in resolve.stderr
    assert snapshot(db) == before

    j = cli("--json", "repair", "--forget", "2")
    assert j.exit_code == 3
    doc = json.loads(j.stdout)
    assert doc["error"] == "RefusedError" and doc["exit_code"] == 3
    assert doc["problems"][0]["where"] == "sql/0002_create_b.up.sql"
    assert "repair --accept 2" in doc["problems"][0]["hint"]
    assert snapshot(db) == before


def test_repair_without_history_table_creates_nothing(cli: Cli, project: Project, db: Conn) -> None:
    three(project)
    r = cli("repair", "--forget", "1")
    assert r.exit_code == 3 and "not in the history" in r.stderr
    assert cli("repair", "--accept-all").exit_code == 0
    assert tables(db) == set()


def test_accept_upgrades_a_first_version_history_table(cli: Cli, project: Project, db: Conn) -> None:
    """A row written by a sqlmig that kept no SQL: diff cannot compare, accept records the text."""
    three(project)
    db.execute(
        "CREATE TABLE sqlmig_migrations (version bigint PRIMARY KEY, name text NOT NULL, checksum text NOT NULL,"
        " applied_at timestamptz NOT NULL DEFAULT now(), applied_by text NOT NULL DEFAULT current_user,"
        " execution_ms integer, seq bigint GENERATED ALWAYS AS IDENTITY)"
    )
    db.execute("CREATE TABLE a (id int PRIMARY KEY)")
    db.execute("INSERT INTO sqlmig_migrations (version, name, checksum) VALUES (1, 'create_a', 'abc')")
    assert states(cli)[1] == "modified"  # nothing recorded to compare tokens with
    d = cli("diff", "1")
    assert d.exit_code == 3 and "holds no SQL text for migration 1" in d.stderr
    assert cli("validate").exit_code == 3
    r = cli("repair", "--accept", "1")
    assert r.exit_code == 0, r.stderr
    assert row(db, 1) == ("create_a", checksum("CREATE TABLE a (id int PRIMARY KEY);\n"),
                          "CREATE TABLE a (id int PRIMARY KEY);\n", "applied", None)  # fmt: skip
    assert cli("migrate").exit_code == 0


# ---- missing files -----------------------------------------------------------------------------


def test_deleted_applied_file_then_forget(cli: Cli, project: Project, db: Conn) -> None:
    three(project)
    assert cli("migrate").exit_code == 0
    (project.sql / "0003_create_c.up.sql").unlink()
    (project.sql / "0003_create_c.down.sql").unlink()
    project.add(4, "create_d", "CREATE TABLE d (id int);\n", "DROP TABLE d;\n")
    before = snapshot(db)

    assert states(cli) == {1: "applied", 2: "applied", 3: "missing", 4: "pending"}
    s = cli("status")
    assert "note: history version 3: applied migration 3_create_c has no files on disk" in s.stdout
    assert cli("status", "--check").exit_code == 3

    v = cli("validate")
    assert v.exit_code == 3
    assert "problem: history version 3: applied migration 3_create_c has no files on disk" in v.stdout
    assert "`sqlmig repair --forget 3`" in v.stdout

    m = cli("migrate")
    assert m.exit_code == 3 and "history version 3" in m.stderr
    assert "d" not in tables(db) and snapshot(db) == before

    d = cli("diff", "3")
    assert d.exit_code == 0
    assert d.stdout == (
        "--- 3_create_c (as applied)\n+++ 3_create_c (no file on disk)\n@@ -1 +0,0 @@\n-CREATE TABLE c (id int);\n"
    )

    nope = cli("repair", "--accept", "3")
    assert nope.exit_code == 3 and "no files on disk" in nope.stderr

    r = cli("repair", "--forget", "3")
    assert r.exit_code == 0, r.stderr
    assert r.stdout.splitlines() == [
        "forget 3_create_c: delete its history row (was missing); its schema objects are not touched",
        "changed 1 history row",
    ]
    assert [v for v, _, _ in history(db)] == [1, 2]
    assert "c" in tables(db)  # forget touches only the history
    assert cli("migrate").exit_code == 0
    assert cli("status", "--check").exit_code == 0


# ---- failed rows (the failed state itself is written by the execution work) ---------------------


def test_failed_row_resolve_and_forget(cli: Cli, project: Project, db: Conn) -> None:
    three(project)
    assert cli("migrate", "--to", "1").exit_code == 0
    db.execute("CREATE TABLE b (id int)")  # finished by hand
    for version, name, text in ((2, "create_b", "CREATE TABLE b (id int REFERENCES a);\n"),):
        db.execute(
            "INSERT INTO sqlmig_migrations (version, name, checksum, applied_sql, state, error)"
            " VALUES (%s, %s, %s, %s, 'failed', 'canceling statement due to lock timeout')",
            (version, name, checksum(text), text),
        )
    assert states(cli) == {1: "applied", 2: "failed", 3: "pending"}
    assert cli("status", "--check").exit_code == 3
    m = cli("migrate")
    assert m.exit_code == 3
    assert "migration 2 failed part-way and needs attention: canceling statement due to lock timeout" in m.stderr
    v = cli("validate")
    assert v.exit_code == 3 and "repair --resolve 2" in v.stdout

    assert cli("repair", "--accept", "2").exit_code == 3
    r = cli("repair", "--resolve", "2")
    assert r.exit_code == 0, r.stderr
    assert r.stdout.splitlines()[0] == "resolve 0002_create_b: state failed -> applied, error cleared"
    assert row(db, 2) == ("create_b", checksum("CREATE TABLE b (id int REFERENCES a);\n"),
                          "CREATE TABLE b (id int REFERENCES a);\n", "applied", None)  # fmt: skip
    assert cli("repair", "--resolve", "2").exit_code == 3  # no longer failed

    # a failed row forgotten: the migration is pending again and runs on the next migrate
    text = "CREATE TABLE c (id int);\n"
    db.execute(
        "INSERT INTO sqlmig_migrations (version, name, checksum, applied_sql, state, error)"
        " VALUES (3, 'create_c', %s, %s, 'failed', 'boom')",
        (checksum(text), text),
    )
    f = cli("--json", "repair", "--forget", "3")
    assert f.exit_code == 0, f.stderr
    change = json.loads(f.stdout)["changes"][0]
    assert (change["action"], change["state_before"], change["state_after"]) == ("forget", "failed", None)
    assert states(cli)[3] == "pending"
    assert cli("migrate").exit_code == 0
    assert "c" in tables(db)


def test_repair_takes_the_advisory_lock(cli: Cli, project: Project, db: Conn) -> None:
    three(project)
    assert cli("migrate").exit_code == 0
    (project.sql / "0003_create_c.up.sql").unlink()
    (project.sql / "0003_create_c.down.sql").unlink()
    key = lock_key("public", "sqlmig_migrations")
    db.execute("SELECT pg_advisory_lock(%s)", (key,))
    try:
        for command in (("repair", "--forget", "3"), ("baseline", "1")):
            r = cli("--lock-wait", "0.1", *command)
            assert r.exit_code == 4, command
            assert "another sqlmig run holds the migration lock" in r.stderr
    finally:
        db.execute("SELECT pg_advisory_unlock(%s)", (key,))
    assert [v for v, _, _ in history(db)] == [1, 2, 3]


# ---- out of order ------------------------------------------------------------------------------


def test_out_of_order_after_branch_merge_then_down_order(cli: Cli, project: Project, db: Conn) -> None:
    project.add(1, "create_a", "CREATE TABLE a (id int);\n", "DROP TABLE a;\n")
    project.add(3, "create_c", "CREATE TABLE c (id int);\n", "DROP TABLE c;\n")
    assert cli("migrate").exit_code == 0
    # another branch, merged: its migration 2 was written before 3 but reaches this database after it
    project.add(2, "create_b", "CREATE TABLE b (id int);\n", "DROP TABLE b;\n")

    doc = json.loads(cli("status", "--json").stdout)
    assert [(m["version"], m["state"], m["out_of_order"]) for m in doc["migrations"]] == [
        (1, "applied", False),
        (2, "pending", True),
        (3, "applied", False),
    ]
    assert "out-of-order" in cli("status").stdout

    m = cli("migrate")
    assert m.exit_code == 3
    assert "pending migration 2 is older than the highest applied migration 3" in m.stderr
    assert "--allow-out-of-order" in m.stderr and "b" not in tables(db)
    v = cli("validate")
    assert v.exit_code == 3 and "problem: sql/0002_create_b.up.sql: pending migration 2 is older" in v.stdout
    assert cli("status", "--check").exit_code == 3

    ok = cli("migrate", "--allow-out-of-order")
    assert ok.exit_code == 0, ok.stderr
    assert "applied 0002_create_b" in ok.stdout
    assert [v for v, _, _ in history(db)] == [1, 3, 2]  # the order of application
    assert cli("validate").exit_code == 0
    assert cli("status", "--check").exit_code == 0

    # down follows the order of application (newest applied first), not the version order
    one = cli("down")
    assert one.exit_code == 0 and "reverted 0002_create_b" in one.stdout
    assert cli("migrate", "--allow-out-of-order").exit_code == 0
    both = cli("down", "--steps", "2")
    assert both.exit_code == 0
    assert both.stdout.index("reverted 0002_create_b") < both.stdout.index("reverted 0003_create_c")
    assert tables(db) == {"a", "sqlmig_migrations"}


def test_pending_out_of_order_file_does_not_block_down(cli: Cli, project: Project, db: Conn) -> None:
    """A pending out-of-order file does not stop a revert."""
    project.add(1, "create_a", "CREATE TABLE a (id int);\n", "DROP TABLE a;\n")
    project.add(3, "create_c", "CREATE TABLE c (id int);\n", "DROP TABLE c;\n")
    assert cli("migrate").exit_code == 0
    project.add(2, "create_b", "CREATE TABLE b (id int);\n", "DROP TABLE b;\n")
    r = cli("down")
    assert r.exit_code == 0 and "reverted 0003_create_c" in r.stdout


# ---- baseline ----------------------------------------------------------------------------------


def test_baseline_on_a_database_created_by_hand(cli: Cli, project: Project, db: Conn) -> None:
    three(project)
    db.execute("CREATE TABLE a (id int PRIMARY KEY)")
    db.execute("CREATE TABLE b (id int REFERENCES a)")

    bad = cli("baseline", "7")
    assert bad.exit_code == 2 and "no migration with that version on disk" in bad.stderr
    dry = cli("baseline", "2", "--dry-run")
    assert dry.exit_code == 0
    assert dry.stdout.splitlines() == [
        "would record 0001_create_a as applied (not run)",
        "would record 0002_create_b as applied (not run)",
    ]
    assert tables(db) == {"a", "b"}  # neither refused nor dry runs create the history table

    r = cli("baseline", "2")
    assert r.exit_code == 0, r.stderr
    assert r.stdout.splitlines()[-1].startswith("baseline at 2: 2 migrations recorded as applied without running")
    rows = db.execute(
        "SELECT version, name, checksum, applied_sql, execution_ms, state FROM sqlmig_migrations ORDER BY seq"
    ).fetchall()
    a_sql, b_sql = "CREATE TABLE a (id int PRIMARY KEY);\n", "CREATE TABLE b (id int REFERENCES a);\n"
    assert rows == [
        (1, "create_a", checksum(a_sql), a_sql, None, "applied"),
        (2, "create_b", checksum(b_sql), b_sql, None, "applied"),
    ]
    assert states(cli) == {1: "applied", 2: "applied", 3: "pending"}

    m = cli("migrate")
    assert m.exit_code == 0 and "applied 0003_create_c" in m.stdout and "0001" not in m.stdout
    assert cli("status", "--check").exit_code == 0

    again = cli("baseline", "3")
    assert again.exit_code == 3
    assert "the history already records 3 migrations" in again.stderr and "records version 1, 2, 3" in again.stderr
    assert len(history(db)) == 3


def test_baseline_json(cli: Cli, project: Project, db: Conn) -> None:
    three(project)
    r = cli("--json", "baseline", "1")
    assert r.exit_code == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["version"] == 1 and doc["dry_run"] is False
    assert doc["recorded"] == [
        {
            "version": 1,
            "name": "create_a",
            "file": "sql/0001_create_a.up.sql",
            "checksum": checksum("CREATE TABLE a (id int PRIMARY KEY);\n"),
        }
    ]


# ---- line endings ------------------------------------------------------------------------------


@pytest.mark.parametrize("variant", ["crlf", "bom", "bom+crlf"])
def test_crlf_and_bom_variants_are_not_drift(cli: Cli, project: Project, db: Conn, variant: str) -> None:
    text = "-- a\nCREATE TABLE a (id int);\nCREATE TABLE b (id int);\n"
    up, _ = project.add(1, "two", text, "DROP TABLE b;\nDROP TABLE a;\n")
    assert cli("migrate").exit_code == 0
    changed = text.replace("\n", "\r\n") if "crlf" in variant else text
    up.write_bytes((b"\xef\xbb\xbf" if "bom" in variant else b"") + changed.encode())
    doc = json.loads(cli("status", "--json").stdout)
    entry = doc["migrations"][0]
    assert (entry["state"], entry["cosmetic_change"]) == ("applied", False)
    assert entry["checksum"] == entry["file_checksum"]
    assert doc["at_head"] is True and doc["warnings"] == []
    v = cli("validate", "--json")
    assert v.exit_code == 0 and json.loads(v.stdout)["warnings"] == []
    assert cli("status", "--check").exit_code == 0
    d = cli("diff", "1")
    assert d.exit_code == 0 and d.stdout == ""
    assert cli("down").exit_code == 0


# ---- status --check ----------------------------------------------------------------------------


def test_status_check_in_each_state(cli: Cli, project: Project, db: Conn) -> None:
    assert cli("status", "--check").exit_code == 0  # no migrations, no history: trivially at head
    three(project)
    r = cli("status", "--check")
    assert (r.exit_code, r.stderr.strip()) == (3, "error: not at head: 3 pending")
    assert tables(db) == set()
    assert cli("migrate").exit_code == 0
    ok = cli("status", "--check", "--json")
    assert ok.exit_code == 0 and json.loads(ok.stdout)["at_head"] is True and ok.stderr == ""
    project.add(3, "create_c", "CREATE TABLE c (id int, x int);\n", "DROP TABLE c;\n")
    j = cli("status", "--check", "--json")
    assert j.exit_code == 3
    assert json.loads(j.stdout)["at_head"] is False  # still one JSON document on stdout
    assert j.stderr.strip() == "error: not at head: 1 modified"


# ---- validate ----------------------------------------------------------------------------------


def test_validate_without_history_table_creates_nothing(cli: Cli, project: Project, db: Conn) -> None:
    three(project)
    project.add(4, "noop", "-- nothing to do yet\n", "")
    r = cli("validate")
    assert r.exit_code == 0, r.stdout + r.stderr
    assert r.stdout.splitlines() == [
        "note: sql/0004_noop.up.sql: no statements (empty or only comments): applying 4 is a no-op",
        "note: sql/0004_noop.down.sql: no statements (empty or only comments): reverting 4 is a no-op",
        "ok (0 problems, 0 warnings, 2 notes; 4 migrations, 0 applied)",
    ]
    assert r.stderr == ""
    assert tables(db) == set()
    j = json.loads(cli("validate", "--json").stdout)
    assert j == {
        "ok": True,
        "history_table": "public.sqlmig_migrations",
        "history_checked": True,
        "migrations": 4,
        "applied": 0,
        "problems": [],
        "warnings": [],
        "notes": [
            {
                "where": "sql/0004_noop.up.sql",
                "message": "no statements (empty or only comments): applying 4 is a no-op",
                "hint": None,
            },
            {
                "where": "sql/0004_noop.down.sql",
                "message": "no statements (empty or only comments): reverting 4 is a no-op",
                "hint": None,
            },
        ],
    }
    assert tables(db) == set()


def test_validate_checks_every_file_and_reports_all(cli: Cli, project: Project, db: Conn) -> None:
    project.add(1, "ok", "CREATE TABLE ok (id int);\n", "DROP TABLE ok;\n")
    project.add(2, "commit", "CREATE TABLE t (id int);\nCOMMIT;\n", "DROP TABLE t;\n")
    project.add(3, "quote", "SELECT 1;\n", "SELECT 'never closed;\n")  # a down file is checked too
    r = cli("validate")
    assert r.exit_code == 3
    assert "problem: sql/0002_commit.up.sql:2:1: transaction control statement COMMIT" in r.stdout
    assert "problem: sql/0003_quote.down.sql:1:8: unterminated string" in r.stdout
    assert "2 problems" in r.stdout.splitlines()[-1]
    assert "error: validation found 2 blocking problems" in r.stderr
    doc = json.loads(cli("validate", "--json").stdout)
    assert doc["ok"] is False and [p["where"] for p in doc["problems"]] == [
        "sql/0002_commit.up.sql:2:1",
        "sql/0003_quote.down.sql:1:8",
    ]
    assert tables(db) == set()


def test_validate_discovery_problems_and_files_only(project: Project) -> None:
    """--files-only needs no database at all: a pre-commit hook can run it."""
    project.add(1, "ok", "CREATE TABLE ok (id int);\n", "DROP TABLE ok;\n")
    assert run_cli("validate").exit_code == 2  # no URL and no --files-only: says how to give one
    ok = run_cli("validate", "--files-only")
    assert ok.exit_code == 0, ok.stderr
    assert ok.stdout.strip() == "ok (0 problems, 0 warnings, 0 notes; 1 migration, history not checked)"
    (project.sql / "0002_lonely.up.sql").write_text("SELECT 1;\n")
    (project.sql / "0003_Bad.up.sql").write_text("SELECT 1;\n")
    bad = run_cli("validate", "--files-only", "--json")
    assert bad.exit_code == 3
    doc = json.loads(bad.stdout)
    assert doc["history_checked"] is False
    assert sorted(p["where"] for p in doc["problems"]) == ["sql/0002_lonely.up.sql", "sql/0003_Bad.up.sql"]


def test_validate_and_diff_need_no_write_access(cli: Cli, project: Project, db: Conn, database_url: str) -> None:
    three(project)
    assert cli("migrate", "--to", "2").exit_code == 0
    project.add(2, "create_b", "CREATE TABLE b (id int REFERENCES a, x int);\n", "DROP TABLE b;\n")
    role = "ro_" + uuid.uuid4().hex[:12]
    db.execute(f'CREATE ROLE "{role}" LOGIN')
    db.execute(f'GRANT SELECT ON sqlmig_migrations TO "{role}"')
    try:
        url = make_conninfo(database_url, user=role)
        v = run_cli("--database-url", url, "validate")
        assert v.exit_code == 3 and "applied migration 2 was modified" in v.stdout, v.stderr
        d = run_cli("--database-url", url, "diff", "2")
        assert d.exit_code == 0 and "+CREATE TABLE b (id int REFERENCES a, x int);" in d.stdout
        s = run_cli("--database-url", url, "status", "--check")
        assert s.exit_code == 3
    finally:
        db.execute(f'REVOKE ALL ON sqlmig_migrations FROM "{role}"')
        db.execute(f'DROP ROLE "{role}"')


def test_diff_usage_errors(cli: Cli, project: Project) -> None:
    three(project)
    assert cli("migrate", "--to", "1").exit_code == 0
    pending = cli("diff", "2")
    assert pending.exit_code == 2 and "migration 2 is pending" in pending.stderr and pending.stdout == ""
    unknown = cli("diff", "9")
    assert unknown.exit_code == 2 and "no migration with version 9" in unknown.stderr
    not_int = cli("diff", "two")
    assert not_int.exit_code == 2


def test_diff_json(cli: Cli, project: Project) -> None:
    project.add(1, "x", "SELECT 1;", "")
    assert cli("migrate").exit_code == 0
    project.add(1, "x", "SELECT 2;\n", "")
    doc = json.loads(cli("diff", "1", "--json").stdout)
    assert doc == {
        "version": 1,
        "name": "x",
        "state": "modified",
        "file": "sql/0001_x.up.sql",
        "checksum": checksum("SELECT 1;"),
        "file_checksum": checksum("SELECT 2;\n"),
        "cosmetic_change": False,
        "identical": False,
        "diff": "--- 0001_x (as applied)\n+++ sql/0001_x.up.sql\n@@ -1 +1 @@\n"
        "-SELECT 1;\n\\ No newline at end of file\n+SELECT 2;\n",
    }


# ---- the library -------------------------------------------------------------------------------


def test_library_api(database_url: str, project: Project, db: Conn) -> None:
    three(project)
    db.execute("CREATE TABLE a (id int PRIMARY KEY)")  # migration 1, done before sqlmig was adopted
    m = Migrator(database_url, dirs=[project.sql])
    assert m.validate() == ValidateResult((), (), (), 3, 0, "public.sqlmig_migrations", history_checked=True)
    b = m.baseline(1)
    assert isinstance(b, BaselineResult) and [x.version for x in b.recorded] == [1]
    with pytest.raises(HistoryError):
        m.baseline(2)
    m.migrate()
    project.add(2, "create_b", "CREATE TABLE b (id int);\n", "DROP TABLE b;\n")
    d = m.diff(2)
    assert isinstance(d, DiffResult) and d.state == "modified" and not d.identical
    assert not m.validate().ok
    with pytest.raises(RefusedError):
        m.repair(forget=[2])
    with pytest.raises(ConfigError):
        m.repair()
    r = m.repair(accept=[2], dry_run=True)
    assert isinstance(r, RepairResult) and r.dry_run and [c.version for c in r.changes] == [2]
    assert m.status().entries[1].state == "modified"
    m.repair(accept=[2])
    assert m.status().is_head and m.validate().ok


# ---- pure: no database -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("old", "new", "cosmetic"),
    [
        ("SELECT 1;\n", "select   1; -- trailing comment", True),
        ("SELECT 1;\n", "/* head */ SELECT 1 /* tail */;\n", True),
        ("SELECT 1; -- a\n", "SELECT 1; -- b\n", True),
        ("SELECT 1 -- x\n", "SELECT 1 - x\n", False),  # a comment turned into an expression
        ("SELECT 'a';", "SELECT 'A';", False),
        ("CREATE TABLE t (id int);", 'CREATE TABLE "T" (id int);', False),
    ],
)
def test_cosmetic_comparison(old: str, new: str, cosmetic: bool) -> None:
    assert is_cosmetic(old, new) is cosmetic


@pytest.mark.parametrize("text", ["", "-- only a comment", "-- a\n/* b */\n", "  --x", "/* a /* nested */ */"])
def test_comment_only_files_have_no_tokens(text: str) -> None:
    assert tokenize(text) == [] and significant_tokens(text) == ()


def test_unified_diff_marks_missing_final_newline() -> None:
    assert unified_diff("a\nb", "a\nb\n", "old", "new") == (
        "--- old\n+++ new\n@@ -1,2 +1,2 @@\n a\n-b\n\\ No newline at end of file\n+b\n"
    )
    assert unified_diff("same\n", "same\n", "old", "new") == ""
