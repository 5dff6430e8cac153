"""Discovery of migration directories: every problem reported at once, each naming its file."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from sqlmig.errors import DiscoveryError
from sqlmig.migrations import discover, parse_filename


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
