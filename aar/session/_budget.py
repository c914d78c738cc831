"""Budgets, enforced by the session outside the agent: one error, `BudgetExhausted`, for all.

Each check compares what the log says was spent (`Usage`, rebuilt on resume) plus what is
about to be spent with the limit in `SessionConfig.budgets`; hitting any budget ends the
round cleanly and the report says which budget and when.
"""

from __future__ import annotations

import time

from aar.errors import AarError
from aar.session._config import Budgets
from aar.session._models import Usage


class BudgetExhausted(AarError):
    """A session budget is used up; the round ends (state saved, report written)."""

    exit_code = 1

    def __init__(self, budget: str, message: str) -> None:
        super().__init__(message)
        self.budget = budget


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
            raise BudgetExhausted("requests", f"request budget of {b.requests} reached")
        if b.tokens is not None and u.tokens + input_tokens > b.tokens:
            raise BudgetExhausted(
                "tokens",
                f"token budget of {b.tokens} would be exceeded ({u.tokens} used, next request "
                f"~{input_tokens} input tokens)",
            )
        if b.usd is not None and usd is not None and u.usd + usd > b.usd:
            raise BudgetExhausted(
                "usd", f"USD budget of {b.usd:g} would be exceeded ({u.usd:.4f} spent)"
            )

    def after_request(self) -> None:
        """After a request's real usage was logged: over by the provider's count ends it."""
        b, u = self.budgets, self.usage
        if b.tokens is not None and u.tokens > b.tokens:
            raise BudgetExhausted("tokens", f"token budget of {b.tokens} used ({u.tokens})")
        if b.usd is not None and u.usd > b.usd:
            raise BudgetExhausted("usd", f"USD budget of {b.usd:g} used ({u.usd:.4f})")

    def before_cell(self) -> None:
        self.check_time()
        b, u = self.budgets, self.usage
        if b.sandbox_cpu_s is not None and u.sandbox_cpu_s >= b.sandbox_cpu_s:
            raise BudgetExhausted(
                "sandbox_cpu_s",
                f"sandbox CPU budget of {b.sandbox_cpu_s:g} s used ({u.sandbox_cpu_s:.1f} s)",
            )

    def check_time(self) -> None:
        limit = self.budgets.minutes
        if limit is not None and self.elapsed_minutes >= limit:
            raise BudgetExhausted("minutes", f"wall-clock budget of {limit:g} minutes reached")
