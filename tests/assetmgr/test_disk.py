"""Which files count as assets, and when one is settled enough to read."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from keyforge_assetmgr.disk import (
    EMPTY_SETTLE_S,
    Refused,
    Unsettled,
    is_ignored,
    list_asset_files,
    open_for_writing,
    read_settled,
)
from tests.assetmgr.harness import write_file


def read(root: Path, rel: str, settle_s: float = 0.05, max_bytes: int = 1000) -> bytes | None:
    return read_settled(root, rel, max_bytes=max_bytes, settle_s=settle_s)


def test_hidden_and_temporary_files_are_not_assets(tmp_path: Path) -> None:
    for rel in ("a.json", "dir/b.csv", ".git/config", "dir/.c.swp", "d.json~", "#e#", "f.tmp"):
        write_file(tmp_path / rel, b"x")
    assert list_asset_files(tmp_path) == ["a.json", "dir/b.csv"]
    assert is_ignored(".hidden/x")
    assert not is_ignored("corpora/default/1grams.csv")


def test_symlinks_may_not_leave_the_directory(tmp_path: Path) -> None:
    root = tmp_path / "assets"
    write_file(tmp_path / "outside.txt", b"secret")
    write_file(root / "inside.txt", b"fine")
    (root / "leak.txt").symlink_to(tmp_path / "outside.txt")
    (root / "alias.txt").symlink_to(root / "inside.txt")
    (root / "dirlink").symlink_to(tmp_path)
    with pytest.raises(Refused):
        read(root, "leak.txt")
    assert read(root, "alias.txt") == b"fine"
    assert "dirlink/outside.txt" not in list_asset_files(root)
    with pytest.raises(Refused):
        read(root, "dirlink/outside.txt")


def test_unsafe_names_and_oversized_files_are_refused(tmp_path: Path) -> None:
    write_file(tmp_path / "big.bin", b"x" * 2000)
    write_file(tmp_path / "a b.txt", b"x")
    with pytest.raises(Refused):
        read(tmp_path, "big.bin")
    with pytest.raises(Refused):
        read(tmp_path, "a b.txt")
    assert read(tmp_path, "missing.txt") is None


def test_a_file_being_written_is_not_read(tmp_path: Path) -> None:
    path = tmp_path / "w.json"
    path.write_bytes(b"{")  # modified just now
    with pytest.raises(Unsettled):
        read(tmp_path, "w.json", settle_s=5)
    past = time.time() - 10
    with path.open("ab") as handle:
        handle.write(b'"a"')
        handle.flush()
        os.utime(path, (past, past))
        assert open_for_writing(str(path))
        with pytest.raises(Unsettled):
            read(tmp_path, "w.json")
    assert not open_for_writing(str(path))
    assert read(tmp_path, "w.json") == b'{"a"'


def test_an_empty_file_must_stay_empty_longer_before_it_is_read(tmp_path: Path) -> None:
    # An in-place rewrite empties the file before its writer's descriptor shows in
    # /proc: a file emptied a moment ago (no writer visible) is not trusted yet.
    path = tmp_path / "a.bin"
    write_file(path, b"")
    recently = time.time() - 0.5
    os.utime(path, (recently, recently))
    with pytest.raises(Unsettled) as unsettled:
        read(tmp_path, "a.bin")
    assert 1.0 < unsettled.value.retry_after_s <= EMPTY_SETTLE_S
    long_ago = time.time() - EMPTY_SETTLE_S - 1
    os.utime(path, (long_ago, long_ago))
    assert read(tmp_path, "a.bin") == b""
    # A non-empty file needs only the ordinary quiet period.
    write_file(path, b"x")
    os.utime(path, (recently, recently))
    assert read(tmp_path, "a.bin") == b"x"
