"""Team tests run in their own runs/ and memory/ directories (settings from the env, which
the Dask workers and each researcher's process inherit)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from aar.config import get_settings


@pytest.fixture
def team_workspace(tmp_path: Path) -> Iterator[Path]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AAR_RUNS_DIR", str(tmp_path / "runs"))
        mp.setenv("AAR_MEMORY_PATH", str(tmp_path / "memory"))
        mp.delenv("AAR_MEMORY_URL", raising=False)
        get_settings.cache_clear()
        yield tmp_path
    get_settings.cache_clear()
