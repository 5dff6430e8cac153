"""Configuration precedence, validation and password redaction (pure)."""

from __future__ import annotations

from pathlib import Path

import pytest

from sqlmig.config import ConfigFile, load_config_files, redact_url, resolve, scrub, url_password
from sqlmig.errors import ConfigError


def test_precedence_flags_env_files_defaults(tmp_path: Path) -> None:
    own = ConfigFile(tmp_path / "sqlmig.toml", {"database_url": "postgresql://file/db", "history_table": "h_file"})
    py = ConfigFile(tmp_path / "pyproject.toml", {"history_table": "h_py", "history_schema": "s_py", "lock_retries": 2})
    env = {"DATABASE_URL": "postgresql://env/db", "SQLMIG_HISTORY_TABLE": "h_env"}
    s = resolve({"database_url": "postgresql://flag/db"}, env, [own, py])
    assert s.database_url == "postgresql://flag/db" and s.sources["database_url"] == "flag"
    assert s.history_table == "h_env" and s.sources["history_table"] == "env SQLMIG_HISTORY_TABLE"
    assert s.history_schema == "s_py" and s.lock_retries == 2
    assert s.dirs == (Path("sql"),) and s.sources["dirs"] == "default"
    s2 = resolve({}, {"SQLMIG_DATABASE_URL": "postgresql://a/db", "DATABASE_URL": "postgresql://b/db"}, [])
    assert s2.database_url == "postgresql://a/db"


def test_config_file_paths_are_relative_to_the_file(tmp_path: Path) -> None:
    sub = tmp_path / "proj"
    cfg = ConfigFile(sub / "sqlmig.toml", {"dirs": ["db/app", "/abs/plugins"], "seed_file": "seed/data.json"})
    s = resolve({}, {}, [cfg])
    assert s.dirs == (sub / "db/app", Path("/abs/plugins"))
    assert s.seed_file == sub / "seed/data.json"


def test_unknown_key_names_file_and_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        resolve({}, {}, [ConfigFile(tmp_path / "sqlmig.toml", {"databse_url": "x"})])
    assert info.value.exit_code == 2
    assert "sqlmig.toml: unknown setting 'databse_url'" in info.value.message


@pytest.mark.parametrize(
    ("key", "value"),
    [("lock_timeout", "soon"), ("lock_retries", "-1"), ("lock_wait", "abc"), ("history_table", ""), ("wait", True)],
)
def test_bad_values(key: str, value: object) -> None:
    with pytest.raises(ConfigError) as info:
        resolve({key: value}, {}, [])
    assert key in info.value.message


def test_load_files(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\n[tool.sqlmig]\nhistory_table = "hist"\n')
    (tmp_path / "sqlmig.toml").write_text('database_url = "embedded"\n')
    files = load_config_files(tmp_path)
    assert [f.path.name for f in files] == ["sqlmig.toml", "pyproject.toml"]
    (tmp_path / "sqlmig.toml").write_text("database_url = \n")
    with pytest.raises(ConfigError) as info:
        load_config_files(tmp_path)
    assert "sqlmig.toml: invalid TOML" in info.value.message


@pytest.mark.parametrize(
    ("url", "secret", "shown"),
    [
        ("postgresql://alice:s3cret@db:5432/app", "s3cret", "postgresql://alice:***@db:5432/app"),
        ("postgres://alice:p%40ss@db/app", "p%40ss", "postgres://alice:***@db/app"),
        ("host=db user=alice password=s3cret dbname=app", "s3cret", "host=db user=alice password=*** dbname=app"),
        (
            "postgresql://db/app?password=s3cret&sslmode=require",
            "s3cret",
            "postgresql://db/app?password=***&sslmode=require",
        ),
        ("postgresql://alice:s3cret@[::1/db", "s3cret", "postgresql://alice:***@[::1/db"),
    ],
)
def test_redaction(url: str, secret: str, shown: str) -> None:
    assert url_password(url) == secret
    assert redact_url(url) == shown
    assert secret not in scrub(f"could not connect with {url}", url)
