"""Hostile tests of `sqlmig lint`: dangerous statements written another way, safe statements that
look dangerous, waivers next to the wrong statement, odd files, output formats, and migrate's gate.

A test marked xfail(strict=True) is a bug found and not yet fixed: it fails today, and its mark
comes off with the fix. The others are attacks lint survives, kept so it goes on surviving them."""

from __future__ import annotations

import json

import pytest

from .support import Conn, Project, run_cli, run_process, tables


def lint(*args: str, env: dict[str, str] | None = None) -> tuple[int, dict[str, object]]:
    r = run_cli("--json", "lint", *args, env=env)
    assert r.stderr == "" or r.exit_code == 2, r.stderr
    return r.exit_code, json.loads(r.stdout)


Found = tuple[str, int, int, str]  # code, line, column, severity


def found(doc: dict[str, object], *, waived: bool = False) -> list[Found]:
    """(code, line, column, severity) of each finding of the up files (waived ones only if asked)."""
    findings = doc["findings"]
    assert isinstance(findings, list)
    return [
        (f["code"], f["line"], f["column"], f["severity"])
        for f in findings
        if (f["waived"] is not None) == waived and f["direction"] == "up"
    ]


def codes(doc: dict[str, object]) -> set[str]:
    return {c for c, *_ in found(doc)}


def static(project: Project, up: str, down: str = "SELECT 1;") -> dict[str, object]:
    """The static lint of one migration whose up is `up`."""
    project.add(1, "m", up, down)
    _, doc = lint()
    return doc


def big_users(db: Conn, project: Project, database_url: str) -> None:
    """public.users applied by migration 1, with 20,000 rows: large for every graded rule."""
    project.add(1, "users", "CREATE TABLE users (id int, email text);", "DROP TABLE users;")
    assert run_cli("--database-url", database_url, "migrate").exit_code == 0
    db.execute("INSERT INTO users SELECT g, 'u' || g FROM generate_series(1, 20000) g")
    db.execute("ANALYZE users")


# ---- false negatives: a dangerous statement written another way ----------------------------------


@pytest.mark.parametrize(
    "sql", ["VACUUM (FULL, ANALYZE) users;", "VACUUM (FULL) users;", "VACUUM (VERBOSE, FULL) users;"]
)
def test_vacuum_full_in_an_option_list_is_a_rewrite(project: Project, sql: str) -> None:
    assert "SM109" in codes(static(project, sql))


@pytest.mark.parametrize(
    "sql", ["VACUUM (FULL false) users;", "VACUUM (ANALYZE) users;", "VACUUM (VERBOSE) users;", "VACUUM users;"]
)
def test_vacuum_without_full_is_not_a_rewrite(project: Project, sql: str) -> None:
    assert "SM109" not in codes(static(project, sql))


def test_vacuum_full_and_cluster_in_their_plain_forms_are_rewrites(project: Project) -> None:
    doc = static(project, "VACUUM FULL ANALYZE users;\nCLUSTER users USING users_pkey;\nCLUSTER;")
    assert [f for f in found(doc) if f[0] == "SM109"] == [
        ("SM109", 1, 1, "error"),
        ("SM109", 2, 1, "error"),
        ("SM109", 3, 1, "error"),
    ]


@pytest.mark.parametrize(
    "sql",
    [
        "ALTER TABLE users ADD COLUMN email2 text UNIQUE;",
        "ALTER TABLE users ADD COLUMN id2 bigint PRIMARY KEY;",
        "ALTER TABLE users ADD COLUMN email2 text CONSTRAINT users_email2_key UNIQUE;",
        "ALTER TABLE users ADD email2 text NULL UNIQUE;",
    ],
)
def test_add_column_with_an_inline_unique_or_primary_key_builds_its_index(project: Project, sql: str) -> None:
    assert "SM107" in codes(static(project, sql))


def test_table_constraint_forms_of_unique_and_primary_key_are_flagged(project: Project) -> None:
    doc = static(
        project,
        "ALTER TABLE users ADD PRIMARY KEY (id);\nALTER TABLE users ADD CONSTRAINT u UNIQUE (email);\n"
        "ALTER TABLE users ADD CONSTRAINT u2 UNIQUE USING INDEX users_email2;",
    )
    assert [f for f in found(doc) if f[0] == "SM107"] == [("SM107", 1, 19, "error"), ("SM107", 2, 19, "error")]


@pytest.mark.parametrize(
    "sql",
    [
        "WITH t AS (SELECT 1) UPDATE users SET email = lower(email);",
        "WITH gone AS (DELETE FROM users RETURNING *) INSERT INTO users_archive SELECT * FROM gone;",
    ],
)
def test_a_whole_table_write_after_a_with_clause_is_flagged(project: Project, sql: str) -> None:
    assert "SM301" in codes(static(project, sql, "SELECT 1;"))


def test_statements_of_a_do_block_are_linted(project: Project) -> None:
    doc = static(
        project,
        "DO $$\nBEGIN\n  ALTER TABLE users ADD COLUMN n int NOT NULL;\n  CREATE INDEX users_n ON users (n);\nEND\n$$;",
    )
    assert {"SM102", "SM101"} <= codes(doc)


@pytest.mark.parametrize("sql", ["DROP INDEX users_email;", "REINDEX TABLE users;", "REINDEX INDEX users_email;"])
def test_index_maintenance_without_concurrently_is_flagged(project: Project, sql: str) -> None:
    assert found(static(project, sql)) != []


@pytest.mark.parametrize(
    "sql",
    [
        "DROP INDEX CONCURRENTLY users_email;",
        "REINDEX TABLE CONCURRENTLY users;",
        "DROP INDEX CONCURRENTLY IF EXISTS x, y;",
    ],
)
def test_index_maintenance_concurrently_is_not_an_error(project: Project, sql: str) -> None:
    assert [f for f in found(static(project, sql)) if f[3] == "error"] == []


@pytest.mark.parametrize(
    "sql",
    [
        "ALTER TABLE users SET TABLESPACE fast;",
        "ALTER TABLE users SET LOGGED;",
        "ALTER TABLE users SET UNLOGGED;",
        "ALTER TABLE users SET ACCESS METHOD heap2;",
    ],
)
def test_alter_table_subcommands_that_rewrite_the_table_are_errors(project: Project, sql: str) -> None:
    assert any(severity == "error" for *_, severity in found(static(project, sql)))


@pytest.mark.parametrize(
    "sql", ["ALTER TABLE users ADD CONSTRAINT users_email_nn NOT NULL email;", "ALTER TABLE users ADD NOT NULL email;"]
)
def test_a_not_null_table_constraint_scans_like_set_not_null(project: Project, sql: str) -> None:
    assert "SM105" in codes(static(project, sql))


def test_lock_findings_survive_quoting_schemas_comments_and_other_spellings(project: Project) -> None:
    doc = static(
        project,
        'ALTER TABLE IF EXISTS ONLY "Users" ADD COLUMN n int NOT NULL;\n'
        "CREATE UNIQUE INDEX IF NOT EXISTS u_e ON users (email);\n"
        "CREATE INDEX ON ONLY public.users USING btree (email);\n"
        "alter /* who */ table public.users -- why\n  add column m int not null, add constraint c check (m > 0);\n"
        "ALTER TABLE users ALTER email SET DATA TYPE varchar(10);\n"
        "ALTER TABLE users ADD c serial;\n"
        "ALTER TABLE users ADD COLUMN u uuid DEFAULT (gen_random_uuid());\n"
        "ALTER TABLE users ADD COLUMN IF NOT EXISTS k int NOT NULL;\n",
    )
    assert [f for f in found(doc) if f[0] != "SM112"] == [
        ("SM102", 1, 36, "error"),
        ("SM101", 2, 1, "error"),
        ("SM101", 3, 1, "error"),
        ("SM102", 5, 3, "error"),
        ("SM106", 5, 30, "error"),
        ("SM104", 6, 19, "warning"),
        ("SM108", 7, 19, "error"),
        ("SM103", 8, 19, "error"),
        ("SM102", 9, 19, "error"),
    ]


# ---- false positives: a safe statement that looks dangerous ---------------------------------------


def test_statements_in_function_bodies_strings_and_comments_are_not_linted(project: Project) -> None:
    doc = static(
        project,
        "CREATE FUNCTION f() RETURNS void LANGUAGE sql AS $$ UPDATE users SET a = 1; $$;\n"
        "CREATE FUNCTION g() RETURNS void LANGUAGE plpgsql AS $body$\nBEGIN\n  DROP TABLE users;\nEND\n$body$;\n"
        "SELECT 'ALTER TABLE users DROP COLUMN a';\n/* CREATE INDEX x ON users (a); */\n"
        "-- TRUNCATE users;\n",
    )
    assert found(doc) == []


def test_tables_created_above_in_any_spelling_are_new(project: Project) -> None:
    doc = static(
        project,
        'CREATE TABLE "order" (id int);\nALTER TABLE "order" ADD COLUMN n int NOT NULL;\n'
        "CREATE TABLE users2 AS SELECT * FROM users;\nCREATE INDEX ON users2 (id);\n"
        "CREATE UNLOGGED TABLE IF NOT EXISTS public.Scratch (id int);\nCREATE INDEX ON scratch (id);\n"
        "CREATE MATERIALIZED VIEW mv AS SELECT 1 AS x;\nREFRESH MATERIALIZED VIEW mv;\n",
    )
    assert found(doc) == []


def test_a_differently_quoted_or_qualified_table_is_not_the_new_one(project: Project) -> None:
    doc = static(
        project,
        'CREATE TABLE "Users" (id int);\nCREATE INDEX ON users (id);\n'
        "CREATE TABLE app.users (id int);\nCREATE INDEX ON other.users (id);\n",
    )
    assert found(doc) == [("SM101", 2, 1, "error"), ("SM101", 4, 1, "error")]


def test_a_table_created_by_select_into_is_new(project: Project) -> None:
    assert found(static(project, "SELECT * INTO users_copy FROM users;\nCREATE INDEX ON users_copy (id);")) == []


def test_set_lock_timeout_above_create_index_concurrently_is_not_sm304(project: Project) -> None:
    doc = static(
        project,
        "-- sqlmig:no-transaction\nSET lock_timeout = '5s';\nCREATE INDEX CONCURRENTLY users_a ON users (a);",
    )
    assert found(doc) == []


def test_a_comment_text_equal_to_a_new_enum_label_is_not_a_use_of_it(project: Project) -> None:
    doc = static(project, "ALTER TYPE mood ADD VALUE 'calm';\nCOMMENT ON TABLE users IS 'calm';")
    assert found(doc) == []


# ---- waivers ----------------------------------------------------------------------------------------


def test_a_trailing_waiver_waives_only_the_statement_it_ends(project: Project) -> None:
    doc = static(project, "CREATE INDEX a ON users (a); CREATE INDEX b ON users (b); -- sqlmig:allow SM101 b is tiny\n")
    assert found(doc) == [("SM101", 1, 1, "error")]
    assert found(doc, waived=True) == [("SM101", 1, 30, "error")]


def test_waiver_text_inside_a_string_literal_is_not_a_waiver(project: Project) -> None:
    doc = static(
        project,
        "INSERT INTO docs (body) VALUES ('write -- sqlmig:allow SM999 reason to waive');\n"
        "CREATE INDEX users_b ON users (b) WHERE note <> '-- sqlmig:allow SM101 sneaky';\n",
    )
    assert found(doc) == [("SM101", 2, 1, "error")]


def test_waivers_above_with_blank_lines_and_comments_between_and_in_block_comments(project: Project) -> None:
    doc = static(
        project,
        "-- sqlmig:allow SM101 r1\n\n\n-- other comment\nCREATE INDEX a ON users (a);\n"
        "/* -- sqlmig:allow SM101 r2 */\nCREATE INDEX b ON users (b);\n"
        "CREATE INDEX c\n  ON users (c); -- sqlmig:allow SM101 r3\n"
        "-- sqlmig:allow SM101 not for the index below\nSELECT 1;\nCREATE INDEX d ON users (d);\n"
        "CREATE INDEX e ON users (e); -- sqlmig:allow SM101 not for the next line\nCREATE INDEX f ON users (f);\n",
    )
    assert found(doc, waived=True) == [
        ("SM101", 5, 1, "error"),
        ("SM101", 7, 1, "error"),
        ("SM101", 8, 1, "error"),
        ("SM101", 13, 1, "error"),
    ]
    assert found(doc) == [("SM101", 12, 1, "error"), ("SM101", 14, 1, "error")]


# ---- odd files, positions, formats, exit codes ----------------------------------------------------


@pytest.mark.parametrize(
    "sql",
    [
        "",
        "-- only a comment\n/* and another */",
        "SELECT 'unterminated",
        "SELECT $$ unterminated",
        "/* unterminated",
        "ALTER TABLE",
        "ALTER TABLE users ADD",
        "ALTER TABLE users ADD COLUMN",
        "ALTER TABLE users ALTER COLUMN a TYPE",
        "ALTER TABLE users ADD CONSTRAINT c CHECK (",
        "ALTER TABLE users ADD COLUMN c int DEFAULT",
        "ALTER TABLE users RENAME TO",
        "ALTER TYPE mood ADD VALUE",
        "VACUUM (",
        "CLUSTER (",
        "LOCK TABLE users IN",
        "SET lock_timeout TO",
        "REFRESH MATERIALIZED VIEW",
        "CREATE INDEX ON",
        "DROP TABLE",
        ";;;",
        "\ufeff",
        "SELECT 1;\n" * 20000 + "CREATE INDEX a ON users (a);",
    ],
    ids=lambda s: repr(s[:30]),
)
def test_odd_and_truncated_files_do_not_crash(project: Project, sql: str) -> None:
    project.add(1, "odd", sql, "SELECT 1;")
    r = run_cli("--json", "lint")
    assert r.exit_code in (0, 3), r
    assert "Traceback" not in r.stdout + r.stderr
    json.loads(r.stdout)


def test_positions_with_a_bom_crlf_tabs_and_non_ascii_text(project: Project) -> None:
    doc = static(
        project,
        "\ufeffCREATE INDEX a ON users (a);\r\nSELECT 'é€'; CREATE INDEX b ON users (b);\r\n"
        "\tCREATE INDEX c ON users (c);",
    )
    assert found(doc) == [("SM101", 1, 1, "error"), ("SM101", 2, 14, "error"), ("SM101", 3, 2, "error")]


def test_files_given_a_directory_or_a_missing_or_non_utf8_file_is_a_usage_error(project: Project) -> None:
    (project.root / "bad.sql").write_bytes(b"\xff\xfeCREATE INDEX a ON users (a);")
    for given in ("sql", "nosuch.sql", "bad.sql"):
        r = run_cli("lint", "--files", given)
        assert r.exit_code == 2 and "Traceback" not in r.stderr, r
        assert given in r.stderr


def test_github_annotations_escape_paths_and_messages(project: Project) -> None:
    odd = project.root / "a,b:c%d"
    odd.mkdir()
    path = odd / "0002_x.up.sql"
    path.write_text("CREATE INDEX a ON users (a);")
    r = run_cli("lint", "--format", "github", "--files", str(path))
    assert r.exit_code == 3
    first = r.stdout.splitlines()[0]
    assert first.startswith("::error file=")
    props, message = first[len("::error ") :].split("::", 1)
    assert props.count(",") == 3 and "a%2Cb%3Ac%25d" in props, props
    assert "\n" not in message and message.startswith("CREATE INDEX on users")


def test_exit_codes_and_usage_errors(project: Project) -> None:
    project.add(1, "w", "UPDATE users SET a = 1;", "SELECT 1;")
    assert run_cli("lint").exit_code == 0
    assert run_cli("lint", "--fail-on", "warning").exit_code == 3
    for args in (("--format", "xml"), ("--fail-on", "info"), ("sql/0001_w.up.sql",)):
        r = run_cli("lint", *args)
        assert r.exit_code == 2 and "Traceback" not in r.stderr, (args, r)
    r = run_cli("--json", "lint", "--format", "github")
    assert r.exit_code == 2 and json.loads(r.stdout)["exit_code"] == 2
    assert run_cli("--json", "lint").stdout == run_cli("lint", "--format", "json").stdout


# ---- with a database: sizes and what exists ---------------------------------------------------------


def test_create_table_if_not_exists_of_an_existing_table_does_not_make_it_new(
    project: Project, database_url: str, db: Conn
) -> None:
    big_users(db, project, database_url)
    project.add(2, "idx", "CREATE TABLE IF NOT EXISTS users (id int);\nCREATE INDEX users_id ON users (id);")
    code, doc = lint("--database-url", database_url)
    assert (code, found(doc)) == (3, [("SM101", 2, 1, "error")])


def test_files_with_a_database_do_not_make_an_applied_files_tables_new(
    project: Project, database_url: str, db: Conn
) -> None:
    big_users(db, project, database_url)
    new, _ = project.add(2, "idx", "CREATE INDEX users_id ON users (id);", "DROP INDEX users_id;")
    paths = [str(project.sql / "0001_users.up.sql"), str(new)]
    code, doc = lint("--database-url", database_url, "--files", *paths)
    assert (code, found(doc)) == (3, [("SM101", 1, 1, "error")])


def test_a_table_created_in_another_schema_does_not_make_the_search_path_table_new(
    project: Project, database_url: str, db: Conn
) -> None:
    big_users(db, project, database_url)
    project.add(
        2,
        "staging",
        "CREATE SCHEMA staging;\nCREATE TABLE staging.users (id int);\nCREATE INDEX users_id ON users (id);",
    )
    code, doc = lint("--database-url", database_url)
    assert (code, found(doc)) == (3, [("SM101", 3, 1, "error")])


def test_a_stale_zero_row_estimate_with_a_full_heap_is_not_empty(project: Project, database_url: str, db: Conn) -> None:
    project.add(1, "items", "CREATE TABLE items (id int) WITH (autovacuum_enabled = false);", "DROP TABLE items;")
    assert run_cli("--database-url", database_url, "migrate").exit_code == 0
    db.execute("VACUUM items")
    db.execute("INSERT INTO items SELECT generate_series(1, 50000)")
    estimate = db.execute("SELECT reltuples, pg_relation_size('items') FROM pg_class WHERE relname = 'items'")
    row = estimate.fetchone()
    assert row is not None and row[0] == 0 and int(str(row[1])) > 1_000_000, row
    project.add(2, "idx", "CREATE INDEX items_id ON items (id);", "DROP INDEX items_id;")
    code, doc = lint("--database-url", database_url)
    assert (code, found(doc)) == (3, [("SM101", 1, 1, "error")])


def test_the_database_grades_findings_on_a_large_table(project: Project, database_url: str, db: Conn) -> None:
    big_users(db, project, database_url)
    project.add(
        2,
        "more",
        "CREATE INDEX users_id ON users (id);\nVACUUM FULL users;\nUPDATE users SET email = lower(email);",
        "SELECT 1;",
    )
    code, doc = lint("--database-url", database_url)
    assert code == 3
    assert found(doc) == [
        ("SM101", 1, 1, "error"),
        ("SM109", 2, 1, "error"),
        ("SM112", 2, 1, "warning"),
        ("SM301", 3, 1, "warning"),
    ]


MIXED = "CREATE INDEX users_id ON public.users (id);\nCREATE INDEX users_email ON users (email);"


def test_lint_with_a_database_survives_a_table_named_with_and_without_its_schema(
    project: Project, database_url: str, db: Conn
) -> None:
    big_users(db, project, database_url)
    project.add(2, "mixed", MIXED, "SELECT 1;")
    r = run_process("--database-url", database_url, "--json", "lint", cwd=project.root)
    assert "Traceback" not in r.stderr and r.exit_code == 3, r
    assert found(json.loads(r.stdout)) == [("SM101", 1, 1, "error"), ("SM101", 2, 1, "error")]


def test_the_gate_survives_a_table_named_with_and_without_its_schema(
    project: Project, database_url: str, db: Conn
) -> None:
    big_users(db, project, database_url)
    project.add(2, "mixed", MIXED, "SELECT 1;")
    r = run_process("--database-url", database_url, "migrate", cwd=project.root, env={"SQLMIG_LINT": "error"})
    assert "Traceback" not in r.stderr and r.exit_code == 3 and "SM101" in r.stderr, r
    assert db.execute("SELECT max(version) FROM sqlmig_migrations").fetchone() == (1,)


def test_set_local_lock_timeout_in_a_file_without_a_transaction_sets_nothing(
    project: Project, database_url: str, db: Conn
) -> None:
    set_local = "-- sqlmig:no-transaction\nSET LOCAL lock_timeout = '5s';\n"
    project.add(1, "probe", set_local + "CREATE TABLE probe AS SELECT current_setting('lock_timeout') AS v;")
    assert run_cli("--database-url", database_url, "migrate").exit_code == 0
    assert db.execute("SELECT v FROM probe").fetchone() == ("0",)  # SET LOCAL did not last
    project.add(2, "alter", set_local + "ALTER TABLE probe ADD COLUMN n int;", "SELECT 1;")
    _, doc = lint("--database-url", database_url)
    assert [f[0] for f in found(doc)] == ["SM112"]


# ---- migrate's gate ---------------------------------------------------------------------------------


def test_a_refused_migrate_on_a_fresh_database_writes_nothing(project: Project, database_url: str, db: Conn) -> None:
    project.add(1, "create", "CREATE TABLE items (id int);", "DROP TABLE items;")
    project.add(2, "bad", "ALTER TABLE users ADD COLUMN n int NOT NULL;", "SELECT 1;")
    db.execute("CREATE TABLE users (id int)")
    db.execute("INSERT INTO users SELECT generate_series(1, 20000)")
    r = run_cli("--database-url", database_url, "migrate", env={"SQLMIG_LINT": "error"})
    assert r.exit_code == 3 and "SM102" in r.stderr, r
    assert tables(db) == {"users"}
    schemas = db.execute("SELECT nspname FROM pg_namespace WHERE nspname LIKE 'sqlmig%'").fetchall()
    assert schemas == []


def test_the_gate_lints_only_what_migrate_to_applies(project: Project, database_url: str, db: Conn) -> None:
    big_users(db, project, database_url)
    project.add(2, "safe", "SET lock_timeout = '5s';\nALTER TABLE users ADD COLUMN n int;", "SELECT 1;")
    project.add(3, "bad", "CREATE INDEX users_id ON users (id);", "DROP INDEX users_id;")
    env = {"SQLMIG_LINT": "error"}
    r = run_cli("--database-url", database_url, "migrate", "--to", "2", env=env)
    assert r.exit_code == 0, r
    r = run_cli("--database-url", database_url, "migrate", env=env)
    assert r.exit_code == 3 and "0003_bad.up.sql:1:1: error SM101" in r.stderr, r
    assert db.execute("SELECT max(version) FROM sqlmig_migrations").fetchone() == (2,)
