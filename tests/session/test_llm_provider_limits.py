"""A language-model round against a provider that behaves like a real one: it throttles (429
with Retry-After), fails (503), bills the input tokens it counts in each request, and is asked
for a cap on each response. Through the real OpenAI SDK on 127.0.0.1."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from llm_support import run_fake_round, smoothing_researcher

from aar.config import get_settings
from aar.session import Budgets, Session

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tools"))
from fake_llm import FakeLLM, Usage, request_tokens

pytestmark = pytest.mark.slow
TOLERANCE = 20
"""Tokens either way between the session's estimate and the server's count of a request."""
SLACK = 400
"""A token budget's room beyond what a first session of the same round used."""


@dataclass
class Round:
    session: Session
    server: FakeLLM
    why: str
    estimates: list[int]
    """The session's estimate before each request it counted."""


def _run(budgets: Budgets, **server_options: Any) -> Round:
    estimates: list[int] = []
    original = Session.before_request

    def spy(self: Session, input_tokens: int, usd: float | None) -> None:
        estimates.append(input_tokens)
        original(self, input_tokens, usd)

    researcher = smoothing_researcher(Usage(output_tokens=80))
    with (
        FakeLLM(researcher, count_input=True, **server_options) as server,
        pytest.MonkeyPatch.context() as mp,
    ):
        mp.setattr(Session, "before_request", spy)
        session, why = run_fake_round(server.openai_base_url, budgets=budgets)
    return Round(session, server, why, estimates)


@pytest.fixture(scope="module")
def throttled(module_workspace: Path) -> Iterator[Round]:
    from pydantic_ai import models

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(models, "ALLOW_MODEL_REQUESTS", True)
        mp.delenv("OPENAI_API_KEY", raising=False)
        mp.setenv("AAR_AGENT__RETRY__BACKOFF_S", "0.05")
        mp.setenv("AAR_AGENT__MAX_TOKENS", "1234")
        get_settings.cache_clear()
        yield _run(Budgets(), throttle=2, retry_after=1.0, fail_503=2)
    get_settings.cache_clear()


def test_the_round_completes_through_throttling_and_503s(throttled: Round) -> None:
    assert throttled.why == "finished by the agent", throttled.why
    statuses = [throttled.server.statuses[i] for i in range(len(throttled.server.requests))]
    assert statuses == [429, 429, 503, 503] + [200] * 6
    first, second = throttled.server.requests[:2]
    assert second.at - first.at >= 1.0  # Retry-After, not the 0.05 s backoff
    events = (throttled.session.root / "events.jsonl").read_text()
    assert events.count("rate limited (HTTP 429)") == 2 and events.count("HTTP 503 on") == 2


def test_only_answered_requests_are_counted_and_billed(throttled: Round) -> None:
    usage = throttled.session.state.usage
    answered = [r for r in throttled.server.requests if throttled.server.statuses[r.index] == 200]
    assert usage.requests == len(answered) == 6
    assert usage.input_tokens == sum(request_tokens(r.body) for r in answered)


def test_each_request_carries_max_tokens(throttled: Round) -> None:
    for request in throttled.server.requests:
        assert request.body["max_tokens"] == 1234
        assert "max_completion_tokens" not in request.body


def test_the_estimate_is_what_the_server_received(throttled: Round) -> None:
    answered = [r for r in throttled.server.requests if throttled.server.statuses[r.index] == 200]
    received = [request_tokens(r.body) for r in answered]
    assert len(throttled.estimates) == len(received)
    for estimate, real in zip(throttled.estimates, received, strict=True):
        assert abs(estimate - real) <= TOLERANCE, (throttled.estimates, received)


def test_a_token_budget_the_real_usage_fits_lets_the_round_finish(
    throttled: Round, module_workspace: Path
) -> None:
    """The round needs N tokens by the provider's count; a budget of N plus a little ended it
    early when the estimate counted the instructions once per earlier request (~2,700 tokens
    too many by the last request). The slack covers what differs between two sessions' texts
    (ids, timings: tens of tokens)."""
    from pydantic_ai import models

    needed = throttled.session.state.usage.tokens
    assert needed > 15_000  # six requests: the old estimate's excess (~2,700) >> SLACK
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(models, "ALLOW_MODEL_REQUESTS", True)
        mp.delenv("OPENAI_API_KEY", raising=False)
        again = _run(Budgets(tokens=needed + SLACK))
    assert again.why == "finished by the agent", again.why
    assert again.session.state.usage.tokens <= needed + SLACK


def test_a_retry_wait_past_the_wall_clock_ends_the_round_at_once(workspace: Path) -> None:
    """A Retry-After the round's minutes cannot cover is not slept through: the round ends on
    its wall-clock budget, named, at the first 429."""
    import time

    from pydantic_ai import models

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(models, "ALLOW_MODEL_REQUESTS", True)
        mp.delenv("OPENAI_API_KEY", raising=False)
        started = time.monotonic()
        ended = _run(Budgets(minutes=1), throttle=5, retry_after=100)
    assert ended.why.startswith("wall-clock budget of 1 minutes would pass while waiting 100.0 s")
    assert len(ended.server.requests) == 1 and time.monotonic() - started < 60
    assert ended.session.state.usage.requests == 0
