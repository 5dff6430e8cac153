"""Settings resolved once from flags, environment and config files; URL redaction."""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple
from urllib.parse import unquote

from .errors import ConfigError, InvalidSettings

EMBEDDED = "embedded"
# scratch_url: scratch databases on the server of database_url.
SAME_SERVER = "same"
_BLANK = r"[ \t\n\r\f\v]*"  # what C's isspace() skips, as PostgreSQL does: not every Unicode space
DURATION_RE = re.compile(rf"^{_BLANK}([0-9]+(?:\.[0-9]+)?){_BLANK}(us|ms|s|min|h|d)?{_BLANK}$")
PG_MAX_MS = 2**31 - 1  # PostgreSQL's limit for lock_timeout and statement_timeout (an int of ms)
MAX_LOCK_RETRIES = 1000  # with pauses of up to 30 s, over 8 hours of retries
_UNIT_MS = {  # largest first, as PostgreSQL's table: a fraction of one is rounded to the next
    "d": 86_400_000.0,
    "h": 3_600_000.0,
    "min": 60_000.0,
    "s": 1000.0,
    "ms": 1.0,
    "us": 0.001,
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
    Setting(
        "embedded_version",
        ("SQLMIG_EMBEDDED_VERSION",),
        None,
        "PostgreSQL major version of a new embedded server (default: the embedded extra's, 17)",
    ),
    Setting("embedded_port", ("SQLMIG_EMBEDDED_PORT",), None, "the embedded server also listens on localhost:PORT"),
    Setting(
        "schema_file",
        ("SQLMIG_SCHEMA_FILE",),
        None,
        "file `sqlmig dump` writes, rewritten after each migrate or down that changed something",
    ),
    Setting(
        "scratch_url",
        ("SQLMIG_SCRATCH_URL",),
        EMBEDDED,
        "where verify creates its scratch databases: 'embedded', 'same' (the target's server) or a URL",
    ),
    Setting(
        "require_sum",
        ("SQLMIG_REQUIRE_SUM",),
        False,
        "validate and migrate refuse a migration folder without its sqlmig.sum list",
    ),
    Setting(
        "version_scheme",
        ("SQLMIG_VERSION_SCHEME",),
        "sequential",
        "versions `sqlmig new` gives: sequential (highest + 1) or timestamp (UTC YYYYMMDDHHMMSS)",
    ),
    Setting(
        "lint",
        ("SQLMIG_LINT",),
        "off",
        "migrate lints the files it is about to apply and refuses at this severity: off, warning or error",
    ),
    Setting(
        "lint_rules",
        ("SQLMIG_LINT_RULES",),
        {},
        'lint rules turned off or given another severity: SM101 = "off" (env: SM101=off,SM112=error)',
    ),
    Setting(
        "lint_pg_version",
        ("SQLMIG_LINT_PG_VERSION",),
        None,
        "PostgreSQL major version lint assumes when it reads no database (default: rules for every version)",
    ),
)
_BY_KEY = {s.key: s for s in SETTINGS}
_PATH_KEYS = {"dirs", "seed_file", "embedded_dir", "schema_file"}


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
    lock_wait: float | None = None  # None: wait for the lock as long as it takes
    wait: float | None = 0.0  # None: wait for the server as long as it takes
    seed_file: Path = Path("data/seed.json")
    embedded_dir: Path = Path(".sqlmig")
    embedded_version: int | None = None  # None: an existing data folder's, else the default source's
    embedded_port: int | None = None  # None: the unix socket only
    schema_file: Path | None = None  # None: dump prints the schema, migrate and down write none
    scratch_url: str = EMBEDDED  # 'embedded', 'same' (the database_url's server), or a server URL
    require_sum: bool = False  # validate and migrate refuse a folder without sqlmig.sum
    version_scheme: str = "sequential"  # or "timestamp": what `new` numbers a pair with
    lint: str = "off"  # the severity at which migrate refuses its files' lint findings; off: no lint
    lint_rules: Mapping[str, str] = field(default_factory=dict)  # code -> off | info | warning | error
    lint_pg_version: int | None = None  # None: the database's, else version-dependent rules fire as for the oldest
    sources: Mapping[str, str] = field(default_factory=dict)

    @property
    def history_name(self) -> str:
        """schema.table of the history, as messages name it."""
        return f"{self.history_schema}.{self.history_table}"


# Settings in seconds where None means "as long as it takes" (inf as written, null in JSON).
WAITS = ("lock_wait", "wait")


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
        if setting.key in ("database_url", "scratch_url") and isinstance(value, str):
            value = redact_url(value)
        elif isinstance(value, tuple):
            value = [str(v) for v in value]
        elif isinstance(value, Path):
            value = str(value)
        elif isinstance(value, Mapping):
            value = ", ".join(f"{k}={v}" for k, v in sorted(value.items())) or None
        rows.append(ConfigValue(setting.key, value, settings.sources.get(setting.key, "default"), setting.doc))
    return tuple(rows)


def effective_dict(values: Sequence[ConfigValue], files: Sequence[Path]) -> dict[str, object]:
    """The JSON document of `sqlmig config --json`: each setting's value and source, the files read."""
    return {
        "settings": {v.key: {"value": v.value, "source": v.source} for v in values},
        "files": [str(f) for f in files],
    }


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
    errors: list[ConfigError] = []
    for setting in SETTINGS:
        value, source = _pick(setting, flags, environ, files)
        sources[setting.key] = source
        try:
            values[setting.key] = _coerce(setting.key, value, source)
        except ConfigError as exc:
            errors.append(exc)
    if errors:
        raise errors[0] if len(errors) == 1 else InvalidSettings(errors)
    return Settings(
        database_url=_opt_str(values["database_url"]),
        dirs=tuple(Path(str(d)) for d in _as_list(values["dirs"])),
        history_schema=str(values["history_schema"]),
        history_table=str(values["history_table"]),
        lock_timeout=_opt_str(values["lock_timeout"]),
        statement_timeout=_opt_str(values["statement_timeout"]),
        lock_retries=_as_int(values["lock_retries"]),
        lock_wait=_opt_float(values["lock_wait"]),
        wait=_opt_float(values["wait"]),
        seed_file=Path(str(values["seed_file"])),
        embedded_dir=Path(str(values["embedded_dir"])),
        embedded_version=_opt_int(values["embedded_version"]),
        embedded_port=_opt_int(values["embedded_port"]),
        schema_file=None if values["schema_file"] is None else Path(str(values["schema_file"])),
        scratch_url=str(values["scratch_url"]),
        require_sum=bool(values["require_sum"]),
        version_scheme=str(values["version_scheme"]),
        lint=str(values["lint"]),
        lint_rules=_as_rules(values["lint_rules"]),
        lint_pg_version=_opt_int(values["lint_pg_version"]),
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
    """The setting's value checked and normalised, or a ConfigError naming the setting, its source
    and the accepted form: a bad number must stop the run here, not spin a wait loop or be blamed
    on a migration file by the server later."""
    if value is None:
        return None
    if key in ("lock_timeout", "statement_timeout"):
        try:
            parse_duration_ms(str(value))
        except DurationError as exc:
            raise _invalid(key, value, source, exc.reason) from None
        return str(value)
    if key == "require_sum":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in _BOOLEANS:
            return _BOOLEANS[value.strip().lower()]
        raise _invalid(key, value, source)
    if key == "version_scheme":
        if value not in ("sequential", "timestamp"):
            raise _invalid(key, value, source)
        return value
    if key == "lint":
        if value not in ("off", "warning", "error"):
            raise _invalid(key, value, source)
        return value
    if key == "lint_rules":
        return _lint_rules(value, source)
    if key in ("database_url", "scratch_url") and isinstance(value, str) and value != SAME_SERVER:
        problem = url_problem(value)
        if problem:
            raise _invalid(key, value, source, problem.what, hint=problem.hint)
        return value
    try:
        if key == "lock_retries":
            retries = _as_int(value)
            if not 0 <= retries <= MAX_LOCK_RETRIES:
                raise ValueError(value)
            return retries
        if key in ("embedded_version", "lint_pg_version"):
            major = _as_int(value)
            if not 10 <= major <= 99:
                raise ValueError(value)
            return major
        if key == "embedded_port":
            port = _as_int(value)
            if not 1 <= port <= 65535:
                raise ValueError(value)
            return port
        if key in WAITS:
            seconds = _as_float(value)
            if math.isnan(seconds) or seconds < 0:
                raise ValueError(value)
            return None if math.isinf(seconds) else seconds  # None: as long as it takes
        if key in ("history_schema", "history_table"):
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
        raise _invalid(key, value, source) from None
    return value


def _invalid(key: str, value: object, source: str, why: str = "", *, hint: str = "") -> ConfigError:
    """'invalid value X for KEY (from SOURCE)[: why]' with the form the setting takes."""
    return ConfigError(
        f"invalid value {_shown(key, value)} for {key} (from {source})" + (f": {why}" if why else ""),
        hint=hint or _expected(key),
    )


def _is_system_schema(name: str) -> bool:
    """pg_catalog, pg_temp, pg_toast, ... and information_schema: PostgreSQL's own (any case:
    PG_CATALOG is a legal name of its own, but surely meant pg_catalog)."""
    lowered = name.lower()
    return lowered.startswith("pg_") or lowered == "information_schema"


def _shown(key: str, value: object) -> str:
    return repr(redact_url(str(value))) if key == "database_url" else repr(value)


_DURATION_FORM = (
    "expected a duration such as 200ms, 5s or 1min (units us, ms, s, min, h, d; a bare number is ms) "
    f"of at most {PG_MAX_MS}ms (about 24.8 days)"
)


def _expected(key: str) -> str:
    return {
        "database_url": "expected postgresql://user:password@host:port/dbname or key=value pairs (host=... dbname=...)",
        "lock_timeout": _DURATION_FORM,
        "statement_timeout": _DURATION_FORM,
        "lock_retries": f"expected a whole number from 0 to {MAX_LOCK_RETRIES}",
        "lock_wait": "expected a number of seconds >= 0 (inf: as long as it takes)",
        "wait": "expected a number of seconds >= 0 (inf: as long as it takes)",
        "history_schema": "expected a non-empty name of at most 63 characters",
        "history_table": "expected a non-empty name of at most 63 characters",
        "dirs": "expected one or more directory paths",
        "embedded_version": "expected a PostgreSQL major version such as 16, 17 or 18",
        "embedded_port": "expected a TCP port from 1 to 65535",
        "lint": "expected off, warning or error",
        "require_sum": "expected true or false",
        "version_scheme": "expected sequential or timestamp",
        "lint_pg_version": "expected a PostgreSQL major version such as 15, 16 or 18",
        "lint_rules": 'expected a table of rule codes: SM101 = "off" (or "info", "warning", "error"); '
        "in the environment SM101=off,SM112=error",
    }.get(key, "expected a string")


class DurationError(ValueError):
    """A duration sqlmig will not pass to PostgreSQL, and why."""

    def __init__(self, text: str, reason: str) -> None:
        super().__init__(f"{text!r}: {reason or 'not a duration'}")
        self.reason = reason  # "" when it is no duration at all: the accepted form says enough


def parse_duration_ms(text: str) -> int:
    """Validate a PostgreSQL duration ('200ms', '5s', '1min'; a bare number is ms) and return the
    milliseconds the server will set, computed as it does (guc.c parse_int): a fraction of a unit
    is rounded to whole units of the next smaller one, then to whole ms, half to even like round().
    Refused: more than 2**31 - 1 ms (the server's limit), a value it would round to 0 (that turns
    the timeout off), and a leading 0 (the server reads 010 as octal: 8)."""
    match = DURATION_RE.match(text)
    if not match:
        raise DurationError(text, "")
    number, unit = match.group(1), match.group(2)
    if len(number) > 1 and number[0] == "0" and number[1].isdigit():
        raise DurationError(text, "PostgreSQL reads a number with a leading 0 as octal; leave the 0 out")
    ms = float(number) * _UNIT_MS[unit or "ms"]
    units = list(_UNIT_MS)
    if unit and unit != units[-1] and math.isfinite(ms):
        smaller = _UNIT_MS[units[units.index(unit) + 1]]
        ms = round(ms / smaller) * smaller
    if not math.isfinite(ms) or round(ms) > PG_MAX_MS:
        raise DurationError(text, f"{text.strip()} is more than PostgreSQL's limit")
    if round(ms) == 0 and ms > 0:
        raise DurationError(text, "PostgreSQL rounds it to 0, which turns the timeout off (say 0 for that)")
    return round(ms)


_RULE_LEVELS = ("off", "info", "warning", "error")
_BOOLEANS = {"true": True, "1": True, "yes": True, "on": True, "false": False, "0": False, "no": False, "off": False}


def _lint_rules(value: object, source: str) -> dict[str, str]:
    """lint_rules checked: every key a rule code sqlmig has, every value off or a severity; from
    the environment, `SM101=off,SM112=error`."""
    if isinstance(value, str):
        table: dict[str, object] = {}
        for item in filter(None, (p.strip() for p in value.split(","))):
            name, eq, given = item.partition("=")
            if not eq:
                raise _invalid("lint_rules", value, source, f"{item!r} is not CODE=LEVEL")
            table[name.strip()] = given.strip()
    elif isinstance(value, Mapping):
        table = {str(k): v for k, v in value.items()}
    else:
        raise _invalid("lint_rules", value, source)
    from .lint.rules import BY_CODE  # only when the setting is given

    out: dict[str, str] = {}
    for code, level in table.items():
        if code.upper() not in BY_CODE:
            raise _invalid("lint_rules", value, source, f"{code} is not a lint rule (`sqlmig lint --rules` lists them)")
        if level not in _RULE_LEVELS:
            raise _invalid("lint_rules", value, source, f"{code} = {level!r}: expected off, info, warning or error")
        out[code.upper()] = str(level)
    return out


def _as_rules(value: object) -> dict[str, str]:
    return {str(k): str(v) for k, v in value.items()} if isinstance(value, Mapping) else {}


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


def _opt_int(value: object) -> int | None:
    return None if value is None else _as_int(value)


def _opt_float(value: object) -> float | None:
    return None if value is None else _as_float(value)


# ---- database URLs: what libpq can read, and what output may show of them ---------------------------

HIDDEN = "***"
_LIBPQ_SCHEMES = ("postgresql://", "postgres://")  # libpq reads any other string as key=value pairs
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_QUERY_KEY = re.compile(r"[?&]([^&=]*)=")
_NEXT_PARAM = re.compile(r"&[A-Za-z_%0-9]+=")
_SPACE = " \t\n\r\f\v"  # C isspace(), as libpq tests it
_BAD_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})|%00")
_ENCODE_HINT = (
    "percent-encode the password: '/' as %2F, '@' as %40, '?' as %3F, '#' as %23, '%' as %25, "
    "':' as %3A (urllib.parse.quote(password, safe='')); or leave it out and use PGPASSWORD or ~/.pgpass"
)
_KV_HINT = "expected postgresql://user:password@host:port/dbname or key=value pairs (host=... password='...')"


_KEYWORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class UrlProblem(NamedTuple):
    """Why libpq cannot read a database URL, worded without quoting any of it."""

    what: str
    hint: str


class _Pair(NamedTuple):
    key: str
    start: int  # where the value is in the text, quotes included
    end: int


def _kv_pairs(text: str) -> list[_Pair] | UrlProblem:
    """key=value pairs split as libpq's conninfo_parse splits them: blanks allowed around '=', a
    value runs to the next blank (a backslash escapes the next character) or is 'single-quoted'."""
    pairs: list[_Pair] = []
    i, n = 0, len(text)
    while True:
        while i < n and text[i] in _SPACE:
            i += 1
        if i == n:
            return pairs
        start = i
        while i < n and text[i] != "=" and text[i] not in _SPACE:
            i += 1
        key = text[start:i]
        while i < n and text[i] in _SPACE:
            i += 1
        # libpq quotes a key it does not know: one that is no keyword at all may be part of a password
        if i == n or text[i] != "=" or not _KEYWORD.fullmatch(key):
            return UrlProblem("it is neither a postgresql:// URL nor key=value pairs", _KV_HINT)
        i += 1
        while i < n and text[i] in _SPACE:
            i += 1
        value = i
        if i < n and text[i] == "'":
            i += 1
            while i < n and text[i] != "'":
                i += 2 if text[i] == "\\" else 1
            if i >= n:
                return UrlProblem("a value has an unterminated quote", _KV_HINT + "; write \\' for a quote inside one")
            i += 1
        else:
            while i < n and text[i] not in _SPACE:
                i += 2 if text[i] == "\\" else 1
        pairs.append(_Pair(key, value, min(i, n)))


def url_problem(url: str) -> UrlProblem | None:
    """Why libpq would refuse `url`, or misread a password in it; None when it reads it as written.

    libpq's own messages quote the part they choke on, which may be the password (an unencoded
    '/' makes it the port, an '@' the host), so such a URL is refused before libpq sees it.
    """
    if url == EMBEDDED:
        return None
    try:
        url.encode()
    except UnicodeEncodeError:  # bytes the locale could not decode (argv, environment): not UTF-8
        return UrlProblem("it holds bytes that are not UTF-8", "write the URL in UTF-8, or percent-encode the bytes")
    scheme = _SCHEME.match(url)
    if scheme is None:
        pairs = _kv_pairs(url)
        return pairs if isinstance(pairs, UrlProblem) else None
    if not url.startswith(_LIBPQ_SCHEMES):
        return UrlProblem(
            f"libpq does not read {scheme.group(0)} URLs",
            "write postgresql:// or postgres:// (a +driver suffix is SQLAlchemy's, not libpq's)",
        )
    body = scheme.end()
    slash = url.find("/", body)
    authority = url[body : slash if slash != -1 else len(url)]
    if authority.count("@") > 1:
        return UrlProblem("its user or password holds an unencoded '@'", _ENCODE_HINT)
    rest = url[len(url) if slash == -1 else slash :]
    if "@" not in authority and "@" in rest and ":" in authority and not authority.startswith("["):
        port = authority.rpartition(":")[2]
        if not port.isdigit():  # libpq ends the host at the first '/': user:pass would be host:port
            return UrlProblem("its password holds an unencoded '/'", _ENCODE_HINT)
    if _BAD_PERCENT.search(url, body):
        return UrlProblem("it holds a '%' that does not start a %XX escape (or is %00)", _ENCODE_HINT)
    query = url.find("?", body + authority.find("@") + 1)
    if query != -1:
        params = url[query + 1 :].split("&")
        if params[-1] == "":
            params.pop()  # libpq accepts a trailing '&'
        if any(p.count("=") != 1 for p in params):
            return UrlProblem(
                "its query is not key=value pairs joined by '&'",
                "percent-encode '&' as %26 and '=' as %3D inside a value",
            )
    return None


def _secret_spans(url: str) -> list[tuple[int, int]] | None:
    """Where `url` holds a password, merged and in order; None when it cannot be read (hide it all).

    In a URL the password runs from the first ':' after scheme:// to the LAST '@' (a password may
    hold '/', '?', '#' or '@'), and a query's password= value to the next '&key='. When a URL is
    ambiguous this hides more than the password, never less.
    """
    spans: list[tuple[int, int]] = []
    scheme = _SCHEME.match(url)
    if url == EMBEDDED:
        return spans
    if scheme is None:
        pairs = _kv_pairs(url)
        if isinstance(pairs, UrlProblem):
            return None
        spans = [(p.start, p.end) for p in pairs if p.key.lower() == "password"]
    else:
        at = url.rfind("@", scheme.end())
        colon = url.find(":", scheme.end())
        if -1 < colon < at:
            spans.append((colon + 1, at))
        for param in _QUERY_KEY.finditer(url, scheme.end()):
            if unquote(param.group(1)).lower() == "password":  # libpq decodes keys too
                following = _NEXT_PARAM.search(url, param.end())
                spans.append((param.end(), following.start() if following else len(url)))
    merged: list[tuple[int, int]] = []
    for start, end in sorted(s for s in spans if s[1] > s[0]):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def _secrets(url: str) -> list[str]:
    """Each password in `url` as written, unquoted and percent-decoded: the forms a message may quote."""
    spans = _secret_spans(url)
    if spans is None:  # libpq quotes the blank-separated piece it choked on
        pieces = [p for token in url.split() for p in (token, token.partition("=")[2].strip("'"))]
        return sorted({url, *(p for p in pieces if len(p) >= 3)}, key=len, reverse=True)
    found: list[str] = []
    for start, end in spans:
        whole = url[start:end]
        # An ambiguous span may run past the password, which then ends at one of its '@' or '&'.
        for raw in [whole, *(whole[:i] for i, c in enumerate(whole) if c in "@&")]:
            inner = raw[1:-1] if len(raw) > 1 and raw[0] == raw[-1] == "'" else raw
            found += [raw, inner, re.sub(r"\\(.)", r"\1", inner), unquote(raw)]
    return sorted({s for s in found if s}, key=len, reverse=True)


def url_password(url: str | None) -> str | None:
    """The password in a URL or DSN (even one too malformed to parse), so output can be scrubbed of it."""
    if not url:
        return None
    spans = _secret_spans(url)
    if not spans:
        return url if spans is None else None
    raw = url[spans[0][0] : spans[0][1]]
    return raw[1:-1] if len(raw) > 1 and raw[0] == raw[-1] == "'" else raw


def redact_url(url: str) -> str:
    """The URL or key=value DSN with every password replaced by ***; the whole of it when it
    cannot be read, since then no part of it is known not to be the password."""
    spans = _secret_spans(url)
    if spans is None:
        return HIDDEN
    shown, last = [], 0
    for start, end in spans:
        shown += [url[last:start], HIDDEN]
        last = end
    return "".join(shown) + url[last:]


def scrub(text: str, url: str | None) -> str:
    """Remove a URL's password from any text that might quote it (driver errors do), in every form."""
    if not url:
        return text
    text = text.replace(url, redact_url(url))
    for secret in _secrets(url):
        text = text.replace(secret, HIDDEN)
    return text
