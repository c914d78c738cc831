"""Agent tests: the fake LLM servers are importable, and no model request leaves by accident.

`tools/fake_llm.py` is a script as well as a module; `tools/` goes on `sys.path` so tests can
`from fake_llm import FakeLLM, ...`. pydantic-ai's `ALLOW_MODEL_REQUESTS` is off for every test
here; a test that drives a real model class against a fake server turns it on for that block
only (`override_allow_model_requests(True)`). Offline tokenizer files go to the run's own folder.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

TOOLS = Path(__file__).resolve().parents[2] / "tools"
if str(TOOLS) not in sys.path:
    sys.path.insert(0, str(TOOLS))
os.environ.setdefault("TIKTOKEN_CACHE_DIR", tempfile.mkdtemp(prefix="aar-test-tiktoken-"))


@pytest.fixture(autouse=True)
def _no_model_requests(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    from pydantic_ai import models

    monkeypatch.setattr(models, "ALLOW_MODEL_REQUESTS", False)
    yield
