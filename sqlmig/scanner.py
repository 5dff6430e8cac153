"""Lexical scanner for PostgreSQL SQL: statement boundaries and token comparison (stdlib only)."""

from __future__ import annotations

import gc
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "Statement",
    "Token",
    "line_col",
    "meta_command_lines",
    "significant_tokens",
    "split_statements",
    "tokenize",
    "unterminated",
]

# ---------------------------------------------------------------------------
# Lexical pieces.  Every compiled pattern below is assembled from this one table, so the
# fast scanners (which only look for ';', parentheses and backslashes) and the tokenizer
# cannot disagree about where a string or comment starts and ends.
#
# Each piece begins with a literal or a character class: CPython's regex engine then
# rejects a non-matching alternative from its first character, which makes the big
# alternation several times faster.  PostgreSQL treats every non-ASCII character as an
# identifier character.
# ---------------------------------------------------------------------------
# Identifier classes are written as complements of ASCII: a class spanning \x80-\U0010FFFF
# costs CPython's regex compiler about 0.4 s at import, which every command would pay.
_NOT_ID = r"\x00-\x40\x5b-\x5e\x60\x7b-\x7f"  # ASCII other than letters and _
_ID_START = rf"[^{_NOT_ID}]"
_ID_CONT = r"[^\x00-\x23\x25-\x2f\x3a-\x40\x5b-\x5e\x60\x7b-\x7f]"  # ... or digits and $
_TAG = rf"{_ID_START}[^\x00-\x2f\x3a-\x40\x5b-\x5e\x60\x7b-\x7f]*+"
_SPACE = r"[ \t\n\r\f\v]++"
_LINE_COMMENT = r"--[^\n\r]*+"
_SIMPLE_COMMENT = r"/\*(?:[^*/]++|\*(?!/)|/(?!\*))*+\*/"  # a block comment without nesting
_WS = rf"(?:{_SPACE}|{_LINE_COMMENT}|{_SIMPLE_COMMENT})"
# A quoted literal continues after whitespace holding a newline ('a'\n'b' is 'ab'); if the
# continuation is unterminated, so is the whole literal (the lookahead after the repeat).
_CONT = r"[ \t\f\v]*+(?:--[^\n\r]*+)?[\n\r](?:[ \t\n\r\f\v]++|--[^\n\r]*+[\n\r])*+"
_SQ = r"'[^']*+(?:''[^']*+)*+'"
_EQ = r"'[^'\\]*+(?:(?:\\[\s\S]|'')[^'\\]*+)*+'"
_DIGITS = r"[0-9](?:_?[0-9])*+"
_EXP = r"(?:[eE][+-]?[0-9]++)?"
_OP_CHAR = r"[~!@#^&|`?+*%<>=]|-(?!-)|/(?!\*)"
_OP_REST = rf"(?:{_OP_CHAR})*+"
# Words not starting with b, e, n, u or x; then those, unless the letter is a string prefix
# (a lone e/b/x/n directly before a quote, or u before &' or &").
_WORD = rf"[^{_NOT_ID}bBeEnNuUxX]{_ID_CONT}*+"
_WORD_PREFIX_LETTER = rf"[bBeEnNxX](?!'){_ID_CONT}*+|[uU](?!&['\"]){_ID_CONT}*+"

# (kind, pattern); "{g}" is replaced by a group name unique within the compiled pattern.
# Kinds starting with "_" are internal: "_ws" is skipped, "_oprun" needs PostgreSQL's
# trailing +/- rule, "_special" is an opener whose complete form did not match.
_PIECES: list[tuple[str, str]] = [
    ("_ws", _SPACE),
    ("word", _WORD),
    ("op", r"[,\[\]]"),
    ("number", r"0(?:[xX](?:_?[0-9A-Fa-f])++|[oO](?:_?[0-7])++|[bB](?:_?[01])++)"),
    ("number", rf"{_DIGITS}(?:\.(?!\.)(?:{_DIGITS})?)?{_EXP}"),
    ("string", rf"{_SQ}(?:{_CONT}{_SQ})*+(?!{_CONT}')"),
    ("number", rf"\.{_DIGITS}{_EXP}"),
    ("op", r"\.\.?+|:[:=]?+"),
    ("_oprun", rf"[~!@#^&|`?+*%<>=]{_OP_REST}|-(?!-){_OP_REST}|/(?!\*){_OP_REST}"),
    ("word", _WORD_PREFIX_LETTER),
    ("string", rf"[eE]{_EQ}(?:{_CONT}{_EQ})*+(?!{_CONT}')"),
    ("string", rf"(?:[bBxXnN]|[uU]&){_SQ}(?:{_CONT}{_SQ})*+(?!{_CONT}')"),
    ("quoted_ident", r'"[^"]*+(?:""[^"]*+)*+"|[uU]&"[^"]*+(?:""[^"]*+)*+"'),
    ("_ws", _LINE_COMMENT),
    ("_ws", _SIMPLE_COMMENT),
    ("dollar_string", rf"\$(?P<{{g}}>(?:{_TAG})?+)\$[\s\S]*?\$(?P={{g}})\$"),
    ("param", r"\$[0-9]++"),
    ("op", rf"\$(?!(?:{_TAG})?\$)"),  # a lone '$' (PostgreSQL rejects it later)
    ("meta", r"\\[^\n]*+"),
]
# Openers whose complete form failed above: unterminated, or (for /*) a nested comment.
_SPECIAL = rf"""[eEbBxXnN]'|[uU]&['"]|'|"|\$(?:{_TAG})?\$|/\*"""
# Anything else the fast runs may step over: never an opener, letter or statement delimiter.
_OTHER = (
    "["
    + "".join(  # the ASCII characters not listed, spelled out (see _NOT_ID)
        re.escape(c) for c in map(chr, range(128)) if c not in "'\"$/;()\\ \t\n\r\f\v_" and not c.isalnum()
    )
    + "]"
)


def _alternation(sfx: str, *, meta: bool = True, ws: bool = True) -> str:
    """The pieces as one alternation (without ';' and parentheses), for the fast runs."""
    skipped = ("" if meta else "meta", "" if ws else "_ws")
    return "|".join(pat.replace("{g}", f"d{sfx}") for kind, pat in _PIECES if kind not in skipped)


def _balanced(depth: int) -> str:
    """A parenthesised group nested at most `depth` deep, with any ';' inside it.

    Lets the splitter step over the parentheses of a huge INSERT ... VALUES in C; deeper or
    unbalanced parentheses stop the run and are counted in Python instead.
    """
    inner = "|;"
    if depth > 1:
        inner += "|" + _balanced(depth - 1)
    return rf"\((?:{_alternation(str(depth))}|{_OTHER}{inner})*+\)"


_PAREN_DEPTH_IN_REGEX = 3
# Steps over everything except a ';' or unbalanced parenthesis at depth 0, and the
# constructs Python must handle: nested or unterminated comments and quotes.
_RUN_SPLIT_RE = re.compile(rf"(?:{_alternation('')}|{_OTHER}|{_balanced(_PAREN_DEPTH_IN_REGEX)})*+")
# The same, stopping after the last significant token (used once, at the end of input).
_RUN_SPLIT_TOKENS_RE = re.compile(
    rf"(?:(?:{_WS})*+(?:{_alternation('', ws=False)}|{_OTHER}"
    rf"|{_balanced(_PAREN_DEPTH_IN_REGEX)}))*+"
)
_RUN_ALL_RE = re.compile(rf"(?:{_alternation('')}|{_OTHER}|[;()])*+")
_RUN_NO_META_RE = re.compile(rf"(?:{_alternation('', meta=False)}|{_OTHER}|[;()])*+")


def _token_pattern() -> tuple[re.Pattern[str], tuple[str, ...]]:
    """One token after optional whitespace/comments; each alternative ends with an empty
    marker group, so `m.lastindex` names the kind without a slow named-group prefix."""
    kinds: list[str] = ["", ""]  # group 0 is the match, group 1 marks the token start
    alts: list[str] = []
    for kind, pat in [
        *((k, p) for k, p in _PIECES if k != "_ws"),
        ("op", r"[;()]"),
        ("_special", _SPECIAL),
        ("op", r"[\s\S]"),
        ("_end", r"\Z"),  # trailing comments: match here rather than retry one char later
    ]:
        groups = re.compile(pat.replace("{g}", "d")).groups
        alts.append(f"(?:{pat.replace('{g}', 'd')})()")
        kinds.extend([""] * groups)
        kinds.append(kind)
    return re.compile(rf"(?:{_WS})*+()(?:{'|'.join(alts)})"), tuple(kinds)


_TOKEN_RE, _KINDS = _token_pattern()
_WS_RUN_RE = re.compile(rf"{_WS}*+")
_COMMENT_DELIM_RE = re.compile(r"/\*|\*/")
_SPECIAL_RE = re.compile(_SPECIAL)
_CREATE_RE = re.compile(rf"[cC][rR][eE][aA][tT][eE](?!{_ID_CONT})")
_WORD_START_RE = re.compile(f"{_WORD}|{_WORD_PREFIX_LETTER}")

_UPPER = str.maketrans("abcdefghijklmnopqrstuvwxyz", "ABCDEFGHIJKLMNOPQRSTUVWXYZ")
_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
_OP_KEEP_TRAILING_SIGN = frozenset("~!@#^&|`?%")
_FUNC_WORDS = ("FUNCTION", "PROCEDURE")
_BIG_INPUT = 1 << 20


def _upper(word: str) -> str:
    """ASCII-only case folding, as PostgreSQL does for identifiers and psql for keywords."""
    return word.upper() if word.isascii() else word.translate(_UPPER)


def _lower(word: str) -> str:
    return word.lower() if word.isascii() else word.translate(_LOWER)


@dataclass(frozen=True, slots=True)
class Token:
    """One significant lexical token, with its exact source text and position."""

    kind: str
    text: str
    start: int
    line: int
    column: int


@dataclass(frozen=True, slots=True)
class Statement:
    """One top-level statement as psql would send it to the server."""

    text: str
    start: int
    end: int
    line: int
    column: int
    _terminated: bool = field(default=True, repr=False, compare=False)
    _tokens: tuple[Token, ...] | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def tokens(self) -> tuple[Token, ...]:
        """Significant tokens without the terminating ';'; computed on first use, since a
        50 MB INSERT need not be tokenized just to be split and executed."""
        cached = self._tokens
        if cached is None:
            with _GcPaused(len(self.text)):
                cached = tuple(_tokens(self.text, self.start, self.line, self.column))
            if self._terminated and cached and cached[-1].text == ";":
                cached = cached[:-1]
            object.__setattr__(self, "_tokens", cached)
        return cached

    def words(self, n: int) -> tuple[str, ...]:
        """The first `n` unquoted words, uppercased, for keyword checks; stops lexing early."""
        out: list[str] = []
        if n <= 0:
            return ()
        text = self.text
        for kind, s, e in _raw_tokens(text, 0):
            if kind == "word":
                out.append(_upper(text[s:e]))
                if len(out) >= n:
                    break
        return tuple(out)


def _fast_constructor(cls: type[Any], names: tuple[str, ...]) -> Callable[..., Any]:
    """Build frozen slotted instances through their slot descriptors.

    The generated frozen __init__ goes through object.__setattr__ once per field, which
    dominated tokenizing large files.
    """
    new = object.__new__
    setters = tuple(cls.__dict__[name].__set__ for name in names)
    if len(setters) == 5:
        s0, s1, s2, s3, s4 = setters

        def make5(a: object, b: object, c: object, d: object, e: object) -> Any:
            obj = new(cls)
            s0(obj, a)
            s1(obj, b)
            s2(obj, c)
            s3(obj, d)
            s4(obj, e)
            return obj

        return make5
    raise AssertionError(names)


_new_token: Callable[[str, str, int, int, int], Token] = _fast_constructor(
    Token, ("kind", "text", "start", "line", "column")
)


class _GcPaused:
    """Pause the cyclic GC while building millions of small acyclic objects (it would
    otherwise rescan them over and over); a no-op for small inputs."""

    __slots__ = ("active",)

    def __init__(self, size: int) -> None:
        self.active = size >= _BIG_INPUT and gc.isenabled()

    def __enter__(self) -> None:
        if self.active:
            gc.disable()

    def __exit__(self, *exc: object) -> None:
        if self.active:
            gc.enable()


# ---------------------------------------------------------------------------
# Core lexing
# ---------------------------------------------------------------------------


def _match_end(pattern: re.Pattern[str], sql: str, pos: int) -> int:
    """End of `pattern` (which may match empty) at `pos`."""
    m = pattern.match(sql, pos)
    return pos if m is None else m.end()


def _skip_block_comment(sql: str, pos: int) -> int:
    """End of the (possibly nested) block comment opening at `pos`, or -1 if unterminated."""
    depth = 0
    for m in _COMMENT_DELIM_RE.finditer(sql, pos):
        if m.group() == "/*":
            depth += 1
        else:
            depth -= 1
            if depth == 0:
                return m.end()
    return -1


def _opener_kind(opener: str) -> str:
    if opener == "/*":
        return "unterminated_block_comment"
    if opener.endswith('"'):
        return "unterminated_quoted_identifier"
    if opener.startswith("$"):
        return "unterminated_dollar_quote"
    return "unterminated_string"


def _raw_tokens(sql: str, pos: int) -> Iterator[tuple[str, int, int]]:
    """(kind, start, end) of each significant token from `pos`, which must be a token boundary.

    An unterminated construct becomes one final token running to the end of the input.
    """
    n = len(sql)
    kinds = _KINDS
    while True:
        for m in _TOKEN_RE.finditer(sql, pos):
            if m.start() != pos:
                # No token at `pos`: only whitespace and complete comments remain. finditer
                # would otherwise search on and lex the inside of a trailing comment.
                return
            pos = m.end()
            kind = kinds[m.lastindex or 0]
            s = m.start(1)
            e = m.end()
            if kind[0] != "_":
                yield kind, s, e
            elif kind == "_oprun":
                if e - s > 1 and sql[e - 1] in "+-":
                    text = sql[s:e]
                    if not any(c in _OP_KEEP_TRAILING_SIGN for c in text[:-1]):
                        # PostgreSQL: "=-" is "=" then "-", so a=-1 means a = -1.
                        keep = max(1, len(text.rstrip("+-")))
                        yield "op", s, s + keep
                        for i in range(s + keep, e):
                            yield "op", i, i + 1
                        continue
                yield "op", s, e
            elif kind == "_end":
                return
            else:  # _special
                if sql.startswith("/*", s):
                    end = _skip_block_comment(sql, s)
                    if end >= 0:
                        pos = end
                        break  # restart the scan after the nested comment
                yield _opener_kind(sql[s:e]), s, n
                return
        else:
            return


def _tokens(sql: str, base: int = 0, line: int = 1, column: int = 1) -> Iterator[Token]:
    """Tokens of `sql`, positioned as if `sql` started at offset `base`, `line`, `column`."""
    line_start = 1 - column  # so that the column of local offset 0 is `column`
    last = 0
    count = sql.count
    new = _new_token
    for kind, s, e in _raw_tokens(sql, 0):
        if count("\n", last, s):
            line += count("\n", last, s)
            line_start = sql.rfind("\n", last, s) + 1
        last = s
        yield new(kind, sql[s:e], base + s, line, s - line_start + 1)


def _skip_insignificant(sql: str, pos: int) -> int:
    """First offset at or after `pos` that is not whitespace or a complete comment."""
    while True:
        pos = _match_end(_WS_RUN_RE, sql, pos)
        if sql.startswith("/*", pos):
            end = _skip_block_comment(sql, pos)
            if end < 0:
                return pos
            pos = end
        else:
            return pos


class _Lines:
    """Incremental offset -> (line, column) for increasing offsets."""

    __slots__ = ("last", "line", "line_start", "sql")

    def __init__(self, sql: str) -> None:
        self.sql = sql
        self.last = 0
        self.line = 1
        self.line_start = 0

    def at(self, pos: int) -> tuple[int, int]:
        nl = self.sql.count("\n", self.last, pos)
        if nl:
            self.line += nl
            self.line_start = self.sql.rfind("\n", self.last, pos) + 1
        self.last = pos
        return self.line, pos - self.line_start + 1


# ---------------------------------------------------------------------------
# Statement splitting (psql's rules)
# ---------------------------------------------------------------------------


def _scan_plain(sql: str, pos: int, paren: int, last_end: int) -> tuple[int, bool]:
    """Scan a statement body from `pos`; return (statement end, ended by its own ';').

    A ';' inside parentheses does not end a statement (psql counts parentheses too).
    """
    n = len(sql)
    while True:
        resume = pos
        pos = _match_end(_RUN_SPLIT_RE, sql, pos)
        if pos >= n:
            end = _match_end(_RUN_SPLIT_TOKENS_RE, sql, resume)
            return (end if end > resume else last_end), False
        c = sql[pos]
        if c == ";":
            if paren == 0:
                return pos + 1, True
        elif c == "(":
            paren += 1
        elif c == ")":
            if paren > 0:
                paren -= 1
        elif sql.startswith("/*", pos):
            end = _skip_block_comment(sql, pos)
            if end < 0:
                return n, False
            tokens_end = _match_end(_RUN_SPLIT_TOKENS_RE, sql, resume)
            if tokens_end > resume:
                last_end = tokens_end
            pos = end
            continue
        else:
            kind, _, tok_end = next(_raw_tokens(sql, pos))
            if kind.startswith("unterminated_"):
                return n, False
            pos = last_end = tok_end  # a token the run pattern did not take
            continue
        pos = last_end = pos + 1


def _scan_create(sql: str, pos: int) -> tuple[int, bool]:
    """Scan a possible CREATE statement token by token, honouring SQL-standard function bodies.

    psql's heuristic: when the statement's first unquoted words are
    CREATE [OR REPLACE] FUNCTION|PROCEDURE, at parenthesis depth 0,
    BEGIN opens a block, CASE opens one only inside a block, END closes one; a ';' inside
    a block does not end the statement.  Once the head shows another kind of CREATE, the
    fast scanner takes over.
    """
    head: list[str] = []
    is_func = False
    paren = depth = 0
    last_end = pos
    for kind, s, e in _raw_tokens(sql, pos):
        if kind == "op" and e - s == 1:
            c = sql[s]
            if c == ";":
                if paren == 0 and depth == 0:
                    return e, True
            elif c == "(":
                paren += 1
            elif c == ")" and paren > 0:
                paren -= 1
        elif kind == "word":
            word = _upper(sql[s:e])
            if not is_func:
                head.append(word)
                if len(head) in (2, 4) and word in _FUNC_WORDS:
                    is_func = True
                elif (len(head), word) not in ((1, "CREATE"), (2, "OR"), (3, "REPLACE")):
                    return _scan_plain(sql, e, paren, e)
            elif paren == 0:
                if word == "BEGIN":
                    depth += 1
                elif word == "CASE":
                    if depth >= 1:
                        depth += 1
                elif word == "END" and depth > 0:
                    depth -= 1
        last_end = e
    return last_end, False


_new_statement: Callable[[str, int, int, int, int], Statement] = _fast_constructor(
    Statement, ("text", "start", "end", "line", "column")
)


def split_statements(sql: str) -> list[Statement]:
    """Split a script into statements exactly where psql would send them to the server.

    Empty statements (';;', comment-only) are dropped; a last statement without ';' is kept;
    an unterminated quote or comment makes the last statement run to the end of the input.
    """
    out: list[Statement] = []
    lines = _Lines(sql)
    n = len(sql)
    pos = 0
    while True:
        pos = _skip_insignificant(sql, pos)
        if pos >= n:
            return out
        if sql[pos] == ";":
            pos += 1
            continue
        start = pos
        if _CREATE_RE.match(sql, pos) or not _WORD_START_RE.match(sql, pos):
            # psql looks at the first *words*, even after a '(' or a quoted name.
            end, terminated = _scan_create(sql, pos)
        else:
            end, terminated = _scan_plain(sql, pos, 0, pos)
        line, column = lines.at(start)
        stmt = _new_statement(sql[start:end], start, end, line, column)
        object.__setattr__(stmt, "_terminated", terminated)
        object.__setattr__(stmt, "_tokens", None)
        out.append(stmt)
        pos = end if terminated else n


# ---------------------------------------------------------------------------
# Public helpers
# ---------------------------------------------------------------------------


def tokenize(sql: str) -> list[Token]:
    """All significant tokens (comments and whitespace dropped).

    Kinds: word, quoted_ident, string, dollar_string, number, op, param, meta (a backslash
    and the rest of its line: a psql meta-command), or unterminated_* (runs to the end).
    """
    with _GcPaused(len(sql)):
        return list(_tokens(sql))


def significant_tokens(sql: str) -> tuple[str, ...]:
    """Token texts that decide whether two scripts differ only cosmetically.

    Whitespace and comments are dropped and unquoted words lowercased (ASCII only, like
    PostgreSQL); literals, quoted identifiers and dollar bodies are kept exactly.
    """
    out: list[str] = []
    append = out.append
    for kind, s, e in _raw_tokens(sql, 0):
        append(_lower(sql[s:e]) if kind == "word" else sql[s:e])
    return tuple(out)


def line_col(text: str, offset: int) -> tuple[int, int]:
    """1-based (line, column) of a 0-based character offset, clamped to the text."""
    offset = max(0, min(offset, len(text)))
    line = text.count("\n", 0, offset) + 1
    return line, offset - (text.rfind("\n", 0, offset) + 1) + 1


def unterminated(sql: str) -> Token | None:
    """The opening delimiter of a quote, dollar quote or block comment never closed, if any.

    The token's kind is unterminated_string, unterminated_quoted_identifier,
    unterminated_dollar_quote or unterminated_block_comment; its text is the opener.
    """
    for kind, s, _ in _stops(sql, _RUN_ALL_RE):
        if kind.startswith("unterminated_"):
            opener = _SPECIAL_RE.match(sql, s)
            assert opener is not None
            line, column = line_col(sql, s)
            return Token(kind, opener.group(), s, line, column)
    return None


def meta_command_lines(sql: str) -> list[tuple[int, str]]:
    """(line, text) of each psql meta-command: a backslash outside any string, quoted identifier,
    dollar quote or comment. At the start of a line the text is the line; after SQL on the same
    line (`SELECT 1 \\gset`, `SELECT 1 \\; SELECT 2`) it runs from the backslash. PostgreSQL
    itself has no use for a backslash there, and psql would take it as a command.
    """
    if "\\" not in sql:
        return []
    out: list[tuple[int, str]] = []
    lines = _Lines(sql)
    for kind, s, _ in _stops(sql, _RUN_NO_META_RE):
        if kind.startswith("unterminated_"):
            break
        if kind == "meta":
            bol = sql.rfind("\n", 0, s) + 1
            start = bol if not sql[bol:s].strip(" \t\f\v\r") else s
            line, _ = lines.at(s)
            eol = sql.find("\n", s)
            out.append((line, sql[start : len(sql) if eol < 0 else eol]))
    return out


def _stops(sql: str, run: re.Pattern[str]) -> Iterator[tuple[str, int, int]]:
    """(kind, start, end) of each token `run` cannot step over at C speed, from the start of `sql`."""
    n = len(sql)
    pos = 0
    while True:
        pos = _skip_insignificant(sql, _match_end(run, sql, pos))
        if pos >= n:
            return
        kind, s, e = next(_raw_tokens(sql, pos))
        yield kind, s, e
        pos = e
