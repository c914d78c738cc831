"""Session tests run in their own runs/ and memory/ directories (settings from the env)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from aar.config import get_settings


def _use(mp: pytest.MonkeyPatch, root: Path) -> None:
    mp.setenv("AAR_RUNS_DIR", str(root / "runs"))
    mp.setenv("AAR_MEMORY_PATH", str(root / "memory"))
    get_settings.cache_clear()


@pytest.fixture
def workspace(tmp_path: Path) -> Iterator[Path]:
    """A fresh runs/ and memory/ for one test."""
    with pytest.MonkeyPatch.context() as mp:
        _use(mp, tmp_path)
        yield tmp_path
    get_settings.cache_clear()


@pytest.fixture(scope="module")
def module_workspace(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A runs/ and memory/ shared by a module's tests (for one expensive session)."""
    root = tmp_path_factory.mktemp("ws")
    with pytest.MonkeyPatch.context() as mp:
        _use(mp, root)
        yield root
    get_settings.cache_clear()
