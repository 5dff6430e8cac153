"""The guard that keeps issue 13 fixed: the CLI over a corpus of hostile inputs, fixed and generated.

For every run: the exit code is a documented one, there is no traceback, no password is shown,
and a run that did not succeed changed nothing in the database. The fixed corpus holds the cases
the issue found; hypothesis generates files of random bytes, option values, URLs and seed JSON.
`make test` tries a few examples of each, the same ones every run (conftest's hypothesis
profile); `make reliability` (SQLMIG_CORPUS_EXAMPLES) many more, new ones each run, and its report
counts them: tried, clear error, documented exit code, no password, nothing written.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .support import Conn, Project, Result, count_case, run_cli

pytestmark = pytest.mark.reliability

DOCUMENTED = {0, 1, 2, 3, 4, 130}
SECRET = "Zq8-s3cret-pw"  # a password no output may ever show, whole or in part
EXAMPLES = int(os.environ.get("SQLMIG_CORPUS_EXAMPLES", "15"))
FAILED_KEEPS_NOTHING = {2, 3, 4}  # refused or unreachable: nothing may have been written


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def snapshot(db: Conn) -> tuple[object, ...]:
    """What a run could have written: relations in the database, and the history's rows."""
    rels = db.execute(
        "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')"
    ).fetchone()
    exists = db.execute("SELECT to_regclass('public.sqlmig_migrations') IS NOT NULL").fetchone()
    rows = db.execute("SELECT count(*) FROM sqlmig_migrations").fetchone() if exists == (True,) else (0,)
    return (rels, rows)


def judge(
    r: Result, before: tuple[object, ...] | None, after: tuple[object, ...] | None, what: str, *, verbose: bool
) -> None:
    """The corpus's four promises, each counted for `make reliability`, then asserted. With -v
    the traceback of an error is logged on purpose (README): there it is no failure of clarity."""
    output = r.stdout + r.stderr
    count_case("corpus:tried")
    clear = (verbose or "Traceback" not in output) and (
        r.exit_code == 0 or "error" in r.stderr.lower() or r.stdout.strip() != ""
    )
    documented = r.exit_code in DOCUMENTED
    secret = SECRET not in output and SECRET[:6] not in output and SECRET[-6:] not in output
    unchanged = r.exit_code not in FAILED_KEEPS_NOTHING or before == after
    for name, ok in (("clear", clear), ("documented", documented), ("secret", secret), ("unchanged", unchanged)):
        if ok:
            count_case(f"corpus:{name}")
    assert documented, f"{what}: exit {r.exit_code}\n{output}"
    assert clear, f"{what}: not a clear error\n{output}"
    assert secret, f"{what}: the password shows\n{output}"
    assert unchanged, f"{what}: exit {r.exit_code} but the database changed ({before} -> {after})\n{output}"


@pytest.fixture
def corpus(project: Project, database_url: str, db: Conn) -> Iterator[CorpusRunner]:
    yield CorpusRunner(project, database_url, db)


class CorpusRunner:
    def __init__(self, project: Project, url: str, db: Conn) -> None:
        self.project = project
        self.url = url
        self.db = db

    def run(self, *args: str, env: dict[str, str] | None = None, url: str | None = None, what: str = "") -> Result:
        before = snapshot(self.db)
        r = run_cli("--database-url", url or self.url, *args, env=env)
        judge(r, before, snapshot(self.db), what or " ".join(args), verbose="-v" in args)
        return r


# ---- the fixed corpus: what the issue found ---------------------------------------------------

OPTION_VALUES = ["nan", "NaN", "inf", "-inf", "-1", "1e300", "", " ", "5 parsecs", "٣", "0x10", "99999999999d", "1_000"]


@pytest.mark.parametrize("option", ["--lock-timeout", "--statement-timeout", "--lock-retries", "--lock-wait", "--wait"])
def test_option_values(corpus: CorpusRunner, option: str) -> None:
    corpus.project.add(1, "items", "CREATE TABLE items (id int);\n", "DROP TABLE items;\n")
    for value in OPTION_VALUES:
        args = [option, value, "migrate"] if option == "--wait" else ["migrate", option, value]
        r = corpus.run(*args, what=f"{option} {value!r}")
        if r.exit_code == 0:  # a value sqlmig accepts: undo, so the next value starts from the same place
            assert corpus.run("down").exit_code == 0


@pytest.mark.parametrize(
    "var", ["SQLMIG_WAIT", "SQLMIG_LOCK_WAIT", "SQLMIG_LOCK_TIMEOUT", "SQLMIG_STATEMENT_TIMEOUT", "SQLMIG_LOCK_RETRIES"]
)
def test_environment_values(corpus: CorpusRunner, var: str) -> None:
    corpus.project.add(1, "items", "CREATE TABLE items (id int);\n", "DROP TABLE items;\n")
    for value in OPTION_VALUES:
        r = corpus.run("migrate", env={var: value}, what=f"{var}={value!r}")
        if r.exit_code == 0:
            assert corpus.run("down").exit_code == 0


@pytest.mark.parametrize("args", [["down", "--to", "-1"], ["down", "--steps", "0"], ["migrate", "--to", "1" * 30]])
def test_targets(corpus: CorpusRunner, args: list[str]) -> None:
    corpus.project.add(1, "items", "CREATE TABLE items (id int);\n", "DROP TABLE items;\n")
    corpus.run(*args)


PASSWORDS = [SECRET, f"{SECRET[:4]}/{SECRET[4:]}", f"{SECRET[:4]}@{SECRET[4:]}", f"{SECRET[:4]}#{SECRET[4:]}"]
PASSWORDS += [f"{SECRET[:4]}?{SECRET[4:]}", f"{SECRET[:4]}:{SECRET[4:]}@x", f"{SECRET}%zz"]


@pytest.mark.parametrize("password", PASSWORDS)
@pytest.mark.parametrize("command", [["status"], ["migrate"], ["--json", "status"], ["config"], ["-v", "status"]])
def test_passwords_in_urls(corpus: CorpusRunner, password: str, command: list[str]) -> None:
    port = _closed_port()
    for url in (
        f"postgresql://app:{password}@127.0.0.1:{port}/db",
        f"postgres://app:{password}@127.0.0.1:{port}/db?connect_timeout=2",
        f"postgresql://127.0.0.1:{port}/db?user=app&password={password}",
        f"host=127.0.0.1 port={port} user=app password={password} dbname=db",
    ):
        corpus.run(*command, url=url, what=f"{command} with {url!r}")


# ---- generated inputs ---------------------------------------------------------------------------

_FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))


@_FUZZ
@given(content=st.binary(max_size=300))
def test_random_bytes_as_a_file(corpus: CorpusRunner, content: bytes) -> None:
    sql = corpus.project.sql
    for f in sql.iterdir():
        f.unlink()
    (sql / "0001_fuzz.up.sql").write_bytes(content)
    (sql / "0001_fuzz.down.sql").write_bytes(content[::-1])
    for args in (["validate", "--files-only"], ["migrate", "--dry-run"], ["migrate"]):
        r = corpus.run(*args, what=f"{args} on {content!r}")
        if args == ["migrate"] and r.exit_code == 0:
            corpus.db.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public")


_text = st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=12)


@_FUZZ
@given(option=st.sampled_from(["--lock-timeout", "--lock-retries", "--lock-wait", "--statement-timeout"]), value=_text)
def test_random_option_values(corpus: CorpusRunner, option: str, value: str) -> None:
    if not corpus.project.sql.joinpath("0001_items.up.sql").exists():
        corpus.project.add(1, "items", "CREATE TABLE items (id int);\n", "DROP TABLE items;\n")
    r = corpus.run("migrate", "--dry-run", option, value, what=f"{option} {value!r}")
    assert r.exit_code in (0, 2), r.stderr


@_FUZZ
@given(
    scheme=st.sampled_from(["postgresql://", "postgres://", "postgresql+psycopg://", "", "pg://"]),
    user=_text,
    junk=st.text(alphabet="/@#?:%&=[] ", max_size=4),
)
def test_random_urls_never_show_the_password(corpus: CorpusRunner, scheme: str, user: str, junk: str) -> None:
    port = _closed_port()
    url = f"{scheme}{user}:{SECRET[:5]}{junk}{SECRET[5:]}@127.0.0.1:{port}/db"
    corpus.run("status", url=url, what=f"status with {url!r}")


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | _text,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(_text, children, max_size=4),
    max_leaves=20,
)


@_FUZZ
@given(
    document=st.one_of(
        _json,
        st.fixed_dictionaries({"tables": st.lists(st.fixed_dictionaries({"name": st.just("items"), "rows": _json}))}),
    )
)
def test_random_seed_json(corpus: CorpusRunner, document: object) -> None:
    if not corpus.project.sql.joinpath("0001_items.up.sql").exists():
        corpus.project.add(1, "items", "CREATE TABLE items (id int PRIMARY KEY, note text);\n", "DROP TABLE items;\n")
        assert corpus.run("migrate").exit_code == 0
    data = Path(corpus.project.root / "seed.json")
    data.write_text(json.dumps(document))
    corpus.run("seed", "--no-migrate", "--dry-run", "--file", str(data), what=f"seed {document!r}")


def test_a_password_libpq_would_take_for_a_keyword_is_never_shown(corpus: CorpusRunner) -> None:
    """Found by the fuzzer above: no scheme, and an '=' in the password: libpq reads key=value
    pairs and quotes the 'keyword' it does not know, which was the password's first half."""
    port = _closed_port()
    for junk in ("=", " =", "= "):
        url = f":{SECRET[:5]}{junk}{SECRET[5:]}@127.0.0.1:{port}/db"
        corpus.run("status", url=url, what=f"status with {url!r}")


def test_a_host_name_the_resolver_cannot_encode_is_a_clear_error(corpus: CorpusRunner) -> None:
    """Found by the fuzzer above in CI: a user name of '\\xad/' makes the soft hyphen the host, and
    Python's resolver raised UnicodeError (idna) through psycopg: a traceback, not an error."""
    for host in ("\xad", "a..b\u3002", "x" * 70, "\udcad"):  # the last: a byte argv could not decode
        url = f"postgresql://u:{SECRET}@{host}:5432/db"
        r = corpus.run("status", url=url, what=f"status with {url!r}")
        assert r.exit_code == 2 and ("host name" in r.stderr or "not UTF-8" in r.stderr), r.stderr
