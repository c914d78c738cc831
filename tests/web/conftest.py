"""Fixtures of the web tests: the real session is built once per test run; each module works
on a copy of its own (runs dir, audit log, findings memory)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from web_support import Built, Site, build_session, copy_site

from aar.config import get_settings


def _use(mp: pytest.MonkeyPatch, root: Path) -> None:
    mp.setenv("AAR_RUNS_DIR", str(root / "runs"))
    mp.setenv("AAR_MEMORY_PATH", str(root / "memory"))
    mp.delenv("AAR_REVIEW__REVIEWERS", raising=False)
    get_settings.cache_clear()


@pytest.fixture(scope="session")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    root = tmp_path_factory.mktemp("web-built")
    with pytest.MonkeyPatch.context() as mp:
        _use(mp, root)
        made = build_session(root)
    get_settings.cache_clear()
    return made


@pytest.fixture(scope="module")
def site(built: Built, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """A module's own copy of the built session (settings point at it)."""
    root = tmp_path_factory.mktemp("web-site")
    with pytest.MonkeyPatch.context() as mp:
        _use(mp, root)
        yield copy_site(built, root)
    get_settings.cache_clear()


@pytest.fixture
def fresh_site(built: Built, tmp_path: Path) -> Iterator[Site]:
    """A test's own copy, for tests that decide what other tests read."""
    with pytest.MonkeyPatch.context() as mp:
        _use(mp, tmp_path)
        yield copy_site(built, tmp_path)
    get_settings.cache_clear()
