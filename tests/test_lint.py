"""`sqlmig lint`: which statements it flags, what it knows of new tables and table sizes, waivers,
the output formats and exit codes, the settings, and migrate's lint gate.

The rules' claims about locks, rewrites and scans are measured on real servers in
test_lint_truth.py; here, what the command does with them."""

from __future__ import annotations

import json

import psycopg
import pytest

from sqlmig.lint.rules import RULES

from .support import Conn, Project, Result, run_cli, tables


def lint(*args: str, env: dict[str, str] | None = None) -> tuple[int, dict[str, object]]:
    r = run_cli("--json", "lint", *args, env=env)
    assert r.stderr == "" or r.exit_code == 2, r.stderr
    return r.exit_code, json.loads(r.stdout)


def found(doc: dict[str, object], *, waived: bool = False) -> list[tuple[str, str, int, int, str]]:
    """(code, path's file name, line, column, severity) of each finding (waived ones only if asked)."""
    findings = doc["findings"]
    assert isinstance(findings, list)
    return [
        (f["code"], f["path"].rsplit("/", 1)[-1], f["line"], f["column"], f["severity"])
        for f in findings
        if (f["waived"] is not None) == waived
    ]


def codes(doc: dict[str, object]) -> set[str]:
    return {c for c, *_ in found(doc)}


# ---- every rule fires on its example and stays quiet on its rewrite (no database) ----------------


@pytest.mark.parametrize("rule", [r for r in RULES if r.example], ids=lambda r: r.code)
def test_each_rule_fires_on_its_example(project: Project, rule: object) -> None:
    from sqlmig.lint.rules import Rule

    assert isinstance(rule, Rule)
    project.add(1, "example", rule.example, "SELECT 1;")
    code, doc = lint()
    assert rule.code in codes(doc), doc
    assert code == (3 if any(s == "error" for *_, s in found(doc)) else 0)


# SM104's rewrite (a varchar made longer) is only known to be safe with the database, which says
# the column's type: without it the finding stays, one level lower (test_lint_truth checks both).
@pytest.mark.parametrize("rule", [r for r in RULES if r.rewrite and r.code != "SM104"], ids=lambda r: r.code)
def test_no_rule_fires_on_its_safe_rewrite(project: Project, rule: object) -> None:
    from sqlmig.lint.rules import Rule

    assert isinstance(rule, Rule)
    project.add(1, "rewrite", rule.rewrite, "SELECT 1;")
    _, doc = lint()
    assert rule.code not in codes(doc), doc


def test_a_type_change_without_the_database_is_one_level_lower_when_it_may_be_a_widening(project: Project) -> None:
    project.add(1, "types", "ALTER TABLE users ALTER COLUMN email TYPE varchar(100);\n"
                "ALTER TABLE users ALTER COLUMN age TYPE bigint;", "SELECT 1;")  # fmt: skip
    _, doc = lint()
    assert [f for f in found(doc) if f[0] == "SM104"] == [
        ("SM104", "0001_types.up.sql", 1, 19, "warning"),
        ("SM104", "0001_types.up.sql", 2, 19, "error"),
    ]


# ---- new tables -----------------------------------------------------------------------------------


def test_a_table_created_above_in_the_same_file_is_new(project: Project) -> None:
    project.add(
        1,
        "new",
        "CREATE TABLE public.items (id int);\nCREATE INDEX items_id ON items (id);\n"
        'ALTER TABLE "items" ADD COLUMN n int NOT NULL;\nALTER TABLE items RENAME TO things;\n'
        "ALTER TABLE things ALTER COLUMN id TYPE bigint;\nUPDATE things SET n = 1;",
        "DROP TABLE things;",
    )
    code, doc = lint()
    assert (code, found(doc)) == (0, [])


def test_static_lint_counts_a_table_of_an_earlier_file_as_existing_but_files_and_the_database_do_not(
    project: Project, database_url: str
) -> None:
    project.add(1, "create", "CREATE TABLE items (id int);", "DROP TABLE items;")
    project.add(2, "index", "CREATE INDEX items_id ON items (id);", "DROP INDEX items_id;")
    code, doc = lint()
    assert (code, found(doc), doc["context"]) == (3, [("SM101", "0002_index.up.sql", 1, 1, "error")], "static")
    # the files of a pull request, given together: the first creates the table, the second indexes it
    paths = [str(p) for p in sorted(project.sql.iterdir())]
    code, doc = lint("--files", *paths)
    assert (code, found(doc), doc["context"]) == (0, [], "files")
    # with a database: both pending, so the table is new for the second
    code, doc = lint("--database-url", database_url)
    assert (code, found(doc), doc["context"]) == (0, [], "database")
    assert doc["server_version"] == psycopg.connect(database_url).info.server_version // 10000


def test_with_a_database_an_applied_table_is_existing_and_its_size_grades_the_finding(
    project: Project, database_url: str, db: Conn
) -> None:
    project.add(1, "create", "CREATE TABLE items (id int);", "DROP TABLE items;")
    assert run_cli("--database-url", database_url, "migrate").exit_code == 0
    project.add(2, "index", "CREATE INDEX items_id ON items (id);", "DROP INDEX items_id;")
    code, doc = lint("--database-url", database_url)
    assert (code, found(doc)) == (0, [("SM101", "0002_index.up.sql", 1, 1, "info")])
    findings = doc["findings"]
    assert isinstance(findings, list) and findings[0]["size"] == "empty" and findings[0]["table"] == "public.items"
    db.execute("INSERT INTO items SELECT generate_series(1, 20000)")
    code, doc = lint("--database-url", database_url)
    assert (code, found(doc)) == (3, [("SM101", "0002_index.up.sql", 1, 1, "error")])
    assert "rows" in str(doc["findings"][0]["size"])  # type: ignore[index]
    assert "sqlmig_migrations" in tables(db)  # migrate's; lint itself reads only
    r = run_cli("--database-url", database_url, "lint")
    assert (
        "0002_index.up.sql:1:1: error SM101 index-without-concurrently: CREATE INDEX on items (at least 10,000"
        in r.stdout
    )


def test_with_a_database_a_type_change_is_judged_by_the_columns_real_type(
    project: Project, database_url: str, db: Conn
) -> None:
    project.add(1, "t", "CREATE TABLE t (a integer, b varchar(20), c numeric(10,2));", "DROP TABLE t;")
    assert run_cli("--database-url", database_url, "migrate").exit_code == 0
    body = (
        "ALTER TABLE t ALTER COLUMN a TYPE INT4;\nALTER TABLE t ALTER COLUMN b TYPE varchar (40);\n"
        "ALTER TABLE t ALTER COLUMN c TYPE decimal(12, 2);\nALTER TABLE t ALTER COLUMN a TYPE bigint;\n"
        "ALTER TABLE t ALTER COLUMN b TYPE varchar(10);"
    )
    project.add(2, "types", body, "SELECT 1;")
    _, doc = lint("--database-url", database_url)
    assert [f[2] for f in found(doc) if f[0] == "SM104"] == [4, 5]


def test_github_annotations_name_the_file_relative_to_the_checkout(project: Project) -> None:
    elsewhere = project.root / "review" / "0001_index.up.sql"  # not in the migration folder: read as given
    elsewhere.parent.mkdir()
    elsewhere.write_text("CREATE INDEX users_age ON users (age);")
    r = run_cli("lint", "--format", "github", "--files", str(elsewhere.resolve()))
    head = "::error file=review/0001_index.up.sql,line=1,col=1,title=SM101 index-without-concurrently::"
    assert r.stdout.startswith(head), r.stdout


def test_lint_with_a_database_creates_nothing(project: Project, database_url: str, db: Conn) -> None:
    project.add(1, "index", "CREATE INDEX users_id ON users (id);", "DROP INDEX users_id;")
    code, _ = lint("--database-url", database_url)
    assert code == 3
    assert tables(db) == set()


def test_a_down_is_linted_without_its_ups_tables_counting_as_used(project: Project) -> None:
    project.add(
        1,
        "pair",
        "CREATE TABLE items (id int);\nALTER TABLE users ADD COLUMN nickname text;",
        "DROP TABLE items;\nALTER TABLE users DROP COLUMN nickname;\nCREATE INDEX users_age ON users (age);",
    )
    _, doc = lint()
    downs = [f for f in found(doc) if f[1].endswith(".down.sql")]
    # the down's own lock risks count; the application rules (a dropped column) do not
    assert downs == [
        ("SM112", "0001_pair.down.sql", 2, 1, "warning"),
        ("SM101", "0001_pair.down.sql", 3, 1, "error"),
    ]


# ---- waivers --------------------------------------------------------------------------------------


def test_a_waiver_above_or_beside_its_statement_waives_it_with_its_reason(project: Project) -> None:
    project.add(
        1,
        "waived",
        "-- sqlmig:allow SM101 users is empty in every environment\n"
        "CREATE INDEX users_age ON users (age);\n"
        "CREATE INDEX users_name ON users (name);  -- sqlmig:allow sm101, SM112 built at night\n"
        "CREATE INDEX users_email ON users (email);\n",
        "SELECT 1;",
    )
    code, doc = lint()
    assert found(doc) == [("SM101", "0001_waived.up.sql", 4, 1, "error")]
    assert found(doc, waived=True) == [
        ("SM101", "0001_waived.up.sql", 2, 1, "error"),
        ("SM101", "0001_waived.up.sql", 3, 1, "error"),
    ]
    reasons = [f["waived"] for f in doc["findings"] if f["waived"]]  # type: ignore[attr-defined]
    assert reasons == ["users is empty in every environment", "built at night"]
    assert code == 3
    text = run_cli("lint").stdout
    assert "0001_waived.up.sql:2:1: waived SM101 index-without-concurrently: CREATE INDEX on users\n" in text
    assert "  reason: users is empty in every environment\n" in text


def test_a_waiver_for_another_code_waives_nothing_and_unknown_codes_or_no_reason_are_findings(
    project: Project,
) -> None:
    project.add(
        1,
        "waivers",
        "-- sqlmig:allow SM112 wrong rule\nCREATE INDEX users_age ON users (age);\n"
        "-- sqlmig:allow SM999 typo\n-- sqlmig:allow SM101\nCREATE INDEX users_name ON users (name);\n"
        "-- sqlmig:allow\nSELECT 1;",
        "SELECT 1;",
    )
    _, doc = lint()
    assert found(doc) == [
        ("SM101", "0001_waivers.up.sql", 2, 1, "error"),
        ("SM001", "0001_waivers.up.sql", 3, 1, "error"),
        ("SM002", "0001_waivers.up.sql", 4, 1, "warning"),
        ("SM001", "0001_waivers.up.sql", 6, 1, "error"),
    ]
    assert found(doc, waived=True) == [("SM101", "0001_waivers.up.sql", 5, 1, "error")]
    assert [f["waived"] for f in doc["findings"] if f["waived"]] == ["(no reason given)"]  # type: ignore[attr-defined]


# ---- output and exit codes ------------------------------------------------------------------------


def test_fail_on_and_the_github_format(project: Project) -> None:
    project.add(1, "rename", "ALTER TABLE users RENAME COLUMN name TO full_name;", "SELECT 1;")
    code, doc = lint()
    assert (code, doc["ok"], doc["fail_on"]) == (0, True, "error")  # warnings only
    assert lint("--fail-on", "warning")[0] == 3
    r = run_cli("lint", "--format", "github", "--fail-on", "warning")
    assert r.exit_code == 3
    lines = r.stdout.splitlines()
    assert lines[0].startswith("::warning file=sql/0001_rename.up.sql,line=1,col=1,title=SM112 no-lock-timeout::")
    assert lines[1].startswith(
        "::warning file=sql/0001_rename.up.sql,line=1,col=19,title=SM204 rename-column::column users.name renamed: "
    )
    assert lines[-1].startswith("lint: 2 findings at warning or above: 0 errors, 2 warnings")
    assert run_cli("lint", "--format", "json").stdout == run_cli("--json", "lint").stdout


def test_a_lock_timeout_set_anywhere_silences_the_no_lock_timeout_rule(project: Project) -> None:
    statement = "ALTER TABLE users ADD COLUMN note text;"
    project.add(1, "plain", statement, "SELECT 1;")
    project.add(2, "marker", f"-- sqlmig:lock_timeout=2s\n{statement}", "SELECT 1;")
    project.add(3, "set", f"SET lock_timeout = '2s';\n{statement}", "SELECT 1;")
    project.add(4, "off", f"SET lock_timeout = 0;\n{statement}", "SELECT 1;")
    _, doc = lint()
    assert {f[1] for f in found(doc) if f[0] == "SM112"} == {"0001_plain.up.sql", "0004_off.up.sql"}
    _, doc = lint(env={"SQLMIG_LOCK_TIMEOUT": "3s"})
    assert {f[1] for f in found(doc) if f[0] == "SM112"} == {"0004_off.up.sql"}


def test_usage_errors(project: Project) -> None:
    project.add(1, "a", "SELECT 1;", "SELECT 1;")
    for args, said in [
        (("lint", "--files", "sql/nope.sql"), "sql/nope.sql: no such file"),
        (("lint", "sql/0001_a.up.sql"), "lint takes paths only after --files"),
        (("lint", "--format", "xml"), "--format 'xml': expected text, json or github"),
        (("lint", "--fail-on", "info"), "--fail-on 'info': expected warning or error"),
        (("--json", "lint", "--format", "github"), "--json and --format github: choose one"),
    ]:
        r = run_cli(*args)
        assert r.exit_code == 2 and said in r.stderr and "Traceback" not in r.stderr, (args, r)
    r = run_cli("lint", "--files")
    assert (r.exit_code, r.stdout) == (0, "")
    assert "nothing to lint" in r.stderr


def test_readme_documents_every_rule_as_rules_py_says() -> None:
    """README's rules table is rules.py's, code for code and word for word."""
    from pathlib import Path

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    block = readme.split("<!-- lint-rules:start -->\n", 1)[1].split("<!-- lint-rules:end -->", 1)[0]

    def cell(text: str) -> str:
        return text.replace("|", "\\|")

    rows = [
        f"| `{r.code}` | `{r.name}` | {r.severity}{' (graded)' if r.graded else ''} | {cell(r.what)} | {cell(r.safe)} |"
        for r in RULES
    ]
    expected = "| code | name | severity | what happens | the safe way |\n|---|---|---|---|---|\n" + "\n".join(rows)
    assert block.strip() == expected


def test_rules_lists_every_rule(project: Project) -> None:
    r = run_cli("lint", "--rules")
    assert [line.split()[0] for line in r.stdout.splitlines()] == [rule.code for rule in RULES]
    doc = json.loads(run_cli("--json", "lint", "--rules").stdout)
    assert [d["code"] for d in doc["rules"]] == [rule.code for rule in RULES]


# ---- settings -------------------------------------------------------------------------------------


def test_lint_rules_turn_a_rule_off_or_change_its_severity(project: Project) -> None:
    project.add(1, "index", "CREATE INDEX users_age ON users (age);\nUPDATE users SET age = 1;", "SELECT 1;")
    (project.root / "sqlmig.toml").write_text('[lint_rules]\nSM101 = "off"\nSM301 = "error"\n')
    code, doc = lint()
    assert (code, found(doc)) == (3, [("SM301", "0001_index.up.sql", 2, 1, "error")])
    code, doc = lint(env={"SQLMIG_LINT_RULES": "SM101=info,SM301=off"})
    assert (code, found(doc)) == (0, [("SM101", "0001_index.up.sql", 1, 1, "info")])
    config = run_cli("config").stdout
    assert "lint_rules" in config and "SM101=off, SM301=error" in config
    (project.root / "sqlmig.toml").write_text('[lint_rules]\nSM777 = "off"\n')
    r = run_cli("lint")
    assert r.exit_code == 2 and "SM777 is not a lint rule" in r.stderr
    (project.root / "sqlmig.toml").write_text('[lint_rules]\nSM101 = "loud"\n')
    r = run_cli("lint")
    assert r.exit_code == 2 and "SM101 = 'loud': expected off, info, warning or error" in r.stderr


def test_the_server_version_decides_version_dependent_rules(project: Project) -> None:
    project.add(1, "default", "ALTER TABLE users ADD COLUMN active bool NOT NULL DEFAULT true;", "SELECT 1;")
    _, doc = lint()
    assert "SM103" not in codes(doc)
    _, doc = lint(env={"SQLMIG_LINT_PG_VERSION": "10"})
    assert "SM103" in codes(doc)


def test_enum_label_used_in_the_transaction_that_added_it(project: Project) -> None:
    body = "ALTER TYPE mood ADD VALUE 'calm';\nUPDATE users SET m = 'calm' WHERE id = 1;"
    project.add(1, "tx", body, "SELECT 1;")
    project.add(2, "notx", f"-- sqlmig:no-transaction\n{body}", "SELECT 1;")
    project.add(3, "newtype", f"CREATE TYPE mood2 AS ENUM ('a');\n{body.replace('mood', 'mood2')}", "SELECT 1;")
    _, doc = lint()
    assert [f for f in found(doc) if f[0] == "SM303"] == [("SM303", "0001_tx.up.sql", 2, 22, "error")]


# ---- migrate's gate -------------------------------------------------------------------------------


def test_migrate_refuses_on_lint_findings_when_the_setting_asks_and_writes_nothing(
    project: Project, database_url: str, db: Conn
) -> None:
    project.add(1, "create", "CREATE TABLE items (id int);", "DROP TABLE items;")
    assert run_cli("--database-url", database_url, "migrate").exit_code == 0
    db.execute("INSERT INTO items SELECT generate_series(1, 20000)")
    project.add(2, "index", "ALTER TABLE items ADD COLUMN n int;\nCREATE INDEX items_id ON items (id);", "SELECT 1;")
    env = {"SQLMIG_LINT": "error"}
    r: Result = run_cli("--database-url", database_url, "migrate", env=env)
    assert r.exit_code == 3, r
    assert "lint = 'error': 1 finding at error or above in the files to apply" in r.stderr
    assert "0002_index.up.sql:2:1: error SM101 index-without-concurrently: CREATE INDEX on items (" in r.stderr
    assert "safe: build it with CREATE INDEX CONCURRENTLY" in r.stderr
    assert db.execute("SELECT count(*) FROM sqlmig_migrations").fetchone() == (1,)
    columns = db.execute("SELECT count(*) FROM information_schema.columns WHERE table_name = 'items'").fetchone()
    assert columns == (1,)
    # lint = "warning" refuses the SM112 warning too; off applies as before
    r = run_cli(
        "--database-url", database_url, "migrate", env={"SQLMIG_LINT": "warning", "SQLMIG_LINT_RULES": "SM101=off"}
    )
    assert r.exit_code == 3 and "SM112" in r.stderr
    # waived: applies, and the warning below the gate's level is shown
    project.add(
        2,
        "index",
        "ALTER TABLE items ADD COLUMN n int;\n-- sqlmig:allow SM101 items is a lookup table, built at deploy\n"
        "CREATE INDEX items_id ON items (id);",
        "SELECT 1;",
    )
    r = run_cli("--database-url", database_url, "migrate", env=env)
    assert r.exit_code == 0, r
    assert "SM112 no-lock-timeout" in r.stderr
    assert db.execute("SELECT count(*) FROM sqlmig_migrations").fetchone() == (2,)


def test_migrate_with_lint_off_does_not_lint(project: Project, database_url: str) -> None:
    project.add(1, "index", "CREATE INDEX users_age ON users (age);", "SELECT 1;")
    r = run_cli("--database-url", database_url, "migrate", env={"SQLMIG_LINT": "off"})
    assert r.exit_code == 1 and "SM101" not in r.stderr  # users does not exist: the server says so
    r = run_cli("--database-url", database_url, "migrate", env={"SQLMIG_LINT": "loud"})
    assert r.exit_code == 2 and "invalid value 'loud' for lint" in r.stderr


def test_a_statement_that_fails_on_any_row_is_an_error_on_a_small_table_too(
    project: Project, database_url: str, db: Conn
) -> None:
    """Size lowers a lock finding (a short lock on a small table), never one that fails outright:
    ADD COLUMN ... NOT NULL without a default fails on 5 rows as on 5 million; on 0 it works."""
    project.add(1, "items", "CREATE TABLE items (id int);", "DROP TABLE items;")
    assert run_cli("--database-url", database_url, "migrate").exit_code == 0
    project.add(2, "n", "ALTER TABLE items ADD COLUMN n int NOT NULL;", "ALTER TABLE items DROP COLUMN n;")
    _, doc = lint("--database-url", database_url)
    assert [f for f in found(doc) if f[0] == "SM102"] == [("SM102", "0002_n.up.sql", 1, 19, "info")]
    db.execute("INSERT INTO items SELECT generate_series(1, 5)")
    code, doc = lint("--database-url", database_url)
    assert [f for f in found(doc) if f[0] == "SM102"] == [("SM102", "0002_n.up.sql", 1, 19, "error")]
    assert code == 3
