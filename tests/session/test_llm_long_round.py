"""A long language-model round against a provider with a small context window: old cell outputs
and code are condensed before each request, so the round completes where the whole history
would have been refused (HTTP 400 "context length exceeded"). Real OpenAI SDK on 127.0.0.1."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from aar.agent import count_message_tokens, experiment_code, run_round, start_round
from aar.agent._model import history_path, load_history
from aar.config import get_settings
from aar.session import Session, SessionConfig

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tools"))
from fake_llm import FakeLLM, RecordedRequest, ToolCall, request_tokens

pytestmark = pytest.mark.slow
PAIRS = [("digits-ge5", 42), ("digits-ge5", 43)]
CONTEXT = 9000
"""The fake provider's context window, in input tokens."""
FILLER = "print(' '.join(f'w{i}x' for i in range(700)))"
"""A cell with a long output (~4,000 characters), as exploring data gives."""


def _tool_results(request: RecordedRequest) -> list[Any]:
    """Tool results in order; a condensed one is its placeholder text, not JSON."""
    out: list[Any] = []
    for message in request.body["messages"]:
        if message.get("role") == "tool":
            try:
                out.append(json.loads(message["content"]))
            except ValueError:
                out.append(message["content"])
    return out


def _policy(request: RecordedRequest) -> ToolCall:
    """Baselines, a hypothesis, training, four long-output cells, evaluate, finding, finish."""
    done = _tool_results(request)
    plan = [
        ("list_tasks", {}),
        ("propose_hypothesis", {"statement": "smoothing beats naive", "method": "smooth"}),
        ("run_cell", {"code": experiment_code("label_smoothing", method="smooth", pairs=PAIRS)}),
        *[("run_cell", {"code": FILLER})] * 4,
        ("evaluate", {"method": "smooth"}),
    ]
    if len(done) < len(plan):
        name, args = plan[len(done)]
        return ToolCall(name=name, args=args)
    if len(done) == len(plan):
        naive_ids = done[0]["baselines"]["naive"]["digits-ge5"]["record_ids"]
        finding = {
            "hypothesis_id": done[1]["id"],
            "summary": "label smoothing compared with naive",
            "verdict": "inconclusive",
            "eval_record_ids": done[-1]["tasks"]["digits-ge5"]["record_ids"] + naive_ids,
        }
        return ToolCall(name="record_finding", args=finding)
    return ToolCall(name="finish_round", args={"summary": "one hypothesis tested"})


def test_a_long_round_fits_a_small_context_window(
    workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pydantic_ai import models

    monkeypatch.setattr(models, "ALLOW_MODEL_REQUESTS", True)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.setenv("AAR_AGENT__HISTORY__MAX_TOKENS", str(CONTEXT - 1000))
    monkeypatch.setenv("AAR_AGENT__HISTORY__KEEP_TURNS", "2")
    get_settings.cache_clear()
    with FakeLLM(_policy, max_context_tokens=CONTEXT) as server:
        config = SessionConfig(
            tasks=["digits-ge5"],
            seeds=[42, 43],
            hypotheses=1,
            model="openai:fake-model",
            base_url=server.openai_base_url,
        )
        session = Session.create(get_settings().runs_dir, config)
        try:
            start_round(session)
            why = run_round(session)
        finally:
            session.shutdown()
    assert why == "finished by the agent", why
    assert set(server.statuses.values()) == {200} and len(server.requests) == 10
    assert max(request_tokens(r.body) for r in server.requests) <= CONTEXT
    # the saved history is whole, and sent whole it would not have fitted
    whole = load_history(history_path(session, 1))
    assert count_message_tokens(whole, "fake-model") > CONTEXT + 2000
    last = server.requests[-1].raw.decode()
    assert "[condensed: this run_cell output" in last and "# [condensed:" in last
    assert len(session.state.findings) == 1
