"""Discovery of migration directories: every problem reported at once, each naming its file."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from sqlmig.errors import ConfigError, DiscoveryError, RefusedError
from sqlmig.file_checks import unread_markers
from sqlmig.migrations import MAX_VERSION, discover, next_version_name, parse_filename, scan


def write(d: Path, name: str, text: str | bytes = "SELECT 1;\n") -> Path:
    p = d / name
    if isinstance(text, bytes):
        p.write_bytes(text)
    else:
        p.write_text(text, encoding="utf-8")
    return p


def problems_of(dirs: list[Path]) -> list[str]:
    with pytest.raises(DiscoveryError) as info:
        discover(dirs)
    assert info.value.exit_code == 3
    return [str(p) for p in info.value.problems]


def test_pairs_sorted_numerically_not_lexically(tmp_path: Path) -> None:
    for v in ("9", "10", "0002", "20261126120000"):
        write(tmp_path, f"{v}_m.up.sql")
        write(tmp_path, f"{v}_m.down.sql")
    assert [m.version for m in discover([tmp_path])] == [2, 9, 10, 20261126120000]


def test_other_files_ignored_but_bad_sql_names_are_errors(tmp_path: Path) -> None:
    write(tmp_path, "README.md", "# notes")
    write(tmp_path, "0001_a.up.sql")
    write(tmp_path, "0001_a.down.sql")
    write(tmp_path, "schema.sql")
    write(tmp_path, "0002_Bad-Name.up.sql")
    write(tmp_path, "0003_x.UP.SQL")
    found = problems_of([tmp_path])
    assert len(found) == 3
    assert any("schema.sql: not a migration file name" in p for p in found)
    assert any("0002_Bad-Name.up.sql" in p for p in found)
    assert any("0003_x.UP.SQL" in p for p in found)


def test_all_problems_at_once(tmp_path: Path) -> None:
    write(tmp_path, "0001_a.up.sql")  # no down
    write(tmp_path, "0002_b.down.sql")  # no up
    write(tmp_path, "0003_c.up.sql")
    write(tmp_path, "0003_d.down.sql")  # name mismatch
    write(tmp_path, "0004_e.up.sql")
    write(tmp_path, "0004_e.down.sql")
    write(tmp_path, "4_f.up.sql")  # duplicate version 4
    write(tmp_path, "0005_g.up.sql", b"SELECT '\xff\xfe';\n")  # not UTF-8
    write(tmp_path, "0005_g.down.sql")
    found = problems_of([tmp_path])
    text = "\n".join(found)
    assert "0001_a.up.sql: has no down file" in text and "0001_a.down.sql" in text
    assert "0002_b.down.sql: has no up file" in text
    assert "0003_d.down.sql: name 'd' does not match its up file 0003_c.up.sql" in text
    assert "version 4 is used twice" in text
    assert "0005_g.up.sql:1: not valid UTF-8" in text
    assert len(found) == 5


def test_bom_and_crlf_do_not_change_checksum(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    write(a, "0001_x.up.sql", "CREATE TABLE t (id int);\nSELECT 1;\n")
    write(a, "0001_x.down.sql", "DROP TABLE t;\n")
    write(b, "0001_x.up.sql", "\ufeffCREATE TABLE t (id int);\r\nSELECT 1;\r\n".encode())
    write(b, "0001_x.down.sql", "DROP TABLE t;\r\n")
    ma, mb = discover([a])[0], discover([b])[0]
    assert ma.checksum == mb.checksum == hashlib.sha256(b"CREATE TABLE t (id int);\nSELECT 1;\n").hexdigest()
    assert mb.up.sql == ma.up.sql


def test_versions_unique_across_directories(tmp_path: Path) -> None:
    a, b = tmp_path / "app", tmp_path / "plugin"
    a.mkdir()
    b.mkdir()
    for d in (a, b):
        write(d, "0001_x.up.sql")
        write(d, "0001_x.down.sql")
    found = problems_of([a, b])
    assert any("version 1 is used twice" in p for p in found)


def test_missing_directory(tmp_path: Path) -> None:
    found = problems_of([tmp_path / "nope"])
    assert "nope: migration directory does not exist" in found[0]


def test_version_overflowing_bigint(tmp_path: Path) -> None:
    write(tmp_path, "99999999999999999999_x.up.sql")
    write(tmp_path, "99999999999999999999_x.down.sql")
    found = problems_of([tmp_path])
    assert all("does not fit a bigint" in p for p in found)


def test_symlink_outside_directory(tmp_path: Path) -> None:
    d = tmp_path / "sql"
    d.mkdir()
    outside = write(tmp_path, "elsewhere.sql")
    (d / "0001_x.up.sql").symlink_to(outside)
    write(d, "0001_x.down.sql")
    found = problems_of([d])
    assert any("symbolic link pointing outside" in p for p in found)


def test_directives(tmp_path: Path) -> None:
    write(tmp_path, "0001_x.up.sql", "-- header\n-- sqlmig:no-transaction\n-- sqlmig:lock_timeout=30s\nSELECT 1;\n")
    write(tmp_path, "0001_x.down.sql")
    m = discover([tmp_path])[0]
    assert m.up.directives.no_transaction
    assert m.up.directives.lock_timeout == "30s"
    assert not m.down.directives.no_transaction


def test_bad_directives(tmp_path: Path) -> None:
    write(tmp_path, "0001_x.up.sql", "-- sqlmig:no-transactoin\n-- sqlmig:lock_timeout=soon\nSELECT 1;\n")
    write(tmp_path, "0001_x.down.sql")
    found = problems_of([tmp_path])
    assert any("0001_x.up.sql:1: unknown directive sqlmig:no-transactoin" in p for p in found)
    assert any("0001_x.up.sql:2: invalid duration 'soon'" in p for p in found)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("0001_create_x.up.sql", (1, "create_x", "up")),
        ("20261126120000_a.down.sql", (20261126120000, "a", "down")),
        ("0001-create.up.sql", None),
        ("0001_create x.up.sql", None),
        ("0001_créer.up.sql", None),
        ("0001_..up.sql", None),
        ("x_create.up.sql", None),
    ],
)
def test_parse_filename(name: str, expected: tuple[int, str, str] | None) -> None:
    assert parse_filename(name) == expected


# ---- hostile directory contents (issue 13): a problem naming the path, never an exception ----


def test_symlink_loops_are_problems(tmp_path: Path) -> None:
    (tmp_path / "0001_self.up.sql").symlink_to("0001_self.up.sql")
    write(tmp_path, "0001_self.down.sql")
    (tmp_path / "0002_ping.up.sql").symlink_to("pong.sql")
    (tmp_path / "pong.sql").symlink_to("0002_ping.up.sql")
    write(tmp_path, "0002_ping.down.sql")
    found = "\n".join(problems_of([tmp_path]))
    assert f"{tmp_path}/0001_self.up.sql: symbolic link loop" in found
    assert f"{tmp_path}/0002_ping.up.sql: symbolic link loop" in found


def test_dangling_symlink_names_its_target(tmp_path: Path) -> None:
    (tmp_path / "0001_x.up.sql").symlink_to("gone.sql")
    write(tmp_path, "0001_x.down.sql")
    assert any(
        p.startswith(f"{tmp_path}/0001_x.up.sql: symbolic link to a missing file (gone.sql)")
        for p in problems_of([tmp_path])
    )


def test_fifo_and_socket_are_named_as_such(tmp_path: Path) -> None:
    import socket

    os.mkfifo(tmp_path / "0001_pipe.up.sql")
    write(tmp_path, "0001_pipe.down.sql")
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(tmp_path / "0002_sock.up.sql"))
        write(tmp_path, "0002_sock.down.sql")
        found = "\n".join(problems_of([tmp_path]))
    assert f"{tmp_path}/0001_pipe.up.sql: a named pipe (FIFO), not a regular file" in found
    assert f"{tmp_path}/0002_sock.up.sql: a socket, not a regular file" in found


def test_undecodable_file_name_is_shown_escaped(tmp_path: Path) -> None:
    """A name that is not UTF-8 reaches Python as lone surrogates, which no UTF-8 output can print."""
    with open(os.fsencode(tmp_path) + b"/0001_caf\xe9.up.sql", "w"):
        pass
    found = problems_of([tmp_path])
    assert found[0].startswith(f"{tmp_path}/0001_caf\\xe9.up.sql: not a migration file name")
    found[0].encode("utf-8")  # printable: no lone surrogate left


@pytest.mark.parametrize("spelling", ["same", "dot", "symlink"])
def test_a_directory_given_twice_is_a_usage_error(tmp_path: Path, spelling: str) -> None:
    d = tmp_path / "sql"
    d.mkdir()
    write(d, "0001_x.up.sql")
    write(d, "0001_x.down.sql")
    other = {"same": d, "dot": tmp_path / "sql" / ".." / "sql", "symlink": tmp_path / "link"}[spelling]
    if spelling == "symlink":
        other.symlink_to(d)
    with pytest.raises(ConfigError) as info:
        discover([d, other])
    assert info.value.exit_code == 2
    if spelling == "same":
        assert info.value.message == f"the migration directory {d} is given twice"
    else:
        assert info.value.message == f"{other} is the same migration directory as {d}, given twice"
    assert "list each migration directory once" in info.value.hint


def test_directory_problems_never_raise(tmp_path: Path) -> None:
    (tmp_path / "loop").symlink_to("loop")
    (tmp_path / "dangling").symlink_to("nowhere")
    (tmp_path / "afile").write_text("")
    found = problems_of([tmp_path / "loop", tmp_path / "dangling", tmp_path / "afile" / "sql", tmp_path / ("a" * 5000)])
    assert found[0].startswith(f"{tmp_path}/loop: symbolic link loop")
    assert found[1].startswith(f"{tmp_path}/dangling: symbolic link to a missing directory (nowhere)")
    assert found[2].startswith(f"{tmp_path}/afile/sql: not a directory")
    assert found[3].startswith(f"{tmp_path}/{'a' * 5000}: cannot be read: File name too long")


def test_a_directory_that_vanishes_while_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Another process removes the folder between its check and its listing: the race, made certain."""
    d = tmp_path / "sql"
    d.mkdir()
    real_scandir = os.scandir

    def remove_then_list(path: str) -> object:
        d.rmdir()
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", remove_then_list)
    assert problems_of([d])[0].startswith(f"{d}: cannot list the directory: No such file or directory")


def test_scan_reads_every_readable_file_despite_problems(tmp_path: Path) -> None:
    """validate reports the content of files discovery could read, paired or not."""
    write(tmp_path, "0001_lonely.up.sql", "COMMIT;\n")
    write(tmp_path, "0002_a.up.sql")
    write(tmp_path, "0002_b.down.sql")
    write(tmp_path, "0003_ok.up.sql")
    write(tmp_path, "0003_ok.down.sql")
    found = scan([tmp_path])
    assert [m.version for m in found.migrations] == [3]
    assert [f.path.name for f in found.files] == [
        "0001_lonely.up.sql",
        "0002_a.up.sql",
        "0002_b.down.sql",
        "0003_ok.up.sql",
        "0003_ok.down.sql",
    ]
    assert len(found.problems) == 2


def test_new_refuses_to_go_past_the_largest_bigint(tmp_path: Path) -> None:
    write(tmp_path, f"{MAX_VERSION}_last.up.sql")
    write(tmp_path, f"{MAX_VERSION}_last.down.sql")
    with pytest.raises(RefusedError) as info:
        next_version_name(discover([tmp_path]), "next")
    assert info.value.exit_code == 3
    assert str(MAX_VERSION) in info.value.message
    assert info.value.problems[0].where == f"{tmp_path}/{MAX_VERSION}_last.up.sql"


def test_new_refuses_a_name_too_long_for_a_file(tmp_path: Path) -> None:
    longest = 255 - len(".0001_.down.sql.tmp")
    assert next_version_name([], "a" * longest) == (1, 4)
    with pytest.raises(ConfigError) as info:
        next_version_name([], "a" * (longest + 1))
    assert info.value.exit_code == 2
    assert f"at most {longest} characters" in info.value.hint


# ---- markers sqlmig does not read: warnings naming file:line (issue 13) ----


def markers(tmp_path: Path, up: str) -> list[str]:
    write(tmp_path, "0001_x.up.sql", up)
    write(tmp_path, "0001_x.down.sql")
    return [str(p) for p in unread_markers(discover([tmp_path])[0].up)]


def test_markers_that_apply_give_no_warning(tmp_path: Path) -> None:
    up = "-- header\n--sqlmig: no-transaction\n-- sqlmig:lock_timeout=1s\nSELECT '-- sqlmig:x';\n"
    assert markers(tmp_path, up) == []


@pytest.mark.parametrize(
    ("up", "line", "fix"),
    [
        ("-- SQLMIG:lock_timeout=1s\nSELECT 1;\n", 1, "-- sqlmig:lock_timeout=1s"),
        ("-- Sqlmig:No-Transaction\nSELECT 1;\n", 1, "-- sqlmig:no-transaction"),
        ("-- sqlmig : no-transaction\nSELECT 1;\n", 1, "-- sqlmig:no-transaction"),
        ("/* sqlmig:no-transaction */\nSELECT 1;\n", 1, "-- sqlmig:no-transaction"),
    ],
)
def test_misspelled_marker_prefix_warns(tmp_path: Path, up: str, line: int, fix: str) -> None:
    found = markers(tmp_path, up)
    assert len(found) == 1, found
    assert f"0001_x.up.sql:{line}:1: not read as a marker" in found[0]
    assert f"write `{fix}`" in found[0]


@pytest.mark.parametrize(
    ("up", "where"),
    [
        ("SELECT 1;\n-- sqlmig:no-transaction\nSELECT 2;\n", "2:1"),
        ("SELECT 1; -- sqlmig:lock_timeout=1s\n", "1:11"),
        ("/* header */\n-- sqlmig:no-transaction\nSELECT 1;\n", "2:1"),
        ("SELECT 1;\n  /* SQLMIG: no-transaction */\n", "2:3"),
    ],
)
def test_marker_below_the_leading_comment_lines_warns(tmp_path: Path, up: str, where: str) -> None:
    found = markers(tmp_path, up)
    assert len(found) == 1, found
    assert f"0001_x.up.sql:{where}: not read as a marker: it is below the file's leading" in found[0]
    assert "move it to the top of the file" in found[0]


def test_a_marker_set_twice_warns_about_the_value_not_used(tmp_path: Path) -> None:
    found = markers(tmp_path, "-- sqlmig:lock_timeout=1s\n-- sqlmig:lock_timeout=5s\nSELECT 1;\n")
    assert len(found) == 1
    assert "0001_x.up.sql:1:1: sqlmig:lock_timeout=1s is not used: line 2 sets it again" in found[0]
    assert discover([tmp_path])[0].up.directives.lock_timeout == "5s"


def test_one_label_for_a_migration_everywhere() -> None:
    """The file's stem, padded as written; version_name when there is no file (issue 14)."""
    from sqlmig.migrations import label

    assert label(1, "x", "sql/0001_x.up.sql") == "0001_x"
    assert label(1, "x", Path("sql/1_x.down.sql")) == "1_x"
    assert label(20240101, "add_y", "db/20240101_add_y.up.sql") == "20240101_add_y"
    assert label(7, "gone") == "7_gone"
    assert label(7, "gone", "7_gone") == "7_gone"  # a path that is no file name of a pair
