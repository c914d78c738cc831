"""A round driven by a language model through the real OpenAI and Anthropic SDKs, against a
fake provider on 127.0.0.1: the same tools, sandbox, evaluator and memory as offline."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from llm_support import run_fake_round, smoothing_researcher
from session_support import PLANTED_KEY, all_text

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tools"))
from fake_llm import FakeLLM, Usage

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_a_provider_model_runs_a_round(workspace: Path, provider: str, monkeypatch) -> None:
    from pydantic_ai import models

    monkeypatch.setattr(models, "ALLOW_MODEL_REQUESTS", True)
    monkeypatch.setenv("OPENAI_API_KEY", PLANTED_KEY)
    monkeypatch.setenv("ANTHROPIC_API_KEY", PLANTED_KEY)
    with FakeLLM(smoothing_researcher(Usage(input_tokens=1200, output_tokens=80))) as server:
        url = server.openai_base_url if provider == "openai" else server.anthropic_base_url
        session, why = run_fake_round(url, model=f"{provider}:fake-model")
    assert why == "finished by the agent", why
    state = session.state
    assert len(state.findings) == 1 and state.usage.requests == len(server.requests) == 6
    assert state.usage.input_tokens == 6 * 1200 and state.usage.output_tokens == 6 * 80
    assert PLANTED_KEY not in all_text(session.root)
    for request in server.requests:
        headers = {k: v for k, v in request.headers.items() if PLANTED_KEY in v}
        assert set(headers) <= {"authorization", "x-api-key"} and headers
        assert PLANTED_KEY.encode() not in request.raw
    assert os.environ["OPENAI_API_KEY"] == PLANTED_KEY
