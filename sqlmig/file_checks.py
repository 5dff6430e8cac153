"""Checks of migration file contents: refuse what cannot run safely, before anything is sent, and
warn about markers sqlmig does not read and files with no statement; pure."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Literal

from .errors import Problem, RefusedError, plural
from .migrations import WAIVER_RE, Migration, SqlFile

if TYPE_CHECKING:
    from .scanner import Statement

MARKER = "-- sqlmig:no-transaction"

# What any refusal below needs in the text: a quote, dollar, backslash or block comment (to be
# unterminated or a meta-command), or one of the keywords checked, as a whole word (a digit may
# precede it: `1begin` lexes as a number and a word). A file without any, like most down files
# (DROP ...), cannot be refused and skips the lexer, whose patterns take ~30 ms to compile.
_OPENERS = ("'", '"', "$", "\\", "/*")
_KEYWORDS = (
    "copy", "begin", "start", "commit", "end", "rollback", "abort", "prepare", "vacuum", "system", "database",
    "tablespace", "subscription", "concurrently", "reindex",
)  # fmt: skip
_KEYWORD_RE = re.compile(rf"(?<![A-Za-z_])(?:{'|'.join(_KEYWORDS)})\b", re.ASCII | re.IGNORECASE)


def _may_be_refused(sql: str) -> bool:
    """False only for text no check below can refuse; substring tests first, they are C-fast."""
    if any(opener in sql for opener in _OPENERS):
        return True
    lowered = sql.lower()
    return any(k in lowered for k in _KEYWORDS) and _KEYWORD_RE.search(sql) is not None


def file_problems(file: SqlFile) -> list[Problem]:
    """Everything wrong with one file that is knowable without a database."""
    if not _may_be_refused(file.sql):
        return []
    return _scanned_problems(file)


def _scanned_problems(file: SqlFile) -> list[Problem]:
    from .scanner import meta_command_lines, split_statements, unterminated

    statements = split_statements(file.sql)
    first_words = [s.words(4) for s in statements]  # lexed once; every check below looks at these
    copies = [s for s, words in zip(statements, first_words, strict=True) if _is_copy(s, words, "FROM", "STDIN")]
    if copies:  # the inline data after it is not SQL: nothing else in the file can be judged
        return [
            Problem(
                f"{file.path}:{s.line}:{s.column}",
                "COPY ... FROM STDIN needs data from the client, which a migration file cannot give",
                "turn the data into INSERT statements, or load it with `sqlmig seed`",
            )
            for s in copies
        ]
    outputs = [
        Problem(
            f"{file.path}:{s.line}:{s.column}",
            "COPY ... TO STDOUT sends rows to the client, which a migration run does not read",
            "remove it (to export data, run it with psql), or COPY ... TO a server file",
        )
        for s, words in zip(statements, first_words, strict=True)
        if _is_copy(s, words, "TO", "STDOUT")
    ]
    open_token = unterminated(file.sql)
    if open_token is not None:
        what = open_token.kind.replace("unterminated_", "").replace("_", " ")
        return [
            Problem(
                f"{file.path}:{open_token.line}:{open_token.column}",
                f"unterminated {what} starting here runs to the end of the file",
                "close it; PostgreSQL would reject the whole file",
            )
        ]
    escaped = _backslash_quote_after_nonstandard(file.sql)
    if escaped is not None:
        line, column = escaped
        return [
            Problem(
                f"{file.path}:{line}:{column}",
                "after standard_conforming_strings is set off, \\' escapes a quote for the server (and psql) "
                "but ends the string for sqlmig's statement splitter: the file would be cut at other places",
                "write the quote as '' (or use E'...' strings), or keep standard_conforming_strings on",
            )
        ]
    problems = outputs + [
        Problem(
            f"{file.path}:{line}",
            f"psql meta-command {text.strip().split()[0]}: files are plain SQL run by the server, not psql scripts",
            "replace it with SQL (\\i and \\ir: put the statements in the file; \\copy: use INSERT or `sqlmig seed`)",
        )
        for line, text in meta_command_lines(file.sql)
    ]
    if file.directives.no_transaction:
        opened = _unended_begin(statements, first_words)
        if opened is not None:
            problems.append(
                Problem(
                    f"{file.path}:{opened.line}:{opened.column}",
                    "this BEGIN is never ended: the file would leave a transaction open, and its work would "
                    "be lost when the connection closes",
                    "end it with COMMIT in the file",
                )
            )
    for stmt, words in zip(statements, first_words, strict=True):
        if not words:
            continue
        where = f"{file.path}:{stmt.line}:{stmt.column}"
        if not file.directives.no_transaction and _is_transaction_control(words):
            problems.append(
                Problem(
                    where,
                    f"transaction control statement {words[0]} in a migration file",
                    "sqlmig runs each file in its own transaction; remove it (SAVEPOINT is fine), or mark "
                    f"the file with `{MARKER}` to run it statement by statement",
                )
            )
        elif not file.directives.no_transaction:
            reason = non_transactional(stmt, words)
            if reason:
                problems.append(
                    Problem(
                        where,
                        f"{reason} cannot run inside a transaction block",
                        f"put `{MARKER}` in the file's leading comment lines (ideally alone in its own "
                        "migration), so it runs outside a transaction",
                    )
                )
    return problems


_NONSTANDARD = re.compile(r"standard_conforming_strings\s*(?:=|to)\s*'?(?:off|false|0)\b", re.IGNORECASE)
_BACKSLASH_QUOTE = re.compile(r"(?<!\\)(?:\\\\)*\\'")


def _backslash_quote_after_nonstandard(sql: str) -> tuple[int, int] | None:
    """Where a file that turns standard_conforming_strings off then writes \\' (an odd run of
    backslashes before a quote): the one place the server's reading of strings and sqlmig's part."""
    turned = _NONSTANDARD.search(sql)
    if turned is None:
        return None
    found = _BACKSLASH_QUOTE.search(sql, turned.end())
    if found is None:
        return None
    line = sql.count("\n", 0, found.start()) + 1
    return line, found.start() - (sql.rfind("\n", 0, found.start()) + 1) + 1


def transaction_control(words: Sequence[str]) -> Literal["begin", "commit", "rollback"] | None:
    """What a statement does to a transaction block, by its first words: BEGIN and START TRANSACTION
    open one; COMMIT and END (AND CHAIN too) commit it; ROLLBACK and ABORT undo it (ROLLBACK TO a
    savepoint does neither). Shared by the checks and the no-transaction executor."""
    first, second = (words[0] if words else ""), (words[1] if len(words) > 1 else "")
    if first == "BEGIN" or (first, second) == ("START", "TRANSACTION"):
        return "begin"
    if first in ("COMMIT", "END"):
        return "commit"
    if first == "ABORT" or (first == "ROLLBACK" and second != "TO"):
        return "rollback"
    return None


def _is_transaction_control(words: tuple[str, ...]) -> bool:
    """Transaction control a file's own transaction cannot take (PREPARE TRANSACTION too)."""
    return transaction_control(words) is not None or words[:2] == ("PREPARE", "TRANSACTION")


def _unended_begin(statements: Sequence[Statement], first_words: Sequence[tuple[str, ...]]) -> Statement | None:
    """In a no-transaction file: the BEGIN (or START TRANSACTION) that no COMMIT, END or ROLLBACK follows."""
    opened: Statement | None = None
    for stmt, words in zip(statements, first_words, strict=True):
        control = transaction_control(words)
        if control == "begin":
            opened = opened or stmt
        elif control is not None:
            opened = None
    return opened


def _is_copy(stmt: Statement, words: tuple[str, ...], direction: str, client: str) -> bool:
    """COPY ... FROM STDIN or COPY ... TO STDOUT: data to or from the client."""
    if words[:1] != ("COPY",):
        return False
    all_words = [t.text.upper() for t in stmt.tokens if t.kind == "word"]
    return direction in all_words and client in all_words


def non_transactional(stmt: Statement, words: tuple[str, ...]) -> str | None:
    """Name the statement if PostgreSQL refuses to run it in a transaction block (`words`: its first 4)."""
    if not words:
        return None
    first, pair = words[0], words[:2]
    if first == "VACUUM":
        return "VACUUM"
    if pair == ("ALTER", "SYSTEM"):
        return "ALTER SYSTEM"
    if pair in {("CREATE", "DATABASE"), ("DROP", "DATABASE"), ("CREATE", "TABLESPACE"), ("DROP", "TABLESPACE")}:
        return " ".join(pair)
    if pair == ("CREATE", "SUBSCRIPTION"):
        return "CREATE SUBSCRIPTION"
    # Lexing the whole statement is the costly part: only when the word can be in it.
    may_be_concurrent = first in ("CREATE", "DROP", "REINDEX") or pair == ("ALTER", "TABLE")
    if may_be_concurrent and "concurrently" in stmt.text.lower():
        all_words = [t.text.upper() for t in stmt.tokens if t.kind == "word"]
        if "CONCURRENTLY" in all_words:
            if first == "CREATE" and "INDEX" in words:
                return "CREATE INDEX CONCURRENTLY"
            if pair == ("DROP", "INDEX"):
                return "DROP INDEX CONCURRENTLY"
            if first == "REINDEX":
                return "REINDEX CONCURRENTLY"
            if first == "ALTER" and "DETACH" in all_words:
                return "ALTER TABLE ... DETACH PARTITION ... CONCURRENTLY"
    if first == "REINDEX" and len(words) > 1 and words[1] in ("SYSTEM", "DATABASE"):
        return f"REINDEX {words[1]}"
    return None


def files_problems(files: Iterable[SqlFile]) -> list[Problem]:
    out: list[Problem] = []
    for f in files:
        out.extend(file_problems(f))
    return out


def encoding_problems(files: Iterable[SqlFile], encoding: str, codec: str) -> list[Problem]:
    """Characters the database's encoding (`encoding`, Python's `codec`) has no place for: the
    server would refuse the statement, or the history row that keeps the file's text, comments
    included. Found before anything runs, at file:line:column."""
    from .scanner import line_col

    out: list[Problem] = []
    for f in files:
        try:
            f.sql.encode(codec)
        except UnicodeEncodeError as exc:
            line, column = line_col(f.sql, exc.start)
            char = f.sql[exc.start]
            out.append(
                Problem(
                    f"{f.path}:{line}:{column}",
                    f"{char!r} (U+{ord(char):04X}) has no equivalent in the database's encoding {encoding}",
                    "sqlmig keeps each file's text in its history, so every character, comments included, "
                    f"must exist in {encoding}: remove or replace it, or use a UTF8 database",
                )
            )
    return out


# A comment that looks like a marker: `sqlmig` in any case right after `--` or `/*`, then a colon.
_MARKER_LIKE_RE = re.compile(r"(?:--|/\*)[ \t]*sqlmig[ \t]*:", re.IGNORECASE)


def unread_markers(file: SqlFile) -> list[Problem]:
    """Warnings for comments that look like markers but that sqlmig does not apply, so nobody trusts
    a `-- SQLMIG:lock_timeout=1s` or a `-- sqlmig:no-transaction` below the first statement: each
    with its file:line:column and what to write instead. Not errors: a comment cannot break a run,
    and a misspelled marker sqlmig does read is already refused by discovery."""
    sql = file.sql
    if "sqlmig" not in sql.lower():  # a third of the regex's time on a 50 MB file
        return []
    candidates = list(_MARKER_LIKE_RE.finditer(sql))
    if not candidates:
        return []
    from .migrations import marker_lines
    from .scanner import line_col  # the scanner's patterns take ~30 ms to compile: only when needed

    read = marker_lines(sql)
    warnings = _overridden(file, read)
    read_lines = {lineno for lineno, _, _ in read}
    leading_end = _leading_end(sql)
    lexed: _Lexed | None = None
    for found in candidates:
        line, column = line_col(sql, found.start())
        if line in read_lines and not sql[sql.rfind("\n", 0, found.start()) + 1 : found.start()].strip():
            continue  # read as a marker: applied, or refused as malformed by discovery
        if WAIVER_RE.match(sql, found.start()):
            continue  # a lint waiver (`-- sqlmig:allow SM101 why`), read by `sqlmig lint` where it is
        lexed = lexed or _Lexed(sql)
        if lexed.inside_token(found.start()):
            continue  # inside a string or a dollar-quoted body: not a comment at all
        text = sql[found.start() : _line_end(sql, found.start())].strip()
        fix = "-- sqlmig:" + _marker_body(text)
        if found.start() < leading_end:  # a `--` line among the leading ones: misspelled
            message = f"{_short(text)} is not written exactly `-- sqlmig:` (lowercase, no space before the colon)"
            hint = f"write `{fix}` if it should apply"
        elif text.startswith("/*") and found.start() < lexed.first_token:
            message = f"{_short(text)} is a block comment; markers are `--` comment lines"
            hint = f"write `{fix}` as a line of its own at the top of the file if it should apply"
        else:
            message = (
                f"it is below the file's leading `--` comment lines, where sqlmig reads markers (before any "
                f"statement or block comment): {_short(text)}"
            )
            hint = f"move it to the top of the file as `{fix}` if it should apply, or reword the comment"
        warnings.append(Problem(f"{file.path}:{line}:{column}", f"not read as a marker: {message}", hint))
    return sorted(warnings, key=lambda p: _line_of(p.where))


def marker_warnings(files: Iterable[SqlFile]) -> list[Problem]:
    out: list[Problem] = []
    for f in files:
        out.extend(unread_markers(f))
    return out


def _overridden(file: SqlFile, read: Sequence[tuple[int, str, re.Match[str] | None]]) -> list[Problem]:
    """A timeout set twice: the earlier value is not used, and says so."""
    last: dict[str, int] = {}
    for lineno, _, match in read:
        if match and match.group("value") is not None:
            last[match.group("key")] = lineno
    return [
        Problem(
            f"{file.path}:{lineno}:1",
            f"sqlmig:{match.group('key')}={match.group('value')} is not used: line {last[match.group('key')]} "
            "sets it again",
            "keep one marker per setting",
        )
        for lineno, _, match in read
        if match and match.group("value") is not None and last[match.group("key")] != lineno
    ]


def _leading_end(sql: str) -> int:
    """Offset of the first line that is neither blank nor a `--` comment: where markers stop being read."""
    pos = 0
    while pos < len(sql):
        end = _line_end(sql, pos)
        line = sql[pos:end].strip()
        if line and not line.startswith("--"):
            return pos
        pos = end + 1
    return len(sql)


def _line_end(sql: str, pos: int) -> int:
    end = sql.find("\n", pos)
    return len(sql) if end < 0 else end


class _Lexed:
    """A file lexed once, and only when a marker-like text needs it: whether an offset falls inside a
    significant token (a string, a dollar-quoted body, ...) rather than a comment, and where the first
    statement starts."""

    def __init__(self, sql: str) -> None:
        from .scanner import tokenize

        self.tokens = tokenize(sql)
        self.starts = [t.start for t in self.tokens]
        self.first_token = self.starts[0] if self.starts else len(sql)

    def inside_token(self, offset: int) -> bool:
        from bisect import bisect_right

        i = bisect_right(self.starts, offset) - 1
        return i >= 0 and offset < self.tokens[i].start + len(self.tokens[i].text)


def _marker_body(text: str) -> str:
    """`SQLMIG : Lock_Timeout=1s */` -> `lock_timeout=1s`: the marker as sqlmig would read it."""
    body = text.split(":", 1)[1].strip()
    body = body.removesuffix("*/").strip()
    key, eq, value = body.partition("=")
    return key.strip().lower() + (f"={value.strip()}" if eq else "")


def _short(text: str, limit: int = 60) -> str:
    return repr(text if len(text) <= limit else text[: limit - 3] + "...")


def _line_of(where: str) -> int:
    return int(where.rsplit(":", 2)[-2])


def empty_file_notes(migrations: Iterable[Migration]) -> list[Problem]:
    """Files with no statement: valid no-ops, mentioned so an accidental empty file is noticed."""
    notes: list[Problem] = []
    for m in migrations:
        if m.up.is_empty:
            notes.append(
                Problem(str(m.up.path), f"no statements (empty or only comments): applying {m.version} is a no-op")
            )
        if m.down.is_empty:
            notes.append(
                Problem(str(m.down.path), f"no statements (empty or only comments): reverting {m.version} is a no-op")
            )
    return notes


# Why a no-transaction file cannot run: under --single-transaction, and in seed --dry-run's rehearsal.
SINGLE_TRANSACTION = (
    "marked -- sqlmig:no-transaction, so it cannot run inside --single-transaction",
    "run it in a separate run without --single-transaction",
)
_SETVAL = re.compile(r"\bsetval\s*\(", re.IGNORECASE)


def not_rehearsable(file: SqlFile) -> str | None:
    """Why `migrate --dry-run --execute` (one transaction, rolled back) cannot try this file: a
    no-transaction file cannot run inside it, and setval() is never rolled back (the live sequence
    would stay changed)."""
    if file.directives.no_transaction:
        return "marked -- sqlmig:no-transaction: it cannot run inside the rehearsal's transaction, which is rolled back"
    if _SETVAL.search(file.sql):
        return (
            "calls setval(), which PostgreSQL never rolls back: trying it would change the live sequence "
            "(apply it for real, after review)"
        )
    return None


SEED_REHEARSAL = (
    "marked -- sqlmig:no-transaction, so seed --dry-run cannot rehearse it: the dry run applies pending"
    " migrations inside the seed's one transaction and rolls it back, and this file cannot run inside a transaction",
    "apply the pending migrations first (sqlmig migrate), then run sqlmig seed --dry-run;"
    " sqlmig migrate --dry-run lists them",
)


def refuse_unrunnable(
    files: Sequence[SqlFile], single_transaction: bool = False, *, why: tuple[str, str] = SINGLE_TRANSACTION
) -> None:
    """Refuse files that cannot run (all their problems at once, exit 3, nothing run); with
    single_transaction, also no-transaction files, saying `why` (message, hint)."""
    if not files:
        return
    problems = files_problems(files)
    if single_transaction:
        problems += [Problem(str(f.path), *why) for f in files if f.directives.no_transaction]
    if problems:
        raise RefusedError(f"{plural(len(problems), 'problem')} in the files to run; nothing was run", problems)


# What psql replaces with a variable's value outside strings, quoted names, dollar quotes and
# comments: `:name`, `:'name'`, `:"name"` and `:{?name}` (a name of letters, digits, _ and non-ASCII).
# A name of digits alone is left out: psql itself sets none, and `a[1:2]` is common SQL.
_PSQL_VARIABLE_RE = re.compile(
    r"""[A-Za-z_\x80-\U0010ffff][\w\x80-\U0010ffff]*|(['"])[\w\x80-\U0010ffff]+\1|\{\?[\w\x80-\U0010ffff]+\}"""
)


def psql_problems(files: Iterable[SqlFile]) -> list[Problem]:
    """Text psql would send differently from sqlmig, for a script to be run by psql
    (`--print-sql`): a psql variable reference, which psql replaces with the variable's value when
    one of that name is set (by psql itself, `-v`, or a psqlrc). Meta-commands, unterminated
    quotes and COPY FROM STDIN are refused for every run (file_problems)."""
    out: list[Problem] = []
    for f in files:
        if ":" not in f.sql:
            continue
        from .scanner import tokenize

        for token in tokenize(f.sql):
            if token.kind != "op" or token.text != ":":
                continue
            found = _PSQL_VARIABLE_RE.match(f.sql, token.start + 1)
            if found is None:
                continue
            text = ":" + found.group()
            out.append(
                Problem(
                    f"{f.path}:{token.line}:{token.column}",
                    f"psql would read {text} as a psql variable and put its value there when one of that name "
                    "is set, so a printed script would not send what sqlmig sends",
                    f"write it with a space after the colon (`: {found.group()}`, the same to PostgreSQL), or "
                    "apply this migration with `sqlmig migrate` rather than a printed script",
                )
            )
    return out
