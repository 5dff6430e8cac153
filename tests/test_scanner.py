"""Tests for sqlmig.scanner: statement splitting, tokens and cosmetic comparison (no database)."""

from __future__ import annotations

import gc
import re

import pglast
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sqlmig import scanner
from sqlmig.scanner import (
    Statement,
    Token,
    line_col,
    meta_command_lines,
    significant_tokens,
    split_statements,
    tokenize,
    unterminated,
)

from .support import count_case


def texts(sql: str) -> list[str]:
    return [s.text for s in split_statements(sql)]


# ---------------------------------------------------------------------------
# A deliberately naive, character-by-character reference lexer and psql-style splitter,
# written independently of the regex implementation, used as a differential oracle.
# ---------------------------------------------------------------------------
SPACE = " \t\n\r\f\v"
OP_CHARS = "~!@#^&|`?+-*/%<>="
NUMBER_RE = re.compile(
    r"0(?:[xX](?:_?[0-9A-Fa-f])+|[oO](?:_?[0-7])+|[bB](?:_?[01])+)"
    r"|(?:[0-9](?:_?[0-9])*(?:\.(?!\.)(?:[0-9](?:_?[0-9])*)?)?|\.[0-9](?:_?[0-9])*)"
    r"(?:[eE][+-]?[0-9]+)?"
)


def id_start(c: str) -> bool:
    return not c.isascii() or c.isalpha() or c == "_"


def id_cont(c: str) -> bool:
    return id_start(c) or c in "0123456789$"


def ref_quoted(sql: str, q: int, quote: str, escapes: bool, cont: bool) -> int | None:
    """End offset of the quoted literal whose opening quote is at q, or None."""
    n = len(sql)
    j = q + 1
    while True:
        if j >= n:
            return None
        ch = sql[j]
        if escapes and ch == "\\":
            j += 2
            continue
        if ch != quote:
            j += 1
            continue
        if sql[j + 1 : j + 2] == quote:
            j += 2
            continue
        close = j + 1
        if not cont:
            return close
        k = close
        while k < n and sql[k] in " \t\f\v":
            k += 1
        if sql.startswith("--", k):
            while k < n and sql[k] not in "\n\r":
                k += 1
        if k >= n or sql[k] not in "\n\r":
            return close
        k += 1
        while k < n:
            if sql[k] in SPACE:
                k += 1
            elif sql.startswith("--", k):
                m = k
                while m < n and sql[m] not in "\n\r":
                    m += 1
                if m >= n:
                    break
                k = m + 1
            else:
                break
        if k < n and sql[k] == quote:
            j = k + 1
            continue
        return close


def ref_tokens(sql: str) -> list[tuple[str, int, int]]:
    out: list[tuple[str, int, int]] = []
    n = len(sql)
    i = 0
    while i < n:
        c = sql[i]
        nxt = sql[i + 1 : i + 2]
        if c in SPACE:
            i += 1
            continue
        if sql.startswith("--", i):
            while i < n and sql[i] not in "\n\r":
                i += 1
            continue
        if sql.startswith("/*", i):
            depth, j = 0, i
            while True:
                if j >= n:
                    out.append(("unterminated_block_comment", i, n))
                    return out
                if sql.startswith("/*", j):
                    depth, j = depth + 1, j + 2
                elif sql.startswith("*/", j):
                    depth, j = depth - 1, j + 2
                    if depth == 0:
                        break
                else:
                    j += 1
            i = j
            continue
        quote_at = None
        if c in "eE" and nxt == "'":
            quote_at, quote, escapes = i + 1, "'", True
        elif c in "bBxXnN" and nxt == "'":
            quote_at, quote, escapes = i + 1, "'", False
        elif c in "uU" and nxt == "&" and sql[i + 2 : i + 3] in ("'", '"'):
            quote_at, quote, escapes = i + 2, sql[i + 2], False
        elif c in "'\"":
            quote_at, quote, escapes = i, c, False
        if quote_at is not None:
            end = ref_quoted(sql, quote_at, quote, escapes, cont=quote == "'")
            if end is None:
                kind = "quoted_identifier" if quote == '"' else "string"
                out.append((f"unterminated_{kind}", i, n))
                return out
            out.append(("quoted_ident" if quote == '"' else "string", i, end))
            i = end
            continue
        if c == "$":
            j = i + 1
            if nxt.isascii() and nxt.isdigit():
                while j < n and sql[j] in "0123456789":
                    j += 1
                out.append(("param", i, j))
                i = j
                continue
            if j < n and id_start(sql[j]):
                while j < n and (id_start(sql[j]) or sql[j] in "0123456789"):
                    j += 1
            if j < n and sql[j] == "$":
                delim = sql[i : j + 1]
                k = sql.find(delim, j + 1)
                if k < 0:
                    out.append(("unterminated_dollar_quote", i, n))
                    return out
                out.append(("dollar_string", i, k + len(delim)))
                i = k + len(delim)
                continue
            out.append(("op", i, i + 1))
            i += 1
            continue
        if id_start(c):
            j = i + 1
            while j < n and id_cont(sql[j]):
                j += 1
            out.append(("word", i, j))
            i = j
            continue
        if c in "0123456789" or (c == "." and nxt.isascii() and nxt.isdigit()):
            m = NUMBER_RE.match(sql, i)
            assert m is not None
            out.append(("number", i, m.end()))
            i = m.end()
            continue
        if c == "\\":
            j = sql.find("\n", i)
            j = n if j < 0 else j
            out.append(("meta", i, j))
            i = j
            continue
        if c in OP_CHARS:
            j = i
            while j < n and sql[j] in OP_CHARS:
                if sql.startswith("--", j) or sql.startswith("/*", j):
                    break
                j += 1
            text = sql[i:j]
            keep = len(text)
            if keep > 1 and text[-1] in "+-" and not any(ch in "~!@#^&|`?%" for ch in text[:-1]):
                keep -= 1
                while keep > 1 and text[keep - 1] in "+-":
                    keep -= 1
            out.append(("op", i, i + keep))
            out.extend(("op", k, k + 1) for k in range(i + keep, j))
            i = j
            continue
        if sql.startswith(("::", ":=", ".."), i):
            out.append(("op", i, i + 2))
            i += 2
            continue
        out.append(("op", i, i + 1))
        i += 1
    return out


def ref_split(sql: str) -> list[tuple[int, int]]:
    """psql's rules over the reference tokens: (start, end) of each statement."""
    out: list[tuple[int, int]] = []
    cur: list[tuple[str, int, int]] = []
    paren = depth = 0
    words: list[str] = []
    for kind, s, e in ref_tokens(sql):
        text = sql[s:e]
        if kind == "op" and text == ";" and paren == 0 and depth == 0:
            if cur:
                out.append((cur[0][1], e))
            cur, words = [], []
            continue
        cur.append((kind, s, e))
        if text == "(":
            paren += 1
        elif text == ")" and paren > 0:
            paren -= 1
        elif kind == "word":
            word = text.upper() if text.isascii() else text
            words.append(word)
            head = words[:4]
            is_func = head[:1] == ["CREATE"] and (
                (len(head) >= 2 and head[1] in ("FUNCTION", "PROCEDURE"))
                or (head[1:3] == ["OR", "REPLACE"] and head[3:] in (["FUNCTION"], ["PROCEDURE"]))
            )
            if is_func and paren == 0:
                if word == "BEGIN" or (word == "CASE" and depth >= 1):
                    depth += 1
                elif word == "END" and depth > 0:
                    depth -= 1
    if cur:
        out.append((cur[0][1], cur[-1][2]))
    return out


def spans(sql: str) -> list[tuple[int, int]]:
    return [(s.start, s.end) for s in split_statements(sql)]


# ---------------------------------------------------------------------------
# Each lexical construct hides a ';'
# ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    "literal",
    [
        "'a;b'",
        "'it''s; fine'",
        "''''",
        "E'it\\'s; fine'",
        "e'back\\\\slash;'",
        "E'doubled '' works;'",
        "E'\\\\'",
        "U&'d\\0061t;a'",
        "u&'x;'",
        "B'0101'",
        "X'1F;'",
        "N'nat;ional'",
        "'a;'\n'continued;'",
        "E'a'\n  'b\\';c'",
        "$$;$$",
        "$$ ; ' \" -- /* $$",
        "$body$ $$;$$ $other$ ; $other$ $body$",
        "$a$ x$$b ; $a$",
        "$_tag1$;$_tag1$",
        '"semi;colon"',
        '"with ""quotes""; inside"',
        'U&"d\\0061t;a"',
        "/* ; */ 1",
        "/* outer /* inner; */ still comment; */ 1",
        "/*/ ; */ 1",
        "-- comment; here\n 1",
    ],
)
def test_semicolon_inside_construct_does_not_split(literal: str) -> None:
    sql = f"SELECT {literal};\nSELECT 2;"
    assert texts(sql) == [f"SELECT {literal};", "SELECT 2;"]
    assert unterminated(sql) is None
    assert spans(sql) == ref_split(sql)


def test_e_string_backslash_quote_vs_standard_string() -> None:
    # In a standard string a backslash is an ordinary character, so \' does not escape.
    assert texts("SELECT 'a\\'; SELECT 2") == ["SELECT 'a\\';", "SELECT 2"]
    assert texts("SELECT E'a\\'; SELECT 2'") == ["SELECT E'a\\'; SELECT 2'"]


def test_prefix_letters_only_at_word_start() -> None:
    # "abe'..'" is the word abe then a standard string, where \ does not escape.
    assert texts("SELECT abe'x\\'; SELECT 1") == ["SELECT abe'x\\';", "SELECT 1"]
    toks = tokenize("SELECT abe'x'")
    assert [(t.kind, t.text) for t in toks] == [
        ("word", "SELECT"),
        ("word", "abe"),
        ("string", "'x'"),
    ]


def test_dollar_in_identifier_and_params() -> None:
    toks = tokenize("SELECT foo$bar, $1, a$$b, $2::int FROM t$")
    assert [(t.kind, t.text) for t in toks] == [
        ("word", "SELECT"),
        ("word", "foo$bar"),
        ("op", ","),
        ("param", "$1"),
        ("op", ","),
        ("word", "a$$b"),
        ("op", ","),
        ("param", "$2"),
        ("op", "::"),
        ("word", "int"),
        ("word", "FROM"),
        ("word", "t$"),
    ]
    assert texts("SELECT $1; SELECT $2") == ["SELECT $1;", "SELECT $2"]


def test_dollar_quote_tag_cannot_start_with_digit() -> None:
    assert texts("SELECT $1$; SELECT 2") == ["SELECT $1$;", "SELECT 2"]


# ---------------------------------------------------------------------------
# SQL-standard function bodies (psql's BEGIN ... END heuristic)
# ---------------------------------------------------------------------------
def test_begin_atomic_body_with_case_is_one_statement() -> None:
    fn = "CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; "
    fn += "SELECT CASE WHEN true THEN 1 END; END;"
    assert texts(fn) == [fn]
    assert texts(fn + "\nSELECT 3;") == [fn, "SELECT 3;"]


@pytest.mark.parametrize(
    "head",
    [
        "CREATE FUNCTION",
        "create function",
        "CREATE OR REPLACE FUNCTION",
        "Create Or Replace Procedure",
        "CREATE PROCEDURE",
        "CREATE /* c */ OR -- x\n REPLACE FUNCTION",
    ],
)
def test_function_heads(head: str) -> None:
    fn = f"{head} p(a int) LANGUAGE sql BEGIN ATOMIC INSERT INTO t VALUES (a); END;"
    assert texts(fn + " SELECT 1;") == [fn, "SELECT 1;"]


def test_nested_begin_and_case_depths() -> None:
    fn = (
        "CREATE FUNCTION f(x int) RETURNS int LANGUAGE sql\n"
        "BEGIN ATOMIC\n"
        "  SELECT CASE WHEN x > 0 THEN CASE WHEN x > 1 THEN 2 ELSE 1 END ELSE 0 END;\n"
        "  SELECT 1;\n"
        "END;"
    )
    assert texts(fn + "\nSELECT 2;") == [fn, "SELECT 2;"]


def test_case_outside_a_block_does_not_count() -> None:
    fn = "CREATE FUNCTION f() RETURNS int RETURN CASE WHEN true THEN 1 END;"
    assert texts(fn + " SELECT 2;") == [fn, "SELECT 2;"]


def test_begin_inside_parentheses_does_not_count() -> None:
    fn = "CREATE FUNCTION f(begin int) RETURNS int RETURN 1;"
    assert texts(fn + " SELECT 2;") == [fn, "SELECT 2;"]


def test_plpgsql_dollar_body_begin_is_inside_a_string() -> None:
    fn = (
        "CREATE FUNCTION f() RETURNS trigger LANGUAGE plpgsql AS $$\n"
        "BEGIN\n"
        "  IF NEW.x IS NULL THEN RAISE EXCEPTION 'x;'; END IF;\n"
        "  RETURN NEW;\n"
        "END $$;"
    )
    sql = fn + "\nCREATE TRIGGER t BEFORE INSERT ON t FOR EACH ROW EXECUTE FUNCTION f();"
    stmts = split_statements(sql)
    assert [s.text for s in stmts] == [fn, sql[len(fn) + 1 :]]
    assert stmts[1].line == 6
    assert stmts[1].column == 1


def test_function_head_counts_words_only_like_psql() -> None:
    # psql looks at the first unquoted words, whatever tokens come before them.
    sql = "(CREATE FUNCTION f() BEGIN ATOMIC SELECT 1; END); SELECT 2"
    assert texts(sql) == ["(CREATE FUNCTION f() BEGIN ATOMIC SELECT 1; END);", "SELECT 2"]
    assert texts("(SELECT 1) UNION (SELECT 2); SELECT 3") == [
        "(SELECT 1) UNION (SELECT 2);",
        "SELECT 3",
    ]
    assert texts("CREATE TABLE t (a int); BEGIN; SELECT 1; END;") == [
        "CREATE TABLE t (a int);",
        "BEGIN;",
        "SELECT 1;",
        "END;",
    ]


def test_begin_commit_are_ordinary_statements() -> None:
    sql = "BEGIN;\nCREATE TABLE t (id int);\nCOMMIT;\nEND;\nSELECT 1;"
    assert texts(sql) == ["BEGIN;", "CREATE TABLE t (id int);", "COMMIT;", "END;", "SELECT 1;"]


def test_begin_in_other_create_statements_does_not_count() -> None:
    sql = "CREATE TABLE begin (x int); SELECT 1; CREATE VIEW v AS SELECT 1 AS begin; SELECT 2"
    assert texts(sql) == [
        "CREATE TABLE begin (x int);",
        "SELECT 1;",
        "CREATE VIEW v AS SELECT 1 AS begin;",
        "SELECT 2",
    ]


def test_quoted_begin_does_not_count() -> None:
    fn = 'CREATE FUNCTION "begin"() RETURNS int RETURN 1;'
    assert texts(fn + " SELECT 2") == [fn, "SELECT 2"]


# ---------------------------------------------------------------------------
# Parentheses, empty statements, last statement, positions
# ---------------------------------------------------------------------------
def test_semicolon_inside_parentheses_does_not_split() -> None:
    # psql (and pglast's scanner) keep counting parentheses; so does the splitter.
    assert texts("SELECT (1; SELECT 2); SELECT 3") == ["SELECT (1; SELECT 2);", "SELECT 3"]
    assert texts("SELECT ((((((1;)))))); SELECT 3") == ["SELECT ((((((1;))))));", "SELECT 3"]
    assert texts("SELECT 1); SELECT 2") == ["SELECT 1);", "SELECT 2"]


def test_unbalanced_open_parenthesis_runs_to_end() -> None:
    sql = "SELECT (1; SELECT 2;  -- trailing\n"
    [stmt] = split_statements(sql)
    assert stmt.text == "SELECT (1; SELECT 2;"
    assert [t.text for t in stmt.tokens][-1] == ";"  # not a terminator: still inside ( )


def test_deep_nesting_and_values() -> None:
    rows = ",".join(f"({i}, 'x;{i}', coalesce(f(g({i})), (1)))" for i in range(50))
    sql = f"INSERT INTO t VALUES {rows};\nSELECT 1;"
    assert texts(sql) == [f"INSERT INTO t VALUES {rows};", "SELECT 1;"]


def test_last_statement_without_semicolon() -> None:
    stmts = split_statements("SELECT 1;\nSELECT 2  -- no terminator; really\n\n")
    assert [s.text for s in stmts] == ["SELECT 1;", "SELECT 2"]
    assert stmts[1].end == stmts[1].start + len("SELECT 2")
    assert [t.text for t in stmts[1].tokens] == ["SELECT", "2"]


@pytest.mark.parametrize(
    "sql",
    ["", "   \n\t", ";", ";;\n;", "-- only a comment;\n", "/* c; /* nested; */ */", "--x\n;/**/;"],
)
def test_empty_and_comment_only_input(sql: str) -> None:
    assert split_statements(sql) == []
    assert all(t.text == ";" for t in tokenize(sql))
    assert set(significant_tokens(sql)) <= {";"}
    assert unterminated(sql) is None


def test_empty_statements_are_dropped() -> None:
    assert texts(";;SELECT 1;;  ;SELECT 2;;") == ["SELECT 1;", "SELECT 2;"]


def test_statement_positions() -> None:
    sql = (
        "-- header; with semicolon\n"  # line 1
        "/* block ; comment\n"  # line 2
        "   still ; */  SELECT 1;\n"  # line 3
        "CREATE FUNCTION f() RETURNS text AS $$\n"  # line 4
        "  line ; two\n"  # line 5
        "$$ LANGUAGE sql;   SELECT 'é';\n"  # line 6
        "\n"
        "\tSELECT 3"  # line 8
    )
    stmts = split_statements(sql)
    assert [(s.line, s.column) for s in stmts] == [(3, 16), (4, 1), (6, 20), (8, 2)]
    for s in stmts:
        assert sql[s.start : s.end] == s.text
        assert line_col(sql, s.start) == (s.line, s.column)
    assert stmts[2].text == "SELECT 'é';"


def test_token_positions_are_absolute() -> None:
    sql = "SELECT 1;\n  SELECT\n    a,\n 'x\ny', b;"
    stmt = split_statements(sql)[1]
    for tok in stmt.tokens:
        assert sql[tok.start : tok.start + len(tok.text)] == tok.text
        assert line_col(sql, tok.start) == (tok.line, tok.column)
    assert [(t.text, t.line, t.column) for t in stmt.tokens] == [
        ("SELECT", 2, 3),
        ("a", 3, 5),
        (",", 3, 6),
        ("'x\ny'", 4, 2),
        (",", 5, 3),
        ("b", 5, 5),
    ]
    assert tokenize(sql)[3:-1] == list(stmt.tokens)


def test_words() -> None:
    stmt = split_statements("/* c */ create unique index Concurrently IF NOT EXISTS i ON t (a);")[0]
    assert stmt.words(4) == ("CREATE", "UNIQUE", "INDEX", "CONCURRENTLY")
    assert stmt.words(2) == ("CREATE", "UNIQUE")
    assert stmt.words(0) == ()
    assert stmt.words(100)[-1] == "A"
    assert split_statements('"quoted" word')[0].words(2) == ("WORD",)
    # ASCII-only case folding, like PostgreSQL: the long s is not an "s".
    assert split_statements("ca\u017fe")[0].words(1) == ("CA\u017fE",)


def test_statement_is_frozen_and_comparable() -> None:
    a = split_statements("SELECT 1;")[0]
    b = split_statements("SELECT 1;")[0]
    _ = a.tokens
    assert a == b
    assert hash(a) == hash(b)
    assert a == Statement("SELECT 1;", 0, 9, 1, 1)
    with pytest.raises(AttributeError):
        a.text = "x"  # type: ignore[misc]
    with pytest.raises(AttributeError):
        Token("word", "x", 0, 1, 1).text = "y"  # type: ignore[misc]
    assert "_tokens" not in repr(a)


def test_line_col() -> None:
    text = "ab\ncd\n\nx"
    assert line_col(text, 0) == (1, 1)
    assert line_col(text, 1) == (1, 2)
    assert line_col(text, 2) == (1, 3)
    assert line_col(text, 3) == (2, 1)
    assert line_col(text, 7) == (4, 1)
    assert line_col(text, 8) == (4, 2)
    assert line_col(text, 100) == (4, 2)
    assert line_col(text, -5) == (1, 1)


# ---------------------------------------------------------------------------
# Tokens and cosmetic comparison
# ---------------------------------------------------------------------------
def test_token_kinds() -> None:
    sql = (
        "SELECT \"Q\"\"x\", 'a', E'b', $t$c$t$, 1.5e3, .5, 0x1F, 1_000, $1, a::int, "
        "b <= -c, d=-1, e @- f, x[1:2], g.h \\gset"
    )
    got = [(t.kind, t.text) for t in tokenize(sql)]
    assert got == [
        ("word", "SELECT"),
        ("quoted_ident", '"Q""x"'),
        ("op", ","),
        ("string", "'a'"),
        ("op", ","),
        ("string", "E'b'"),
        ("op", ","),
        ("dollar_string", "$t$c$t$"),
        ("op", ","),
        ("number", "1.5e3"),
        ("op", ","),
        ("number", ".5"),
        ("op", ","),
        ("number", "0x1F"),
        ("op", ","),
        ("number", "1_000"),
        ("op", ","),
        ("param", "$1"),
        ("op", ","),
        ("word", "a"),
        ("op", "::"),
        ("word", "int"),
        ("op", ","),
        ("word", "b"),
        ("op", "<="),
        ("op", "-"),
        ("word", "c"),
        ("op", ","),
        ("word", "d"),
        ("op", "="),
        ("op", "-"),
        ("number", "1"),
        ("op", ","),
        ("word", "e"),
        ("op", "@-"),
        ("word", "f"),
        ("op", ","),
        ("word", "x"),
        ("op", "["),
        ("number", "1"),
        ("op", ":"),
        ("number", "2"),
        ("op", "]"),
        ("op", ","),
        ("word", "g"),
        ("op", "."),
        ("word", "h"),
        ("meta", "\\gset"),
    ]
    assert [(k, sql[s:e]) for k, s, e in ref_tokens(sql)] == got


def test_operators_stop_before_comments() -> None:
    assert [t.text for t in tokenize("a +-- c\n b */* c */ d")] == ["a", "+", "b", "*", "d"]


def test_significant_tokens_ignore_cosmetics() -> None:
    a = "CREATE TABLE t (id int PRIMARY KEY, name text DEFAULT 'x;y');\nSELECT a=-1;"
    b = (
        "-- a comment\ncreate   table T(\n  ID INT primary key, -- pk\n"
        "  NAME /* the name */ TEXT default 'x;y'\n);\n\n\nselect A = - 1 ;"
    )
    assert significant_tokens(a) == significant_tokens(b)
    assert significant_tokens(a)[:3] == ("create", "table", "t")


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("SELECT 'x'", "SELECT 'X'"),
        ("SELECT 'x'", "SELECT 'x '"),
        ('SELECT "Col"', 'SELECT "col"'),
        ('SELECT "col"', "SELECT col"),
        ("SELECT 1", "SELECT 2"),
        ("SELECT 1.0", "SELECT 1.00"),
        ("SELECT $$a b$$", "SELECT $$a  b$$"),
        ("SELECT $$ -- c\n $$", "SELECT $$\n $$"),
        ("SELECT a; SELECT b", "SELECT a SELECT b"),
        ("SELECT É", "SELECT é"),
        ("SELECT a -1", "SELECT a - -1"),
        ("SELECT E'\\n'", "SELECT '\\n'"),
    ],
)
def test_significant_tokens_see_real_changes(a: str, b: str) -> None:
    assert significant_tokens(a) != significant_tokens(b)


def test_significant_tokens_lowercase_words_only() -> None:
    assert significant_tokens("SELECT \"A\", 'B', E'C', $X$D$X$, Foo") == (
        "select",
        '"A"',
        ",",
        "'B'",
        ",",
        "E'C'",
        ",",
        "$X$D$X$",
        ",",
        "foo",
    )


# ---------------------------------------------------------------------------
# Unterminated constructs
# ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("sql", "kind", "text", "line", "column"),
    [
        ("SELECT 1;\nSELECT 'abc;\n", "unterminated_string", "'", 2, 8),
        ("SELECT 'a''", "unterminated_string", "'", 1, 8),
        ("SELECT E'a\\';", "unterminated_string", "E'", 1, 8),
        ("SELECT x'1F", "unterminated_string", "x'", 1, 8),
        ("SELECT U&'x", "unterminated_string", "U&'", 1, 8),
        ("SELECT 'a'\n  'b;", "unterminated_string", "'", 1, 8),
        ('SELECT "abc; SELECT 2', "unterminated_quoted_identifier", '"', 1, 8),
        ('SELECT u&"abc', "unterminated_quoted_identifier", 'u&"', 1, 8),
        ("SELECT $$abc; SELECT 2", "unterminated_dollar_quote", "$$", 1, 8),
        ("SELECT\n  $fn$ body $$ $fn", "unterminated_dollar_quote", "$fn$", 2, 3),
        ("SELECT 1; /* abc", "unterminated_block_comment", "/*", 1, 11),
        ("SELECT 1 /* a /* b */ c", "unterminated_block_comment", "/*", 1, 10),
    ],
)
def test_unterminated(sql: str, kind: str, text: str, line: int, column: int) -> None:
    tok = unterminated(sql)
    assert tok == Token(kind, text, sql.index(text, 6), line, column)
    stmts = split_statements(sql)  # never raises
    assert stmts[-1].end == len(sql)
    assert stmts[-1].tokens[-1].kind == kind
    assert tokenize(sql)[-1].kind == kind
    assert significant_tokens(sql)[-1] == sql[tok.start :]


def test_terminated_constructs_are_not_reported() -> None:
    sql = "SELECT 'a', E'\\'', \"q\", $$x$$, $a$ $$ $a$ /* /* */ */ -- '\n;"
    assert unterminated(sql) is None


# ---------------------------------------------------------------------------
# psql meta-commands
# ---------------------------------------------------------------------------
def test_meta_command_lines() -> None:
    sql = (
        "\\set ON_ERROR_STOP on\n"  # 1
        "SELECT 1;\n"  # 2
        "  \\i other.sql\n"  # 3
        "SELECT 'x\n"  # 4
        "\\i not_me.sql';\n"  # 5 inside a string
        "SELECT E'\n"  # 6
        "\\\\ still a string';\n"  # 7
        "SELECT $$\n"  # 8
        "\\connect nope\n"  # 9 inside a dollar body
        "$$;\n"  # 10
        "/*\n"  # 11
        "\\q\n"  # 12 inside a comment
        "*/ SELECT 2; \\gset\n"  # 13 after SQL on its line: psql takes it as a command too
        '"\n\\x"\n'  # 14-15 inside a quoted identifier
        "\\copy t from 'f'"  # 16
    )
    assert meta_command_lines(sql) == [
        (1, "\\set ON_ERROR_STOP on"),
        (3, "  \\i other.sql"),
        (13, "\\gset"),
        (16, "\\copy t from 'f'"),
    ]


def test_meta_command_lines_none() -> None:
    assert meta_command_lines("SELECT '\\i x';\nSELECT E'\\\\';\n") == []
    assert meta_command_lines("SELECT 'open\n\\i x\n") == []


def test_meta_command_semicolon_does_not_split() -> None:
    assert texts("\\set x 'a;b'\nSELECT 1;") == ["\\set x 'a;b'\nSELECT 1;"]


# ---------------------------------------------------------------------------
# Large inputs take the fast paths; the GC is restored afterwards.
# ---------------------------------------------------------------------------
def test_large_input_fast_paths(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(scanner, "_BIG_INPUT", 100)
    rows = ",\n".join(f"({i}, 'n;{i}', E'\\'{i}', now(), ((({i}))))" for i in range(2000))
    sql = f"INSERT INTO t VALUES\n{rows};\nSELECT 1;"
    assert gc.isenabled()
    stmts = split_statements(sql)
    assert [s.line for s in stmts] == [1, 2002]
    assert len(stmts[0].tokens) == len(tokenize(sql)) - 4
    assert gc.isenabled()
    assert spans(sql) == ref_split(sql)


# ---------------------------------------------------------------------------
# Property tests
# ---------------------------------------------------------------------------
SOUP_ATOMS = [
    *" \n\t\r\f;;;(())'''\"\"$$$--//**\\ eEbxnuU&a_1.9+=<>:,é",
    *["$a$", "$$", "/*", "*/", "--", "E'", "U&'", 'U&"', "''", "\n'", "'\n", "\\'", "-- c\n"],
    *["$1", "0x1", "1e5", "..", "::", "=-", "@-", "x'", "n'", "b'", "\n\\i x\n"],
    *["begin ", "end ", "case ", "create ", "or ", "replace ", "function ", " BEGIN ATOMIC "],
    *["CREATE FUNCTION f() ", "CREATE OR REPLACE PROCEDURE p "],
]
SOUP = st.lists(st.sampled_from(SOUP_ATOMS), max_size=40).map("".join)


@pytest.mark.reliability
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(SOUP)
def test_matches_reference_on_arbitrary_text(sql: str) -> None:
    """Differential test against the naive character-by-character lexer above."""
    count_case("test_matches_reference_on_arbitrary_text")
    toks = tokenize(sql)
    assert [(t.kind, t.start, t.start + len(t.text)) for t in toks] == ref_tokens(sql)
    for t in toks:
        assert sql[t.start : t.start + len(t.text)] == t.text
        assert (t.line, t.column) == line_col(sql, t.start)
    stmts = split_statements(sql)
    assert [(s.start, s.end) for s in stmts] == ref_split(sql)
    ref = ref_tokens(sql)
    expected = ref[-1] if ref and ref[-1][0].startswith("unterminated_") else None
    got = unterminated(sql)
    assert ((got.kind, got.start) if got else None) == (expected[:2] if expected else None)
    lowered = tuple(sql[s:e].lower() if k == "word" else sql[s:e] for k, s, e in ref)
    assert significant_tokens(sql) == lowered
    want = []
    for k, s, _ in ref:  # each meta token: its whole line if it starts the line, else from the backslash
        if k == "meta":
            bol = sql.rfind("\n", 0, s) + 1
            eol = len(sql) if sql.find("\n", s) < 0 else sql.find("\n", s)
            start = bol if not sql[bol:s].strip(" \t\f\v\r") else s
            want.append((sql.count("\n", 0, s) + 1, sql[start:eol]))
    assert meta_command_lines(sql) == want


@pytest.mark.reliability
@settings(max_examples=300, deadline=None)
@given(SOUP)
def test_split_loses_nothing(sql: str) -> None:
    count_case("test_split_loses_nothing")
    stmts = split_statements(sql)
    prev_end = 0
    for s in stmts:
        assert sql[s.start : s.end] == s.text
        assert s.start >= prev_end
        assert (s.line, s.column) == line_col(sql, s.start)
        prev_end = s.end
        body = [t for t in tokenize(sql) if s.start <= t.start < s.end]
        if s.text.endswith(";") and body and body[-1].text == ";" and len(s.tokens) < len(body):
            body = body[:-1]
        assert list(s.tokens) == body
    # Every significant token lies inside a statement, or is an empty statement's ';'.
    for t in tokenize(sql):
        inside = any(s.start <= t.start and t.start + len(t.text) <= s.end for s in stmts)
        assert inside or t.text == ";"


# Generators of valid SQL, for the pglast oracle and the no-split property.
IDENT = st.from_regex(r"[a-z][a-z0-9_]{0,6}", fullmatch=True).map(lambda s: "t_" + s)
TEXT = st.text(alphabet=st.sampled_from(list("ab ;'\"$\\-/*\n()é")), max_size=12)
COMMENT = st.one_of(
    TEXT.map(lambda t: "-- " + t.replace("\n", " ") + "\n"),
    TEXT.map(lambda t: "/* " + t.replace("*/", "").replace("/*", "") + " */"),
    TEXT.map(lambda t: "/* a /* " + t.replace("*/", "").replace("/*", "") + " */ b */"),
)
GAP = st.one_of(st.just(" "), st.just("\n  "), COMMENT.map(lambda c: f" {c} "))


def _dollar(body: str, tag: str) -> str:
    return f"${tag}${body}${tag}$"


LITERAL = st.one_of(
    TEXT.map(lambda t: "'" + t.replace("'", "''") + "'"),
    TEXT.map(lambda t: "E'" + t.replace("\\", "\\\\").replace("'", "\\'") + "'"),
    TEXT.map(lambda t: "E'" + t.replace("\\", "\\\\").replace("'", "''") + "'"),
    st.builds(_dollar, TEXT.map(lambda t: t.replace("$", "")), st.sampled_from(["", "x", "tag_1"])),
    st.builds(lambda t: _dollar(t.replace("$$", "") + "$$;$$", "outer"), TEXT),
    st.integers(0, 10**6).map(str),
    st.just("$q$ $$ ; $$ $q$"),
)
QUOTED = TEXT.map(lambda t: '"' + (t.replace('"', '""') or "x") + '"')


@st.composite
def statement(draw: st.DrawFn) -> str:
    g = draw(GAP)
    kind = draw(st.integers(0, 5))
    if kind == 0:
        return f"SELECT{g}{draw(LITERAL)}{draw(GAP)}AS{g}{draw(QUOTED)}"
    if kind == 1:
        return f"SELECT{g}({draw(LITERAL)},{g}({draw(LITERAL)})){g}AS{g}{draw(IDENT)}"
    if kind == 2:
        return f"CREATE TABLE{g}{draw(IDENT)}{g}(a{g}text DEFAULT{g}{draw(LITERAL)})"
    if kind == 3:
        return f"INSERT INTO{g}{draw(QUOTED)}{g}VALUES{g}({draw(LITERAL)}),({draw(LITERAL)})"
    if kind == 4:
        return (
            f"CREATE FUNCTION{g}{draw(IDENT)}() RETURNS text LANGUAGE plpgsql AS{g}"
            f"$fn$ BEGIN RETURN {draw(LITERAL)}; END; $fn$"
        )
    return "BEGIN" if draw(st.booleans()) else "COMMIT"


ATOMIC = st.builds(
    lambda name, lit: (
        f"CREATE OR REPLACE FUNCTION {name}() RETURNS int LANGUAGE sql BEGIN ATOMIC "
        f"SELECT CASE WHEN {lit} IS NULL THEN 1 ELSE 2 END; SELECT 3; END"
    ),
    IDENT,
    LITERAL,
)


def _script(stmts: list[str], seps: list[str]) -> str:
    return "".join(s + ";" + sep for s, sep in zip(stmts, seps, strict=False))


@pytest.mark.reliability
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(statement(), min_size=1, max_size=6), st.lists(GAP, min_size=6, max_size=6))
def test_no_split_inside_literals_and_comments(stmts: list[str], seps: list[str]) -> None:
    count_case("test_no_split_inside_literals_and_comments")
    sql = _script(stmts, seps)
    assert texts(sql) == [s + ";" for s in stmts]
    assert unterminated(sql) is None


def _pglast_compare(sql: str, with_parser: bool) -> None:
    ours = split_statements(sql)
    theirs = list(pglast.split(sql, with_parser=with_parser, only_slices=True))
    assert len(ours) == len(theirs)
    for s, sl in zip(ours, theirs, strict=True):
        # pglast keeps leading/trailing comments and drops ';'; only comments may differ.
        core = s.text[:-1] if s.text.endswith(";") else s.text
        core_end = s.start + len(core.rstrip())
        assert sl.start <= s.start
        assert core_end <= sl.stop
        assert significant_tokens(sql[sl.start : s.start]) == ()
        assert significant_tokens(sql[core_end : sl.stop]) == ()
        assert significant_tokens(sql[sl.start : sl.stop]) == significant_tokens(core)


@pytest.mark.reliability
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(statement(), min_size=1, max_size=6), st.lists(GAP, min_size=6, max_size=6))
def test_pglast_scanner_oracle(stmts: list[str], seps: list[str]) -> None:
    count_case("test_pglast_scanner_oracle")
    _pglast_compare(_script(stmts, seps), with_parser=False)


@pytest.mark.reliability
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.one_of(statement(), ATOMIC), min_size=1, max_size=5),
    st.lists(GAP, min_size=5, max_size=5),
)
def test_pglast_parser_oracle(stmts: list[str], seps: list[str]) -> None:
    """The real parser agrees, including SQL-standard function bodies."""
    count_case("test_pglast_parser_oracle")
    _pglast_compare(_script(stmts, seps), with_parser=True)


def test_pglast_examples() -> None:
    sql = (
        "SELECT 1; /* c; */ SELECT 'a;b' ;\n-- x;\nSELECT $$;$$; select (1; 2);"
        "select /* a /* b; */ c; */ 1; select e'\\';'; select 2"
    )
    _pglast_compare(sql, with_parser=False)
