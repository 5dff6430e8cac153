"""Settings resolved once from flags, environment and config files; URL redaction."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple
from urllib.parse import unquote

from .errors import ConfigError

EMBEDDED = "embedded"
DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(us|ms|s|min|h|d)?\s*$")
_UNIT_MS = {
    "us": 0.001,
    "ms": 1.0,
    "s": 1000.0,
    "min": 60_000.0,
    "h": 3_600_000.0,
    "d": 86_400_000.0,
}


class Setting(NamedTuple):
    """One configurable value: its key in files, its environment variable(s) and its default."""

    key: str
    env: tuple[str, ...]
    default: object
    doc: str


# Each default is defined here and nowhere else.
SETTINGS: tuple[Setting, ...] = (
    Setting(
        "database_url",
        ("SQLMIG_DATABASE_URL", "DATABASE_URL"),
        None,
        "PostgreSQL URL, or 'embedded'",
    ),
    Setting("dirs", ("SQLMIG_DIR",), ("sql",), "migration directories (env: os.pathsep-separated)"),
    Setting("history_schema", ("SQLMIG_HISTORY_SCHEMA",), "public", "schema of the history table"),
    Setting("history_table", ("SQLMIG_HISTORY_TABLE",), "sqlmig_migrations", "name of the history table"),
    Setting("lock_timeout", ("SQLMIG_LOCK_TIMEOUT",), None, "SET LOCAL lock_timeout per migration"),
    Setting("statement_timeout", ("SQLMIG_STATEMENT_TIMEOUT",), None, "SET LOCAL statement_timeout"),
    Setting("lock_retries", ("SQLMIG_LOCK_RETRIES",), 0, "retries of a migration that hit lock_timeout"),
    Setting("lock_wait", ("SQLMIG_LOCK_WAIT",), None, "seconds to wait for sqlmig's advisory lock"),
    Setting("wait", ("SQLMIG_WAIT",), 0.0, "seconds to wait for the database to accept connections"),
    Setting("seed_file", ("SQLMIG_SEED_FILE",), "data/seed.json", "seed data file"),
    Setting(
        "embedded_dir",
        ("SQLMIG_EMBEDDED_DIR",),
        ".sqlmig",
        "where the embedded server keeps its data",
    ),
)
_BY_KEY = {s.key: s for s in SETTINGS}
_PATH_KEYS = {"dirs", "seed_file", "embedded_dir"}


class ConfigFile(NamedTuple):
    """A parsed config file: where it is (relative paths resolve against its folder) and its table."""

    path: Path
    values: Mapping[str, object]


@dataclass(frozen=True)
class Settings:
    """Every effective setting, and where each value came from."""

    database_url: str | None = None
    dirs: tuple[Path, ...] = (Path("sql"),)
    history_schema: str = "public"
    history_table: str = "sqlmig_migrations"
    lock_timeout: str | None = None
    statement_timeout: str | None = None
    lock_retries: int = 0
    lock_wait: float | None = None
    wait: float = 0.0
    seed_file: Path = Path("data/seed.json")
    embedded_dir: Path = Path(".sqlmig")
    sources: Mapping[str, str] = field(default_factory=dict)

    @property
    def history_name(self) -> str:
        """schema.table of the history, as messages name it."""
        return f"{self.history_schema}.{self.history_table}"


class ConfigValue(NamedTuple):
    """One line of `sqlmig config`: a setting's effective value (password redacted) and its source."""

    key: str
    value: object  # str, float, int, list of str, or None
    source: str  # "flag", "env NAME", a config file's path, or "default"
    doc: str


def effective(settings: Settings) -> tuple[ConfigValue, ...]:
    """Every setting as `sqlmig config` shows it; the URL's password never appears."""
    rows: list[ConfigValue] = []
    for setting in SETTINGS:
        value: object = getattr(settings, setting.key)
        if setting.key == "database_url" and isinstance(value, str):
            value = redact_url(value)
        elif isinstance(value, tuple):
            value = [str(v) for v in value]
        elif isinstance(value, Path):
            value = str(value)
        rows.append(ConfigValue(setting.key, value, settings.sources.get(setting.key, "default"), setting.doc))
    return tuple(rows)


def load_config_files(cwd: Path) -> list[ConfigFile]:
    """Read sqlmig.toml and pyproject.toml's [tool.sqlmig] from cwd, highest precedence first."""
    found: list[ConfigFile] = []
    own = cwd / "sqlmig.toml"
    if own.is_file():
        found.append(ConfigFile(own, _read_toml(own)))
    pyproject = cwd / "pyproject.toml"
    if pyproject.is_file():
        tool = _read_toml(pyproject).get("tool", {})
        section = tool.get("sqlmig") if isinstance(tool, dict) else None
        if isinstance(section, dict):
            found.append(ConfigFile(pyproject, section))
    return found


def _read_toml(path: Path) -> dict[str, object]:
    import tomllib  # only when a config file exists

    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}", hint="fix the file's syntax") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None


def resolve(
    flags: Mapping[str, object],
    environ: Mapping[str, str],
    files: Sequence[ConfigFile],
) -> Settings:
    """Merge flags > environment > config files (in the order given) > defaults. Pure."""
    values: dict[str, object] = {}
    sources: dict[str, str] = {}
    for cfg in files:
        _check_keys(cfg)
    for setting in SETTINGS:
        value, source = _pick(setting, flags, environ, files)
        values[setting.key] = _coerce(setting.key, value, source)
        sources[setting.key] = source
    return Settings(
        database_url=_opt_str(values["database_url"]),
        dirs=tuple(Path(str(d)) for d in _as_list(values["dirs"])),
        history_schema=str(values["history_schema"]),
        history_table=str(values["history_table"]),
        lock_timeout=_opt_str(values["lock_timeout"]),
        statement_timeout=_opt_str(values["statement_timeout"]),
        lock_retries=_as_int(values["lock_retries"]),
        lock_wait=None if values["lock_wait"] is None else _as_float(values["lock_wait"]),
        wait=_as_float(values["wait"]),
        seed_file=Path(str(values["seed_file"])),
        embedded_dir=Path(str(values["embedded_dir"])),
        sources=sources,
    )


def _pick(
    setting: Setting,
    flags: Mapping[str, object],
    environ: Mapping[str, str],
    files: Sequence[ConfigFile],
) -> tuple[object, str]:
    flag = flags.get(setting.key)
    if flag is not None and flag != () and flag != []:
        return flag, "flag"
    for name in setting.env:
        raw = environ.get(name)
        if raw:
            if setting.key == "dirs":
                return [p for p in raw.split(os.pathsep) if p], f"env {name}"
            return raw, f"env {name}"
    for cfg in files:
        key = "dir" if setting.key == "dirs" and "dir" in cfg.values else setting.key
        if key in cfg.values:
            value = cfg.values[key]
            if setting.key in _PATH_KEYS:
                value = _relative_to(cfg.path.parent, value, setting.key, cfg.path)
            return value, str(cfg.path)
    return setting.default, "default"


def _check_keys(cfg: ConfigFile) -> None:
    unknown = sorted(set(cfg.values) - set(_BY_KEY) - {"dir"})
    if unknown:
        known = ", ".join(sorted(_BY_KEY))
        raise ConfigError(
            f"{cfg.path}: unknown setting {unknown[0]!r}"
            + (f" (and {', '.join(map(repr, unknown[1:]))})" if unknown[1:] else ""),
            hint=f"known settings: {known}",
        )


def _relative_to(base: Path, value: object, key: str, where: Path) -> object:
    """Config-file paths are relative to the file's folder, not to the working directory."""
    if key == "dirs":
        items = _as_list(value)
        for item in items:
            if not isinstance(item, str):
                raise ConfigError(f"{where}: {key} must be a list of paths (strings)")
        return [str(base / str(p)) for p in items]  # an absolute p stays itself: base / "/x" is "/x"
    if not isinstance(value, str):
        raise ConfigError(f"{where}: {key} must be a path (a string)")
    return str(base / value)


def _coerce(key: str, value: object, source: str) -> object:
    if value is None:
        return None
    try:
        if key in ("lock_timeout", "statement_timeout"):
            parse_duration_ms(str(value))
        elif key == "lock_retries":
            if isinstance(value, bool) or _as_int(value) < 0:
                raise ValueError
        elif key in ("lock_wait", "wait"):
            if isinstance(value, bool) or _as_float(value) < 0:
                raise ValueError
        elif key in ("history_schema", "history_table"):
            if not isinstance(value, str) or not value or len(value) > 63:
                raise ValueError
            if key == "history_schema" and _is_system_schema(value):
                raise ConfigError(
                    f"history_schema {value!r} (from {source}) is a system schema: "
                    "sqlmig cannot keep its history there",
                    hint="choose a schema of your own, e.g. public (the default) or sqlmig",
                )
        elif key == "dirs":
            items = _as_list(value)
            if not items or not all(isinstance(i, (str, Path)) and str(i) for i in items):
                raise ValueError
        elif not isinstance(value, (str, Path)):
            raise ValueError
    except ValueError:
        raise ConfigError(
            f"invalid value {_shown(key, value)} for {key} (from {source})",
            hint=_expected(key),
        ) from None
    return value


def _is_system_schema(name: str) -> bool:
    """pg_catalog, pg_temp, pg_toast, ... and information_schema: PostgreSQL's own (any case:
    PG_CATALOG is a legal name of its own, but surely meant pg_catalog)."""
    lowered = name.lower()
    return lowered.startswith("pg_") or lowered == "information_schema"


def _shown(key: str, value: object) -> str:
    return repr(redact_url(str(value))) if key == "database_url" else repr(value)


def _expected(key: str) -> str:
    return {
        "lock_timeout": "expected a duration such as 200ms, 5s or 1min",
        "statement_timeout": "expected a duration such as 200ms, 5s or 1min",
        "lock_retries": "expected a whole number >= 0",
        "lock_wait": "expected a number of seconds >= 0",
        "wait": "expected a number of seconds >= 0",
        "history_schema": "expected a non-empty name of at most 63 characters",
        "history_table": "expected a non-empty name of at most 63 characters",
        "dirs": "expected one or more directory paths",
    }.get(key, "expected a string")


def parse_duration_ms(text: str) -> float:
    """Validate a PostgreSQL duration ('200ms', '5s', '1min'; a bare number is ms) and return ms."""
    match = DURATION_RE.match(text)
    if not match:
        raise ValueError(text)
    return float(match.group(1)) * _UNIT_MS[match.group(2) or "ms"]


def _as_list(value: object) -> list[object]:
    if isinstance(value, (list, tuple)):
        return list(value)
    return [value]


def _as_int(value: object) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    raise ValueError(value)


def _as_float(value: object) -> float:
    if isinstance(value, bool):
        raise ValueError(value)
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        return float(value)
    raise ValueError(value)


def _opt_str(value: object) -> str | None:
    return None if value is None else str(value)


_KV_PASSWORD = re.compile(r"(password\s*=\s*)('(?:[^'\\]|\\.)*'|[^\s&]+)", re.IGNORECASE)


_URL_PASSWORD = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://[^:/@?#]*:([^@/?#]*)@")


def url_password(url: str | None) -> str | None:
    """The password in a URL or DSN (even one too malformed to parse), so output can be scrubbed of it."""
    if not url:
        return None
    match = _URL_PASSWORD.match(url) or _KV_PASSWORD.search(url)
    if match is None:
        return None
    secret = match.group(1) if match.re is _URL_PASSWORD else match.group(2).strip("'")
    return secret or None


def redact_url(url: str) -> str:
    """Hide the password of a URL or key=value DSN, keeping the rest readable."""
    secret = url_password(url)
    if "://" not in url:
        return _KV_PASSWORD.sub(r"\1***", url)
    url = _URL_PASSWORD.sub(lambda m: m.group(0).replace(f":{m.group(1)}@", ":***@"), url, count=1)
    return _KV_PASSWORD.sub(r"\1***", url) if secret is None or "password" in url.lower() else url


def scrub(text: str, url: str | None) -> str:
    """Remove a URL's password from any text that might quote it (driver errors do)."""
    secret = url_password(url)
    if secret:
        text = text.replace(secret, "***")
        decoded = unquote(secret)
        if decoded != secret:
            text = text.replace(decoded, "***")
    return text
