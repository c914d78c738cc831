"""Budgets, enforced by the session outside the agent: one error, `BudgetExhausted`, for all.

Each check compares what the log says was spent (`Usage`, rebuilt on resume) plus what is
about to be spent with the limit in `SessionConfig.budgets`; hitting any budget ends the
round cleanly and the report says which budget and when. Like Inspect AI's
`LimitExceededError`, the one error names the budget, what was used and the limit, whether
the model requests, the tokens, the dollars, the clock, the sandbox's CPU or the
evaluations ran out (the evaluation ledger raises it too).
"""

from __future__ import annotations

import time
from typing import Literal

from aar.errors import AarError
from aar.session._config import Budgets
from aar.session._errors import RoundOver
from aar.session._models import Usage

BudgetName = Literal["usd", "tokens", "evals", "requests", "minutes", "sandbox_cpu_s"]


class BudgetExhausted(RoundOver, AarError):
    """A session budget is used up; the round ends (state saved, report written).

    Attributes:
        budget: which budget.
        used: how much of it the check counted (spent, plus the next request's estimate where
            the check is made before one).
        limit: the budget's limit.
    """

    exit_code = 1

    def __init__(self, budget: BudgetName, used: float, limit: float, message: str) -> None:
        super().__init__(message, outcome="budget")
        self.budget: BudgetName = budget
        self.used = used
        self.limit = limit


class BudgetGuard:
    """The checks the session runs before each model request, cell and evaluation."""

    def __init__(self, budgets: Budgets, usage: Usage) -> None:
        self.budgets = budgets
        self.usage = usage
        self._round_start = time.monotonic()

    def start_round(self) -> None:
        """The wall-clock budget counts from here."""
        self._round_start = time.monotonic()

    @property
    def elapsed_minutes(self) -> float:
        return (time.monotonic() - self._round_start) / 60

    def before_request(self, input_tokens: int, usd: float | None) -> None:
        """Before a model request of (estimated) `input_tokens`, costing about `usd`."""
        b, u = self.budgets, self.usage
        self.check_time()
        if b.requests is not None and u.requests + 1 > b.requests:
            raise BudgetExhausted(
                "requests", u.requests + 1, b.requests, f"request budget of {b.requests} reached"
            )
        if b.tokens is not None and u.tokens + input_tokens > b.tokens:
            raise BudgetExhausted(
                "tokens",
                u.tokens + input_tokens,
                b.tokens,
                f"token budget of {b.tokens} would be exceeded ({u.tokens} used, next request "
                f"~{input_tokens} input tokens)",
            )
        if b.usd is not None and usd is not None and u.usd + usd > b.usd:
            raise BudgetExhausted(
                "usd",
                u.usd + usd,
                b.usd,
                f"USD budget of {b.usd:g} would be exceeded ({u.usd:.4f} spent)",
            )

    def after_request(self) -> None:
        """After a request's real usage was logged: over by the provider's count ends it."""
        b, u = self.budgets, self.usage
        if b.tokens is not None and u.tokens > b.tokens:
            raise BudgetExhausted(
                "tokens", u.tokens, b.tokens, f"token budget of {b.tokens} used ({u.tokens})"
            )
        if b.usd is not None and u.usd > b.usd:
            raise BudgetExhausted(
                "usd", u.usd, b.usd, f"USD budget of {b.usd:g} used ({u.usd:.4f})"
            )

    def before_cell(self) -> None:
        self.check_time()
        b, u = self.budgets, self.usage
        if b.sandbox_cpu_s is not None and u.sandbox_cpu_s >= b.sandbox_cpu_s:
            raise BudgetExhausted(
                "sandbox_cpu_s",
                u.sandbox_cpu_s,
                b.sandbox_cpu_s,
                f"sandbox CPU budget of {b.sandbox_cpu_s:g} s used ({u.sandbox_cpu_s:.1f} s)",
            )

    def check_time(self) -> None:
        limit, elapsed = self.budgets.minutes, self.elapsed_minutes
        if limit is not None and elapsed >= limit:
            raise BudgetExhausted(
                "minutes", elapsed, limit, f"wall-clock budget of {limit:g} minutes reached"
            )
