"""Fixtures of the review tests: a fresh review key and runs directory per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from aar.config import get_settings


@pytest.fixture
def key_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A review key path of this test's own (not created: the first decision creates it)."""
    path = tmp_path / "keys" / "review-key"
    monkeypatch.setenv("AAR_REVIEW__KEY_FILE", str(path))
    monkeypatch.setenv("AAR_REVIEWER", "ana")
    get_settings.cache_clear()
    yield path
    get_settings.cache_clear()


@pytest.fixture
def runs(tmp_path: Path, key_file: Path) -> Path:
    path = tmp_path / "runs"
    path.mkdir()
    return path
