"""A long language-model round against a provider with a small context window: old cell outputs
and code are condensed before each request, so the round completes where the whole history
would have been refused (HTTP 400 "context length exceeded"). Real OpenAI SDK on 127.0.0.1."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from llm_support import run_fake_round, smoothing_researcher

from aar.agent import count_message_tokens
from aar.agent._model import history_path, load_history
from aar.config import get_settings

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tools"))
from fake_llm import FakeLLM, request_tokens

pytestmark = pytest.mark.slow
CONTEXT = 10_000
"""The fake provider's context window, in input tokens (the instructions alone, which list the
method space, are 1,841 by o200k_base for the default goal)."""


def test_a_long_round_fits_a_small_context_window(
    workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pydantic_ai import models

    monkeypatch.setattr(models, "ALLOW_MODEL_REQUESTS", True)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.setenv("AAR_AGENT__HISTORY__MAX_TOKENS", str(CONTEXT - 1000))
    monkeypatch.setenv("AAR_AGENT__HISTORY__KEEP_TURNS", "2")
    get_settings.cache_clear()
    researcher = smoothing_researcher(filler_cells=4)
    with FakeLLM(researcher, max_context_tokens=CONTEXT) as server:
        session, why = run_fake_round(server.openai_base_url)
    assert why == "finished by the agent", why
    assert set(server.statuses.values()) == {200} and len(server.requests) == 10
    assert max(request_tokens(r.body) for r in server.requests) <= CONTEXT
    # the saved history is whole, and sent whole it would not have fitted
    whole = load_history(history_path(session, 1))
    assert count_message_tokens(whole, "fake-model") > CONTEXT + 2000
    last = server.requests[-1].raw.decode()
    assert "[condensed: this run_cell output" in last and "# [condensed:" in last
    assert len(session.state.findings) == 1
