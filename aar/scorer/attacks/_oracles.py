"""What an attack talks to: the real scorer API, or (for the teeth test) the old mechanism."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from aar.bench import BudgetExceededError, Evaluator
from aar.scorer._models import ScoreRequest
from aar.scorer._scorer import Scorer


@dataclass(frozen=True)
class Shown:
    """What the submitter sees: an accuracy (or None) and the answer's kind."""

    acc: float | None
    answer: str


class Oracle(Protocol):
    budget: int
    radius: int
    """Rows within which the oracle may treat a submission as a repeat (public policy)."""
    eta: float
    """The smallest improvement the oracle shows (public policy; 0 for plain rounding)."""

    def submit(self, probs: np.ndarray, method: str) -> Shown | None:
        """The answer, or None once the budget is used up."""
        ...


class ScorerOracle:
    """The real scorer API on one (task, seed, test), paid by one account."""

    def __init__(self, scorer: Scorer, task: str, seed: int, *, budget: int, account: str) -> None:
        self.scorer, self.task, self.seed = scorer, task, seed
        self.budget, self.account = budget, account
        n = len(scorer.evaluator(task, seed).ids("test"))
        self.radius = scorer.policy.radius(n)
        self.eta = scorer.policy.eta(n)

    def submit(self, probs: np.ndarray, method: str) -> Shown | None:
        request = ScoreRequest(
            task=self.task,
            seed=self.seed,
            method=method,
            code_sha256="attack",
            account=self.account,
            budget=self.budget,
            probs=probs.tolist(),
        )
        try:
            record = self.scorer.score(request).record
        except BudgetExceededError:
            return None
        acc = record.metrics.get("acc", math.nan)
        return Shown(acc if math.isfinite(acc) else None, record.answer or "rounded")


class PlainRoundingOracle:
    """The mechanism before the scorer: every test score rounded, budgeted, flagged only."""

    radius = 5
    eta = 0.0

    def __init__(self, evaluator: Evaluator, *, budget: int) -> None:
        self.evaluator, self.budget, self.used = evaluator, budget, 0

    def submit(self, probs: np.ndarray, method: str) -> Shown | None:
        if self.used >= self.budget:
            return None
        self.used += 1
        record = self.evaluator.evaluate(probs, method=method, code_sha256="attack")
        return Shown(record.metrics["acc"], "rounded")
