"""A round driven by a language model through the real OpenAI and Anthropic SDKs, against a
fake provider on 127.0.0.1: the same tools, sandbox, evaluator and memory as offline."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest
from session_support import PLANTED_KEY, all_text

from aar.agent import experiment_code, run_round, start_round
from aar.config import get_settings
from aar.session import Session, SessionConfig

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tools"))
from fake_llm import FakeLLM, RecordedRequest, ToolCall, Usage

pytestmark = pytest.mark.slow
PAIRS = [("digits-ge5", 42), ("digits-ge5", 43)]


def _tool_results(request: RecordedRequest) -> list[Any]:
    """The tool results the agent has sent back so far, in order (either API)."""
    out = []
    for message in request.body.get("messages", []):
        if message.get("role") == "tool":
            out.append(json.loads(message["content"]))
        content = message.get("content")
        if isinstance(content, list):
            for block in content:
                if isinstance(block, dict) and block.get("type") == "tool_result":
                    text = (
                        block["content"]
                        if isinstance(block["content"], str)
                        else block["content"][0]["text"]
                    )
                    out.append(json.loads(text))
    return out


def _policy(request: RecordedRequest) -> ToolCall:
    """A tiny researcher: baselines, one hypothesis, evaluate, a finding, finish."""
    done = _tool_results(request)
    usage = Usage(input_tokens=1200, output_tokens=80)
    code = experiment_code("label_smoothing", method="smooth", pairs=PAIRS)
    plan = [
        ("list_tasks", {}),
        ("propose_hypothesis", {"statement": "smoothing beats naive", "method": "smooth"}),
        ("run_cell", {"code": code}),
        ("evaluate", {"method": "smooth"}),
    ]
    if len(done) < len(plan):
        name, args = plan[len(done)]
        return ToolCall(name=name, args=args, usage=usage)
    naive_ids = done[0]["baselines"]["naive"]["digits-ge5"]["record_ids"]
    mine = done[3]["tasks"]["digits-ge5"]["record_ids"]
    if len(done) == len(plan):
        finding = {
            "hypothesis_id": done[1]["id"],
            "summary": "label smoothing compared with naive",
            "verdict": "inconclusive",
            "eval_record_ids": mine + naive_ids,
        }
        return ToolCall(name="record_finding", args=finding, usage=usage)
    return ToolCall(name="finish_round", args={"summary": "one hypothesis tested"}, usage=usage)


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_a_provider_model_runs_a_round(workspace: Path, provider: str, monkeypatch) -> None:
    from pydantic_ai import models

    monkeypatch.setattr(models, "ALLOW_MODEL_REQUESTS", True)
    monkeypatch.setenv("OPENAI_API_KEY", PLANTED_KEY)
    monkeypatch.setenv("ANTHROPIC_API_KEY", PLANTED_KEY)
    with FakeLLM(_policy) as server:
        url = server.openai_base_url if provider == "openai" else server.anthropic_base_url
        config = SessionConfig(
            tasks=["digits-ge5"],
            seeds=[42, 43],
            hypotheses=1,
            model=f"{provider}:fake-model",
            base_url=url,
        )
        session = Session.create(get_settings().runs_dir, config)
        try:
            start_round(session)
            why = run_round(session)
        finally:
            session.shutdown()
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
