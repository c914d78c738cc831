"""Fixtures of the malformed-input battery (see malformed_support.py for how to add cases)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

# Deterministic (CI runs the same examples every time), no example database in the checkout,
# no per-example deadline (a shared 2-core machine is noisy). MALFORMED_EXAMPLES=2000 runs a
# longer, randomised hunt by hand.
settings.register_profile(
    "aar-malformed",
    derandomize=not os.environ.get("MALFORMED_EXAMPLES"),
    database=None,
    deadline=None,
    max_examples=int(os.environ.get("MALFORMED_EXAMPLES", "60")),
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
settings.load_profile("aar-malformed")

_KEEP = {"AAR_BENCH__KEY_FILE", "AAR_REVIEW__KEY_FILE"}  # the run's own keys (tests/conftest.py)


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fresh current directory; settings read anew; caches and runs outside of it."""
    from aar.config import get_settings

    ws = tmp_path / "ws"
    ws.mkdir()
    for key in list(os.environ):
        if key.upper().startswith("AAR_") and key.upper() not in _KEEP:
            monkeypatch.delenv(key)
    monkeypatch.setenv("AAR_BENCH__CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("AAR_MEMORY_PATH", str(tmp_path / "memory"))
    monkeypatch.setenv("COLUMNS", "250")
    monkeypatch.chdir(ws)
    get_settings.cache_clear()
    yield ws
    get_settings.cache_clear()
