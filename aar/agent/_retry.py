"""`RetryingModel`: provider rate limits and transient errors, retried within the session's budgets.

Which failures are retried, as the provider SDKs' own rules have it: HTTP 408, 409, 429 and
5xx (529 is Anthropic's "overloaded"), and a request that got no answer at all (a refused or
dropped connection, a timeout: `ModelAPIError` without a status). A server that answers
`x-should-retry: false` is believed. Anything else (400 "context length exceeded", 401, 404)
fails at once: a retry would get the same answer.

The wait before the next attempt is the server's own when it gives one (`retry-after-ms`, or
`Retry-After` in seconds or as an HTTP date), else capped exponential backoff
(`backoff_s * 2**(retry - 1)`, at most `max_backoff_s`). A Retry-After longer than
`max_retry_after_s` ends the request at once rather than sleeping for it. Attempts are bounded
(`attempts`, the first included), so a provider that never recovers fails the request with its
last error.

A session's model has the SDK's own retries switched off (`build_model(max_retries=0)`), so
every attempt is one HTTP request that this module sees, waits for and reports: one retry
policy, not the SDK's nested inside this one.

Budgets: a refused attempt is not billed (providers charge for tokens processed, and a 429 or a
5xx processed none, nor does it report usage), so it counts against neither the request, token
nor USD budget; the session counts a request once, when its answer comes. The wall-clock budget
always applies: `before_retry(wait_s, why)` runs before every wait and may raise to stop it.
"""

from __future__ import annotations

import asyncio
import email.utils
import time
from collections.abc import Callable
from typing import Any

from pydantic_ai.exceptions import ModelAPIError, ModelHTTPError
from pydantic_ai.messages import ModelMessage, ModelResponse
from pydantic_ai.models import ModelRequestParameters
from pydantic_ai.models.wrapper import WrapperModel
from pydantic_ai.settings import ModelSettings

from aar.config import RetrySettings

RETRIED_STATUSES = frozenset({408, 409, 429})
"""Besides every 5xx: the statuses the OpenAI and Anthropic SDKs retry."""

BeforeRetry = Callable[[float, str], None]
"""`(wait_s, why)`, called before each wait; raising stops the retries (a budget is up)."""


class RetryingModel(WrapperModel):
    """Wraps a model: a request that fails transiently is tried again, `policy.attempts` in all."""

    def __init__(
        self,
        wrapped: Any,
        policy: RetrySettings,
        *,
        before_retry: BeforeRetry | None = None,
    ) -> None:
        super().__init__(wrapped)
        self.policy = policy
        self.before_retry = before_retry

    async def request(
        self,
        messages: list[ModelMessage],
        model_settings: ModelSettings | None,
        model_request_parameters: ModelRequestParameters,
    ) -> ModelResponse:
        for attempt in range(1, self.policy.attempts + 1):
            try:
                return await self.wrapped.request(
                    messages, model_settings, model_request_parameters
                )
            except ModelAPIError as exc:
                wait = retry_wait(exc, attempt, self.policy)
                if wait is None or attempt == self.policy.attempts:
                    raise
                if self.before_retry is not None:
                    self.before_retry(wait, _why(exc, wait, attempt, self.policy.attempts))
                await asyncio.sleep(wait)
        raise AssertionError("unreachable: the last attempt returns or raises")


def retry_wait(exc: ModelAPIError, attempt: int, policy: RetrySettings) -> float | None:
    """Seconds to wait before retrying after `exc` failed attempt `attempt` (1-based), or None
    when it must not be retried."""
    if isinstance(exc, ModelHTTPError):
        headers = exc.headers or {}
        should = headers.get("x-should-retry", "").strip().lower()
        if should == "false":
            return None
        if should != "true" and not (exc.status_code in RETRIED_STATUSES or exc.status_code >= 500):
            return None
        asked = retry_after_s(headers)
        if asked is not None:
            return asked if asked <= policy.max_retry_after_s else None
    return min(policy.max_backoff_s, policy.backoff_s * 2 ** (attempt - 1))


def retry_after_s(headers: dict[str, str], now: float | None = None) -> float | None:
    """The wait a server asked for: `retry-after-ms` (OpenAI's), else `Retry-After` as seconds
    or an HTTP date; None when it asked for none or said something unreadable."""
    try:
        if "retry-after-ms" in headers:
            return max(0.0, float(headers["retry-after-ms"]) / 1000)
        value = headers.get("retry-after")
        if value is None:
            return None
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(headers.get("retry-after", ""))
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def _why(exc: ModelAPIError, wait: float, attempt: int, attempts: int) -> str:
    """One line for the session's log: what failed and when the next try is."""
    if isinstance(exc, ModelHTTPError):
        what = "rate limited (HTTP 429)" if exc.status_code == 429 else f"HTTP {exc.status_code}"
    else:
        what = "no answer"
    return f"{exc.model_name}: {what} on attempt {attempt} of {attempts}; retrying in {wait:.1f} s"
