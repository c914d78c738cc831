"""The feedback mechanism: what a test submission's answer may say (README "Evaluator").

A ladder in the spirit of Blum & Hardt (2015), hardened against the attacks that break a
deterministic ladder on small splits:

- A score is shown only when the submission beats the best accuracy shown so far on its
  (task, seed, split) by at least the ladder step `eta(n) = max(ladder_step, scale/sqrt(n))`;
  the ladder starts at the harness's naive student (shown in every answer as `naive_acc`),
  so a deliberately weakened first submission cannot lower it, and a split's first shown
  score is no lucky shot either. Otherwise the answer is "not better than T" with no
  number, so a poor submission is never shown a number that overstates it (the classic
  ladder repeats the best score instead).
- A shown accuracy is floored to the feedback step, and PGR is computed from the floored
  accuracies (not rounded after), so a one-row change never moves a shown number by itself.
- A submission whose hardened predictions are within `radius(n)` rows of an earlier one on
  the same split gets the earlier answer back (a "repeat"), never a fresh one: single and
  small-group flips around a base learn nothing.
- Every shown score is one of the task pool's `pool_answers` informative answers, counted
  across every seed, split, session and process, because every seed splits the same pool.

Guarantee (for any adaptive sequence of k submissions on a pool): a shown number is the floor
of the submission's own test accuracy (it never overstates); it is shown only if that accuracy
is at least naive + eta(n) and at least every earlier shown score + eta(n), so a split shows at
most (1 - naive) / eta(n) scores and a pool at most `pool_answers`; and the transcript of answers
is a function of which submissions were shown and their shown values, so it carries at most
`pool_answers * (log2 k + 2 log2(1/step + 1))` bits about the pool's labels (a shown answer
is a position among k and a floored accuracy and AUROC).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

Answer = Literal["improved", "not_better", "repeat", "exhausted"]


@dataclass(frozen=True)
class Policy:
    """The mechanism's parameters (from `settings.scorer` and `settings.bench`)."""

    step: float = 0.01
    ladder_step: float = 0.03
    ladder_scale: float = 1.0
    radius_min: int = 5
    pool_answers: int = 64
    repeats: bool = True
    """Answer a near-duplicate with the earlier answer (off: the classic ladder)."""
    from_reference: bool = True
    """Start the ladder at the naive student's accuracy, as if shown (off: the first
    submission sets the best)."""

    @classmethod
    def classic_ladder(cls, eta: float = 0.01, step: float = 0.01) -> Policy:
        """Blum & Hardt's Ladder as published (for the battery's teeth test): a flat step,
        no repeats, the first submission sets the best, no pool budget."""
        return cls(
            step=step,
            ladder_step=eta,
            ladder_scale=0.0,
            radius_min=0,
            pool_answers=10**9,
            repeats=False,
            from_reference=False,
        )

    @classmethod
    def from_settings(cls) -> Policy:
        from aar.config import get_settings

        s = get_settings()
        return cls(
            step=s.bench.feedback_rounding,
            ladder_step=s.scorer.ladder_step,
            ladder_scale=s.scorer.ladder_scale,
            radius_min=s.bench.near_duplicate_max_diff,
            pool_answers=s.scorer.pool_answers,
        )

    def eta(self, n: int) -> float:
        """The smallest improvement on an n-row split that the feedback shows."""
        return max(self.ladder_step, self.ladder_scale / math.sqrt(max(n, 1)))

    def radius(self, n: int) -> int:
        """Rows within which a submission repeats an earlier one: fewer than the rows an
        improvement by `eta(n)` needs, and at least `radius_min`."""
        if not self.repeats:
            return -1
        return max(self.radius_min, math.ceil(self.eta(n) * n) - 1)

    def floor(self, value: float) -> float:
        if not math.isfinite(value):
            return value
        return round(math.floor(value / self.step + 1e-9) * self.step, 10)

    def ceil(self, value: float) -> float:
        return round(math.ceil(value / self.step - 1e-9) * self.step, 10)


@dataclass(frozen=True)
class Prior:
    """An earlier submission on the same (task, seed, split), as the ledger holds it."""

    record_id: str
    hard: np.ndarray
    exact_acc: float
    informative: bool


@dataclass(frozen=True)
class Decision:
    answer: Answer
    informative: bool
    threshold_acc: float | None = None
    repeat_of: str | None = None
    distance: int | None = None
    """Hardened predictions that differ from the repeated submission."""


def decide(
    policy: Policy,
    priors: list[Prior],
    pool_used: int,
    exact_acc: float,
    hard: np.ndarray,
    reference: float,
) -> Decision:
    """The answer to a test submission, from the ledger's state and its exact accuracy.

    `reference` is the harness's naive student's accuracy on the split: the ladder starts
    there, so a deliberately weakened first submission cannot set a low best that a walk
    could then sit just below. Everything but `exact_acc` is state the submitter has already
    been answered on, or a fixed baseline, so a non-informative answer tells nothing new.
    """
    n = len(hard)
    nearest: tuple[int, Prior] | None = None
    for prior in priors:
        if len(prior.hard) == n:
            d = int((prior.hard != hard).sum())
            if nearest is None or d < nearest[0]:
                nearest = (d, prior)
    shown = [p.exact_acc for p in priors if p.informative]
    return decide_on(
        policy,
        None if nearest is None else (nearest[0], nearest[1].record_id),
        max(shown) if shown else None,
        pool_used,
        exact_acc,
        n,
        reference,
    )


def decide_on(
    policy: Policy,
    nearest: tuple[int, str] | None,
    best_shown: float | None,
    pool_used: int,
    exact_acc: float,
    n: int,
    reference: float,
) -> Decision:
    """`decide` on what it reads of the priors: the first nearest one with n rows (rows that
    differ, record id) and the highest shown exact accuracy (None: none shown), so a ledger
    that keeps these up to date decides without a scan of every earlier submission."""
    if nearest is not None and nearest[0] <= policy.radius(n):
        return Decision("repeat", False, repeat_of=nearest[1], distance=nearest[0])
    if pool_used >= policy.pool_answers:  # before the ladder: its bit is information too
        return Decision("exhausted", False)
    step, eta = policy.step, policy.eta(n)
    if best_shown is None and not policy.from_reference:  # the classic ladder: the first sets
        return Decision("improved", True)  # the best
    # the naive student's accuracy counts as shown (every answer shows it as `naive_acc`), so
    # even a split's first shown score certifies a gain of eta over naive: no lucky first shot
    if policy.from_reference:
        best = reference if best_shown is None else max(reference, best_shown)
    else:
        assert best_shown is not None
        best = best_shown
    if exact_acc < best + eta - 1e-12:
        # an upper bound from shown numbers only: best < floor(best) + step
        bound = policy.ceil(policy.floor(best) + step + eta)
        return Decision("not_better", False, threshold_acc=bound)
    return Decision("improved", True, threshold_acc=policy.ceil(policy.floor(best) + eta))
