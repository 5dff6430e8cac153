"""The lint rules' claims, measured on real servers.

Each rule in sqlmig/lint/rules.py tells a reviewer what its example does: which lock it takes,
whether it rewrites or reads the whole table, whether it fails on a table with rows. A claim
nobody measured is a guess, and a guess that is wrong on one PostgreSQL version misleads the
reviewer exactly where it matters. So each claim is checked here against what the server does:
pg_locks (through the LockProbe `sqlmig verify` uses), pg_class.relfilenode (a rewrite) and
pg_stat_xact_user_tables.seq_scan (a whole-table read, counted in the current transaction). And
each rule's rewrite, the safe way it recommends, must pass lint and must not do the dangerous
thing: read or rewrite a table while holding the lock the rule warns about.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from typing import NamedTuple

import psycopg
import pytest
from psycopg import errors
from psycopg.conninfo import make_conninfo

from sqlmig.db import table_facts
from sqlmig.db.locks_taken import LockProbe, relations
from sqlmig.lint.rules import LOCK_MODES, RULES, TRUTH_SETUP, Rule
from sqlmig.lint.run import FactsReader, Options, Target, lint
from sqlmig.lint.sql import Name
from sqlmig.migrations import Migration, SqlFile, parse_directives
from sqlmig.results import LintFinding
from sqlmig.scanner import split_statements

from .support import Conn, fresh_database

# smoke: locks, rewrites and scan counters are what changes from one PostgreSQL to the next
pytestmark = [pytest.mark.smoke]

EXAMPLES = [r for r in RULES if r.example]
REWRITES = [r for r in EXAMPLES if r.rewrite]

# Relations a rule's lock claim covers besides the tables its findings name: a FOREIGN KEY locks
# the table it references too (the rule says so).
ALSO_LOCKED = {"SM106": ("public.teams",)}

# Examples that fail on the server by design (on every table, not only one with rows).
FAILS_BY_DESIGN: Mapping[str, type[psycopg.Error]] = {"SM303": errors.UnsafeNewEnumValueUsage}

# No test may hang: a statement that waits this long has gone wrong.
STATEMENT_TIMEOUT = "30s"
WAIT_SECONDS = 15.0


def strength(mode: str) -> int:
    return LOCK_MODES.index(mode)


def stronger(a: str | None, b: str) -> str:
    return b if a is None or strength(b) > strength(a) else a


def run_script(conn: Conn, script: str) -> None:
    """Each statement of `script` as psql would send it (the connection is in autocommit)."""
    for stmt in split_statements(script):
        conn.execute(stmt.text)


def facts_of(conn: Conn) -> FactsReader:
    def read(names: Sequence[Name]) -> Mapping[Name, table_facts.TableFacts]:
        return table_facts.read(conn, names)

    return read


def lint_up(sql: str, facts: FactsReader | None) -> list[LintFinding]:
    """Findings of `sql` as the up of a migration whose down has a statement (SM401 asks for one)."""
    directives, problems = parse_directives(sql, "1_x.up.sql")
    assert problems == []
    up = SqlFile("1_x.up.sql", sql, directives)
    down = SqlFile("1_x.down.sql", "SELECT 1;")
    target = Target(up, "up", Migration(1, "x", up, down, ""))
    return list(lint([target], shared=False, context="truth", options=Options(), facts=facts).findings)


@pytest.fixture(scope="module")
def truth_template(server_url: str) -> Iterator[str]:
    """A database holding TRUTH_SETUP, committed and analyzed: the tables the rules' examples are
    written against. Each test gets a copy of it (cheaper than building it again per test)."""
    name = "truth_" + uuid.uuid4().hex[:12]
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        with psycopg.connect(make_conninfo(server_url, dbname=name), autocommit=True) as conn:
            run_script(conn, TRUTH_SETUP)
            conn.execute("ANALYZE teams, users, team_sizes")
        yield name
    finally:
        with psycopg.connect(server_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def truth_url(server_url: str, truth_template: str) -> Iterator[str]:
    """A fresh copy of the truth template for one test (its statements commit: a rewrite's
    no-transaction steps, a setup), dropped afterwards."""
    with fresh_database(server_url, truth_template) as url:
        yield url


@pytest.fixture
def truth(truth_url: str) -> Iterator[Conn]:
    """An autocommit connection to the test's copy of the truth tables."""
    with psycopg.connect(truth_url, autocommit=True) as conn:
        yield conn


class Measured(NamedTuple):
    """What one statement did to the relations that existed before its transaction began."""

    text: str
    locks: dict[str, str]  # relation -> strongest lock this statement took first
    held: dict[str, str]  # relation -> strongest lock its transaction holds once it is done
    rewrites: tuple[str, ...]  # tables given a new relfilenode
    scans: tuple[str, ...]  # tables whose seq_scan counter (this transaction's) grew
    lock_timeout: str  # the setting it ran with ("" when it ran outside a transaction)


class Run(NamedTuple):
    statements: list[Measured]
    error: psycopg.Error | None

    def taken(self) -> dict[str, str]:
        """The strongest lock any statement took, per relation."""
        out: dict[str, str] = {}
        for m in self.statements:
            for rel, mode in m.locks.items():
                out[rel] = stronger(out.get(rel), mode)
        return out

    def rewritten(self) -> set[str]:
        return {t for m in self.statements for t in m.rewrites}


def _seq_scans(conn: Conn, names: Mapping[int, str]) -> dict[str, int]:
    rows = conn.execute("SELECT relid::int8, seq_scan FROM pg_catalog.pg_stat_xact_user_tables").fetchall()
    return {names[int(str(oid))]: int(str(n)) for oid, n in rows if int(str(oid)) in names}


def _in_transaction(conn: Conn, statements: Sequence[str], out: list[Measured]) -> None:
    """Run `statements` in the connection's open transaction, measuring each; the caller ends it."""
    before = relations(conn)
    names = {oid: r.name for oid, r in before.items()}
    probe = LockProbe(conn, before, before.keys())
    held: dict[str, str] = {}
    for text in statements:
        row = conn.execute("SELECT pg_catalog.current_setting('lock_timeout')").fetchone()
        timeout = str(row[0]) if row else ""
        counts = _seq_scans(conn, names)
        conn.execute(text)
        effect = probe.after(0, 0, text)
        scans = tuple(sorted(t for t, n in _seq_scans(conn, names).items() if n > counts.get(t, n)))
        locks: dict[str, str] = {}
        for rel, mode in effect.locks:
            locks[rel] = stronger(locks.get(rel), mode)
            held[rel] = stronger(held.get(rel), mode)
        out.append(Measured(text, locks, dict(held), effect.rewrites, scans, timeout))


def _outside(conn: Conn, text: str) -> Measured:
    """A statement the server refuses in a transaction block (CREATE INDEX CONCURRENTLY): its locks
    are gone when it ends, so only a rewrite (relfilenode) is measured."""
    conn.autocommit = True
    try:
        before = relations(conn)
        conn.execute(text)
        after = relations(conn)
    finally:
        conn.autocommit = False
    rewrites = tuple(
        sorted(r.name for oid, r in before.items() if r.kind in ("r", "m") and oid in after and after[oid] != r)
    )
    return Measured(text, {}, {}, rewrites, (), "")


def measure(url: str, sql: str) -> Run:
    """Run `sql` as sqlmig would, measuring each statement: in one transaction, rolled back; a
    `-- sqlmig:no-transaction` file statement by statement, each committed on its own."""
    directives, _ = parse_directives(sql, "x.up.sql")
    statements = [s.text for s in split_statements(sql) if s.tokens]
    out: list[Measured] = []
    with psycopg.connect(url) as conn:
        conn.execute(f"SET statement_timeout = '{STATEMENT_TIMEOUT}'")
        conn.commit()
        try:
            if not directives.no_transaction:
                try:
                    _in_transaction(conn, statements, out)
                finally:
                    conn.rollback()
                return Run(out, None)
            for text in statements:
                try:
                    _in_transaction(conn, [text], out)
                    conn.commit()
                except errors.ActiveSqlTransaction:
                    conn.rollback()
                    out.append(_outside(conn, text))
        except psycopg.Error as exc:
            return Run(out, exc)
    return Run(out, None)


# ---- every rule's example and rewrite --------------------------------------------------------


@pytest.mark.parametrize("rule", EXAMPLES, ids=lambda r: r.code)
def test_the_example_fires_the_rule_and_does_what_the_rule_claims(rule: Rule, truth: Conn, truth_url: str) -> None:
    """The example is what a reviewer is shown as the danger: lint must flag it, and the server
    must take exactly the claimed lock, and rewrite, scan or fail as claimed."""
    hits = [f for f in lint_up(rule.example, facts_of(truth)) if f.code == rule.code]
    assert hits, f"{rule.code} does not fire on its example"
    tables = {f.table for f in hits if f.table is not None}

    run = measure(truth_url, rule.example)
    if rule.fails_with_rows:
        assert isinstance(run.error, errors.NotNullViolation), f"with rows: {run.error!r}"
        for table in sorted(tables):
            truth.execute(f"DELETE FROM {table}")  # the empty development database it works on
        run = measure(truth_url, rule.example)
    expected = FAILS_BY_DESIGN.get(rule.code)
    if expected is not None:
        assert isinstance(run.error, expected), f"{run.error!r}"
        return
    assert run.error is None, f"the example fails: {run.error}"

    taken = run.taken()
    if rule.lock is not None:
        about = tables | set(ALSO_LOCKED.get(rule.code, ()))
        assert about, "the finding names no table to measure the lock on"
        assert {t: taken.get(t) for t in about} == dict.fromkeys(about, rule.lock)
        too_strong = {t: m for t, m in taken.items() if strength(m) > strength(rule.lock)}
        assert too_strong == {}, "locks stronger than the rule claims"
    rewritten = run.rewritten()
    if rule.rewrites:
        assert tables <= rewritten, f"no rewrite of {tables - rewritten} measured"
    else:
        assert rewritten == set(), "a rewrite the rule does not claim"
    if rule.scans:
        scanned = {t for m in run.statements for t in m.scans}
        assert tables <= scanned, f"no whole-table read of {tables - scanned} measured"
    # The danger the rule describes: the scan or rewrite happens while the claimed lock is held.
    for table in sorted(tables) if rule.lock and (rule.scans or rule.rewrites) else ():
        under = [m.held.get(table) for m in run.statements if table in m.scans + m.rewrites]
        assert rule.lock in under, f"{table} read or rewritten under {under}, not {rule.lock}"


@pytest.mark.parametrize("rule", REWRITES, ids=lambda r: r.code)
def test_the_rewrite_passes_lint_and_avoids_the_danger(rule: Rule, truth: Conn, truth_url: str) -> None:
    """The rewrite is what a reviewer is told to write instead: lint must accept it, and on the
    server it must not do what the rule warns about. It may take the same lock (the safe way to
    add a column still takes ACCESS EXCLUSIVE, briefly): what it must never do is read or rewrite
    a table while holding a lock as strong as the rule's, nor wait for such a lock without a
    lock_timeout where the lock itself is the danger."""
    run_script(truth, rule.rewrite_setup)
    codes = {f.code for f in lint_up(rule.rewrite, facts_of(truth))}
    assert rule.code not in codes, f"{rule.code} fires on its own rewrite"
    if rule.rewrite_outside_transaction:
        writers_go_on_while_it_runs(truth_url, rule)
        return

    run = measure(truth_url, rule.rewrite)
    assert run.error is None, f"the rewrite fails: {run.error}"
    if rule.lock is None:
        return
    limit = strength(rule.lock)
    for m in run.statements:
        for table in m.scans + m.rewrites:
            held = m.held.get(table)
            assert held is None or strength(held) < limit, f"{m.text!r} reads or rewrites {table} holding {held}"
    if rule.rewrites:
        assert run.rewritten() == set()
    if not (rule.rewrites or rule.scans or rule.fails_with_rows):  # the lock itself is the danger
        for m in run.statements:
            for table, mode in m.locks.items():
                assert strength(mode) < limit or m.lock_timeout not in ("", "0"), f"{m.text!r}: {mode} on {table}"


# What holds CREATE INDEX CONCURRENTLY, REINDEX CONCURRENTLY or VACUUM up, so that it can be watched while it runs:
# an old snapshot, which the CONCURRENTLY builds wait out after building (holding its lock);
# VACUUM waits for nothing of the kind, so it is queued behind a lock that conflicts with its own
# (and a writer must get past the queued VACUUM: a waiting ACCESS EXCLUSIVE would block it).
HOLD_UP = {
    "SM101": "BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT 1;",
    "SM113": "BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT 1;",  # REINDEX CONCURRENTLY waits alike
    "SM109": "BEGIN; LOCK TABLE users IN SHARE UPDATE EXCLUSIVE MODE;",
}


def writers_go_on_while_it_runs(url: str, rule: Rule) -> None:
    """A rewrite that cannot run in a transaction (so LockProbe cannot follow it): held up by
    another session, its locks on users are read from pg_locks while it runs, and an INSERT into
    users from a third session must go through meanwhile."""
    assert rule.lock is not None
    with (
        psycopg.connect(url, autocommit=True) as holder,
        psycopg.connect(url, autocommit=True) as worker,
        psycopg.connect(url, autocommit=True) as watcher,
    ):
        worker.execute(f"SET statement_timeout = '{STATEMENT_TIMEOUT}'")
        watcher.execute("SET lock_timeout = '5s'")
        pid = worker.info.backend_pid
        failure: list[BaseException] = []

        def work() -> None:
            try:
                worker.execute(rule.rewrite)
            except BaseException as exc:  # reported by the main thread
                failure.append(exc)

        run_script(holder, HOLD_UP[rule.code])
        thread = threading.Thread(target=work, daemon=True)
        thread.start()
        try:
            modes: list[str] = []
            deadline = time.monotonic() + WAIT_SECONDS
            while time.monotonic() < deadline and thread.is_alive():
                rows = watcher.execute(
                    "SELECT l.mode, l.relation = 'users'::regclass, l.granted FROM pg_catalog.pg_locks l"
                    " WHERE l.pid = %s AND l.locktype IN ('relation', 'virtualxid', 'transactionid')",
                    (pid,),
                ).fetchall()
                if any(not granted for _, _, granted in rows):  # it waits: hold it there and look
                    modes = [str(mode) for mode, on_users, _ in rows if on_users]
                    break
                time.sleep(0.005)
            assert modes, f"{rule.rewrite!r} was not seen waiting ({failure or 'still running or done'})"
            assert max(modes, key=strength) == "ShareUpdateExclusiveLock", modes
            assert strength(max(modes, key=strength)) < strength(rule.lock)
            watcher.execute("INSERT INTO users (id, email) VALUES (-1, 'writer@example.com')")
        finally:
            holder.execute("ROLLBACK")
            thread.join(WAIT_SECONDS)
            if thread.is_alive():
                watcher.execute("SELECT pg_catalog.pg_cancel_backend(%s)", (pid,))
                thread.join(WAIT_SECONDS)
        assert not thread.is_alive() and failure == [], f"{rule.rewrite!r}: {failure}"
        invalid = watcher.execute(
            "SELECT count(*) FROM pg_catalog.pg_index WHERE indrelid = 'users'::regclass AND NOT indisvalid"
        ).fetchone()
        assert invalid == (0,)


# ---- the ALTER TABLE lock table behind SM112 -----------------------------------------------------

TRIGGER = (
    "CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RETURN NEW; END$$;\n"
    "CREATE TRIGGER users_touch BEFORE UPDATE ON users FOR EACH ROW EXECUTE FUNCTION touch();"
)
FK_NOT_VALID = "ALTER TABLE users ADD CONSTRAINT users_team_fk FOREIGN KEY (team_id) REFERENCES teams (id) NOT VALID;"

# (id, setup committed first, statement): the subcommands check.py gives a weaker lock than ACCESS
# EXCLUSIVE, and common ones it does not.
SUBCOMMANDS = [
    ("add-column", "", "ALTER TABLE users ADD COLUMN score int"),
    ("drop-column", "", "ALTER TABLE users DROP COLUMN name"),
    ("set-default", "", "ALTER TABLE users ALTER COLUMN status SET DEFAULT 'old'"),
    ("rename-column", "", "ALTER TABLE users RENAME COLUMN name TO full_name"),
    ("rename-table", "", "ALTER TABLE users RENAME TO members"),
    ("add-check-not-valid", "", "ALTER TABLE users ADD CONSTRAINT age_ok CHECK (age >= 0) NOT VALID"),
    ("add-fk-not-valid", "", FK_NOT_VALID),
    ("validate-check", "ALTER TABLE users ADD CONSTRAINT age_ok CHECK (age >= 0) NOT VALID;",
     "ALTER TABLE users VALIDATE CONSTRAINT age_ok"),
    ("validate-fk", FK_NOT_VALID, "ALTER TABLE users VALIDATE CONSTRAINT users_team_fk"),
    ("disable-trigger", TRIGGER, "ALTER TABLE users DISABLE TRIGGER users_touch"),
    ("enable-trigger", TRIGGER, "ALTER TABLE users ENABLE TRIGGER users_touch"),
    ("enable-always-trigger", TRIGGER, "ALTER TABLE users ENABLE ALWAYS TRIGGER users_touch"),
    ("set-statistics", "", "ALTER TABLE users ALTER COLUMN age SET STATISTICS 500"),
    ("column-set-options", "", "ALTER TABLE users ALTER COLUMN age SET (n_distinct = 100)"),
    ("set-storage", "", "ALTER TABLE users ALTER COLUMN name SET STORAGE EXTERNAL"),
    ("set-fillfactor", "", "ALTER TABLE users SET (fillfactor = 70)"),
    ("reset-fillfactor", "", "ALTER TABLE users RESET (fillfactor)"),
    ("cluster-on", "", "ALTER TABLE users CLUSTER ON users_pkey"),
    ("set-without-cluster", "", "ALTER TABLE users SET WITHOUT CLUSTER"),
    ("enable-rls", "", "ALTER TABLE users ENABLE ROW LEVEL SECURITY"),
    ("replica-identity", "", "ALTER TABLE users REPLICA IDENTITY FULL"),
    ("fillfactor-and-add-column", "", "ALTER TABLE users SET (fillfactor = 70), ADD COLUMN score int"),
]  # fmt: skip


@pytest.mark.parametrize(("setup", "statement"), [s[1:] for s in SUBCOMMANDS], ids=[s[0] for s in SUBCOMMANDS])
def test_no_lock_timeout_fires_exactly_on_access_exclusive(
    setup: str, statement: str, truth: Conn, truth_url: str
) -> None:
    """SM112 warns of an ACCESS EXCLUSIVE wait: it must fire on every ALTER TABLE that takes that
    lock on users, and on none that takes less (a false alarm teaches people to ignore it)."""
    run_script(truth, setup)
    fired = "SM112" in {f.code for f in lint_up(statement + ";", facts_of(truth))}
    run = measure(truth_url, statement)
    assert run.error is None, f"{run.error}"
    measured = run.taken().get("public.users")
    assert measured is not None
    assert fired == (measured == "AccessExclusiveLock"), f"SM112 {'fired' if fired else 'silent'}; took {measured}"


@pytest.mark.parametrize("mode", ["ACCESS SHARE", "ROW EXCLUSIVE", "SHARE UPDATE EXCLUSIVE", "SHARE", "EXCLUSIVE"])
def test_lock_table_fires_from_the_modes_that_block_writers(mode: str, truth: Conn, truth_url: str) -> None:
    """SM111's safe way is to name the weakest mode that serves: a mode that lets reads and writes
    go on is that, and must not be flagged; from SHARE up, writers wait."""
    statement = f"LOCK TABLE users IN {mode} MODE;"
    fired = "SM111" in {f.code for f in lint_up(statement, facts_of(truth))}
    run = measure(truth_url, statement)
    measured = run.taken().get("public.users")
    assert run.error is None and measured is not None
    assert fired == (strength(measured) >= strength("ShareLock")), f"SM111 fired: {fired}; took {measured}"


@pytest.mark.parametrize(
    ("statement", "fires"),
    [("VACUUM FULL users;", True), ("VACUUM (FULL) users;", True), ("VACUUM (VERBOSE, FULL) users;", True),
     ("VACUUM (FULL true) users;", True), ("VACUUM (FULL false) users;", False), ("VACUUM (ANALYZE) users;", False),
     ("VACUUM users;", False)],
)  # fmt: skip
def test_vacuum_full_fires_in_every_spelling(statement: str, fires: bool) -> None:
    """SM109's claim (VACUUM FULL writes the table anew under ACCESS EXCLUSIVE) is measured through
    its CLUSTER example; VACUUM cannot run in a transaction, so LockProbe cannot follow it, and
    the option-list spelling is what lint must still recognize."""
    assert ("SM109" in {f.code for f in lint_up(statement, None)}) == fires


# ---- severity follows the table's size ----------------------------------------------------------

INDEX = "CREATE INDEX users_age ON users (age);"


@pytest.mark.parametrize(
    ("rows", "analyzed", "severity"),
    [(0, True, "info"), (0, False, "info"), (5000, True, "warning"), (5000, False, "warning"),
     (100_000, True, "error"), (100_000, False, "error")],
)  # fmt: skip
def test_severity_follows_the_size_of_the_table(rows: int, analyzed: bool, severity: str, db: Conn) -> None:
    """A SHARE lock on an empty table blocks nobody for long; on 100,000 rows it stops writes for
    seconds. A table never ANALYZEd has no estimate: its rows are counted up to 10,000."""
    db.execute("CREATE TABLE users (id int PRIMARY KEY, age int) WITH (autovacuum_enabled = false)")
    db.execute("INSERT INTO users SELECT g, g %% 90 FROM generate_series(1, %s) g", (rows,))
    if analyzed:
        db.execute("ANALYZE users")
    (found,) = [f for f in lint_up(INDEX, facts_of(db)) if f.code == "SM101"]
    assert found.severity == severity, found.size
    if rows >= 10_000 and not analyzed:
        assert found.size is not None and found.size.startswith("at least 10,000 rows")


def test_without_a_database_the_severity_is_the_rules() -> None:
    """Linting files alone (no database), a table's size is unknown: it may be large."""
    (found,) = [f for f in lint_up(INDEX, None) if f.code == "SM101"]
    assert (found.severity, found.size) == ("error", None)


def test_the_module_measures_every_claim() -> None:
    """Guards the parametrizations: a rule added with an example is measured here."""
    assert {r.code for r in EXAMPLES} >= {"SM101", "SM106", "SM112", "SM304"}
    assert {r.code for r in REWRITES if r.rewrite_outside_transaction} == set(HOLD_UP)
