"""Rate limits and transient errors, retried by `RetryingModel` through the real SDKs over HTTP.

The fake server throttles (429 with Retry-After), fails (503) and rejects over-long requests
(400) as providers do. A session's model has the SDK's own retries off (`max_retries=0`), so
every attempt the server records is one this wrapper made.
"""

from __future__ import annotations

import email.utils
from collections.abc import Iterator

import pytest
from fake_llm import FakeLLM, HttpError, ToolCall
from pydantic import BaseModel
from pydantic_ai import Agent
from pydantic_ai.exceptions import ModelHTTPError
from pydantic_ai.models import override_allow_model_requests

from aar.agent import RetryingModel, build_model, retry_after_s
from aar.config import RetrySettings

FAST = RetrySettings(attempts=5, backoff_s=0.01, max_backoff_s=0.05)


class Sum(BaseModel):
    answer: str
    total: int


def answer() -> list:
    return [ToolCall(name="final_result", args={"answer": "five", "total": 5})]


def run(
    srv: FakeLLM, policy: RetrySettings = FAST, provider: str = "openai"
) -> tuple[Sum, list[tuple[float, str]]]:
    """One agent run through `RetryingModel`; its output and the (wait, why) of each retry."""
    url = srv.openai_base_url if provider == "openai" else srv.anthropic_base_url
    model = build_model(f"{provider}:fake-model", base_url=url, env={}, max_retries=0)
    retries: list[tuple[float, str]] = []
    wrapped = RetryingModel(model, policy, before_retry=lambda w, why: retries.append((w, why)))
    output = Agent(wrapped, output_type=Sum).run_sync("2+3").output
    return output, retries


@pytest.fixture(autouse=True)
def allowed() -> Iterator[None]:
    with override_allow_model_requests(True):
        yield


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_a_rate_limit_waits_as_long_as_retry_after_says(provider: str) -> None:
    with FakeLLM(answer(), throttle=2, retry_after=0.4) as srv:
        output, retries = run(srv, provider=provider)
    assert output.total == 5
    assert [srv.statuses[i] for i in range(3)] == [429, 429, 200]
    gaps = [b.at - a.at for a, b in zip(srv.requests, srv.requests[1:], strict=False)]
    assert all(gap >= 0.4 for gap in gaps), gaps  # not the 0.01 s backoff
    assert [wait for wait, _ in retries] == [0.4, 0.4]
    assert "fake-model: rate limited (HTTP 429) on attempt 1 of 5; retrying in 0.4 s" in retries[0]


def test_a_503_backs_off_exponentially_and_recovers() -> None:
    policy = RetrySettings(attempts=5, backoff_s=0.02, max_backoff_s=0.05)
    with FakeLLM(answer(), fail_503=3) as srv:
        output, retries = run(srv, policy)
    assert output.total == 5 and len(srv.requests) == 4
    assert [wait for wait, _ in retries] == [0.02, 0.04, 0.05]  # doubling, capped
    assert "HTTP 503 on attempt 3 of 5" in retries[2][1]


def test_retries_are_bounded() -> None:
    with FakeLLM(answer(), fail_503=10) as srv, pytest.raises(ModelHTTPError) as caught:
        run(srv, RetrySettings(attempts=3, backoff_s=0.01))
    assert caught.value.status_code == 503 and len(srv.requests) == 3


def test_an_over_long_request_is_not_retried() -> None:
    with FakeLLM(answer(), max_context_tokens=5) as srv, pytest.raises(ModelHTTPError) as caught:
        run(srv)
    assert caught.value.status_code == 400 and len(srv.requests) == 1
    assert "maximum context length is 5 tokens" in str(caught.value.body)


def test_a_retry_after_beyond_the_cap_gives_up_at_once() -> None:
    policy = RetrySettings(attempts=5, max_retry_after_s=1.0)
    with FakeLLM(answer(), throttle=1, retry_after=30) as srv, pytest.raises(ModelHTTPError):
        run(srv, policy)
    assert len(srv.requests) == 1


def test_the_server_saying_do_not_retry_is_believed() -> None:
    script = [HttpError(status=500, retry=False), *answer()]
    with FakeLLM(script) as srv, pytest.raises(ModelHTTPError):
        run(srv)
    assert len(srv.requests) == 1


def test_a_budget_raised_before_a_retry_stops_it() -> None:
    class Stop(Exception):
        pass

    def before_retry(wait: float, why: str) -> None:
        raise Stop(why)

    with FakeLLM(answer(), fail_503=2) as srv, pytest.raises(Stop):
        model = build_model("openai:m", base_url=srv.openai_base_url, env={}, max_retries=0)
        Agent(RetryingModel(model, FAST, before_retry=before_retry), output_type=Sum).run_sync("x")
    assert len(srv.requests) == 1


def test_the_sdk_retries_are_off_when_asked() -> None:
    """Without it the SDK would retry a retryable 500 itself, under the wrapper's count."""
    with FakeLLM([HttpError(retry=True), *answer()]) as srv:
        model = build_model("openai:m", base_url=srv.openai_base_url, env={}, max_retries=0)
        with pytest.raises(ModelHTTPError):
            Agent(model, output_type=Sum).run_sync("x")
    assert len(srv.requests) == 1


def test_retry_after_forms() -> None:
    assert retry_after_s({"retry-after-ms": "250"}) == 0.25
    assert retry_after_s({"retry-after": "3"}) == 3.0
    assert retry_after_s({}) is None
    assert retry_after_s({"retry-after": "soon"}) is None
    date = email.utils.formatdate(1_000_010, usegmt=True)
    assert retry_after_s({"retry-after": date}, now=1_000_000) == pytest.approx(10.0)
