"""`aar.files`: the checks and writes every command's outputs go through never clobber a file,
never leave a half-written one, and refuse unusable places with one line."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from aar.errors import PathError
from aar.files import (
    check_creatable,
    check_empty_or_creatable,
    check_writable_dir,
    write_atomic,
    write_new,
    write_new_dir,
)


def test_write_new_never_replaces_a_file(tmp_path: Path) -> None:
    target = tmp_path / "summary.json"
    target.write_text("earlier results")
    with pytest.raises(PathError, match="left as it is"):
        write_new(target, "new results")
    assert target.read_text() == "earlier results" and os.listdir(tmp_path) == ["summary.json"]


def test_write_new_dir_fills_an_empty_directory_at_once(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    write_new_dir(out, {"a.json": "{}", "b.png": b"\x89PNG"})
    assert sorted(os.listdir(out)) == ["a.json", "b.png"]
    assert sorted(os.listdir(tmp_path)) == ["out"]  # no staging directory left behind


def test_write_new_dir_refuses_a_non_empty_directory_untouched(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "summary.json").write_text("keep")
    with pytest.raises(PathError, match="not empty; nothing was written"):
        write_new_dir(out, {"summary.json": "new"})
    assert (out / "summary.json").read_text() == "keep"
    assert sorted(os.listdir(tmp_path)) == ["out"] and os.listdir(out) == ["summary.json"]


def test_write_atomic_replaces_whole(tmp_path: Path) -> None:
    target = tmp_path / "cache.json"
    target.write_text("old")
    write_atomic(target, "new")
    assert target.read_text() == "new" and os.listdir(tmp_path) == ["cache.json"]


@pytest.mark.parametrize(
    ("check", "where", "match"),
    [
        (check_writable_dir, "afile", "not a directory"),
        (check_writable_dir, "missing", "does not exist"),
        (check_writable_dir, "/proc", "not writable"),
        (check_creatable, "afile", "already exists"),
        (check_creatable, "afile/x", "not a directory"),
        (check_creatable, "missing/x", "does not exist"),
        (check_creatable, "/proc/x", "not writable"),
        (check_empty_or_creatable, "full", "not empty"),
        (check_empty_or_creatable, "afile", "not a directory"),
        (check_empty_or_creatable, "/proc/x/y", "not writable"),
    ],
)
def test_unusable_places_are_refused(tmp_path: Path, check, where: str, match: str) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "afile").write_text("x")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "keep").write_text("x")
    before = sorted(os.listdir(tmp_path))
    with pytest.raises(PathError, match=match) as info:
        check(tmp_path / where, "output")
    assert "\n" not in str(info.value) and sorted(os.listdir(tmp_path)) == before
