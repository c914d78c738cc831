"""Suite-wide guards: tests never reach the network or a real LLM provider.

Offline flags and the removal of provider keys happen at import, before any test module
imports a library that reads them. Outbound connections from the test process to anything
but loopback fail loudly, so an accidental download is a test failure, not a slow pass.
"""

from __future__ import annotations

import hashlib
import os
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from aar.net import is_loopback

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
for _key in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY"):
    os.environ.pop(_key, None)
# A task key of the test run's own (inherited by subprocesses): tests never read or create the
# user's key, and no key of a user is in the repository (tests/session/data holds one made only
# for an archived session fixture, which no installed aar or sandbox reads).
#
# The test run's task key is fixed, so a test of a keyed task's statistics (a naive PGR, an
# attack's gain, a split's balance) has one outcome, not a pass rate over random keys: those
# distributions over keys are measured by tools/bench/bench_task_keys.py. AAR_TEST_TASK_KEY=random
# draws a fresh key instead, to try the suite under another key.
_TEST_KEY_FILE = Path(tempfile.mkdtemp(prefix="aar-test-key-")) / "key"
if os.environ.get("AAR_TEST_TASK_KEY") != "random":
    _TEST_KEY_FILE.write_bytes(hashlib.sha256(b"aar test suite task key, v1").digest())
    _TEST_KEY_FILE.chmod(0o600)
os.environ["AAR_BENCH__KEY_FILE"] = str(_TEST_KEY_FILE)
os.environ["AAR_REVIEW__KEY_FILE"] = str(Path(tempfile.mkdtemp(prefix="aar-test-key-")) / "review")
# The installation's scorer ledger (aar.scorer) of the test run; `_own_scorer` below gives each
# test its own, so one test's submissions never move another's ladder or pool budget.
os.environ["AAR_SCORER__DIR"] = tempfile.mkdtemp(prefix="aar-test-scorer-")

_real_connect = socket.socket.connect


def _is_loopback(address: object) -> bool:
    if not isinstance(address, tuple):  # AF_UNIX paths are local by definition
        return True
    return is_loopback(str(address[0]))


def _guarded_connect(self: socket.socket, address: object) -> None:
    if not _is_loopback(address):
        raise RuntimeError(f"test tried to reach the network: {address!r}")
    _real_connect(self, address)


@pytest.fixture(autouse=True, scope="session")
def _no_network() -> Iterator[None]:
    socket.socket.connect = _guarded_connect  # type: ignore[method-assign]
    yield
    socket.socket.connect = _real_connect  # type: ignore[method-assign]


@pytest.fixture(autouse=True)
def _own_scorer(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """A fresh scorer ledger per test (inherited by the subprocesses it starts)."""
    from aar.config import get_settings

    monkeypatch.setenv("AAR_SCORER__DIR", str(tmp_path_factory.mktemp("scorer")))
    get_settings.cache_clear()


@pytest.fixture
def new_key(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    """A fresh task key for one test; settings and key caches are reset before and after."""
    from aar.bench import _key
    from aar.config import get_settings

    def reset() -> None:
        get_settings.cache_clear()
        _key._read_or_create.cache_clear()

    monkeypatch.setenv("AAR_BENCH__KEY_FILE", str(tmp_path / "task-key"))
    reset()
    yield tmp_path / "task-key"
    monkeypatch.undo()
    reset()
