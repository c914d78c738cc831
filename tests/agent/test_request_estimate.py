"""The pre-request token estimate against what a provider receives, over real HTTP.

The fake server counts every request body it gets with the same tokenizer (its texts, message
framing, and each tool definition as the JSON it was sent as). The session's estimate is made
from pydantic-ai's messages before they are mapped to either API, so the two are independent
counts of the same request. A multi-turn run with the session's own (~600-token) instructions
catches an estimate that counts the instructions once per earlier request.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fake_llm import FakeLLM, ToolCall, request_tokens
from pydantic import BaseModel
from pydantic_ai import Agent
from pydantic_ai.models import override_allow_model_requests
from pydantic_ai.models.wrapper import WrapperModel

from aar.agent import build_model, count_tokens
from aar.agent import request_tokens as estimate_tokens
from aar.agent._prompts import instructions
from aar.session import SessionConfig

TOLERANCE = 20
"""Tokens either way: framing the two counts place differently (a system message, tool JSON)."""


class Sum(BaseModel):
    answer: str
    total: int


class EstimatingModel(WrapperModel):
    """Records the session's estimate of each request just before it is sent."""

    def __init__(self, wrapped: Any) -> None:
        super().__init__(wrapped)
        self.estimates: list[int] = []

    async def request(self, messages, model_settings, model_request_parameters):  # type: ignore[no-untyped-def]
        self.estimates.append(estimate_tokens(messages, model_request_parameters, "gpt-4o"))
        return await self.wrapped.request(messages, model_settings, model_request_parameters)


@pytest.fixture
def allowed() -> Iterator[None]:
    with override_allow_model_requests(True):
        yield


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_the_estimate_matches_what_the_server_received(provider: str, allowed: None) -> None:
    prompt = instructions(SessionConfig(), followup=False)
    assert count_tokens(prompt, "gpt-4o") > 400  # the bug cost this much per earlier turn
    script = [ToolCall(name="add", args={"a": i, "b": 3}) for i in range(6)]
    script.append(ToolCall(name="final_result", args={"answer": "sum", "total": 5}))
    with FakeLLM(script, count_input=True) as srv:
        url = srv.openai_base_url if provider == "openai" else srv.anthropic_base_url
        model = EstimatingModel(build_model(f"{provider}:gpt-4o", base_url=url, env={}))
        agent = Agent(model, output_type=Sum, instructions=prompt)

        @agent.tool_plain
        def add(a: int, b: int) -> str:
            """Add two integers."""
            return f"the sum is {a + b}; " * 10

        result = agent.run_sync("Add the numbers.")
    received = [request_tokens(r.body) for r in srv.requests]
    assert len(received) == len(model.estimates) == 7
    for estimate, real in zip(model.estimates, received, strict=True):
        assert abs(estimate - real) <= TOLERANCE, (model.estimates, received)
    # the provider's usage is the server's own count of the same bodies
    assert result.usage.input_tokens == sum(received)
