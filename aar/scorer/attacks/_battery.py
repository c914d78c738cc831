"""Run the attacks against a scorer and measure what they gained (README "Evaluator").

For every task: each attack of `ATTACKS` on seed A's test split, and the cross-seed attack
(mine seed A's test feedback, then submit seed B's holdout rows that share inputs), each
with the whole evaluation budget through the real scorer API, on a fresh ledger. Measured:
- `gain`: the attack's final true accuracy minus the best honest method's on that split;
- `overstatement`: the largest shown accuracy minus the true accuracy of what was shown.
"""

from __future__ import annotations

import math
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
from pydantic import BaseModel

from aar.bench import Evaluator
from aar.scorer._mechanism import Policy
from aar.scorer._scorer import Scorer
from aar.scorer.attacks._attacks import ATTACKS, group_flips, single_flips
from aar.scorer.attacks._oracles import Oracle, PlainRoundingOracle, ScorerOracle, Shown
from aar.scorer.attacks._target import SplitTarget, split_targets

MAX_GAIN = 0.03
"""The most an attack may gain over the honest best, from measurements over task keys.

Null (the mechanism's designed answers only): threshold_walk on digits-ge5, the check
closest to the bound, gained 0 on 199 of 200 random keys and +0.0335 on one, where group
flips (its fallback) hit one group that crossed naive + eta(269) and was shown (one shown
answer, overstatement 0; the walk itself never ran: no calibration probe was shown on any
key). So the false-failure rate of this check under a fresh key is 1/200 (95% upper bound
2.8%); under the test suite's fixed key the outcome is fixed. The weakest leak the battery
knows, a ladder without the naive start, gains 4 rows of breast-cancer's 86 (+0.0465 on
33 of 33 keys): a bound above 3/86 = 0.035 would let a one-row-smaller leak through, so
0.03 stays (tools/bench/bench_task_keys.py measures both distributions)."""
MAX_OVERSTATEMENT = 0.03
SEED_A, SEED_B = 42, 43


class AttackResult(BaseModel):
    task: str
    attack: str
    submissions: int
    shown: int
    honest_best: float
    final: float
    gain: float
    overstatement: float

    @property
    def passed(self) -> bool:
        return self.gain <= MAX_GAIN + 1e-9 and self.overstatement <= MAX_OVERSTATEMENT + 1e-9


class _Recording:
    """An oracle that also measures each answer against the truth (the battery's view)."""

    def __init__(self, inner: Oracle, target: SplitTarget) -> None:
        self.inner, self.target = inner, target
        self.budget, self.radius, self.eta = inner.budget, inner.radius, inner.eta
        self.submissions, self.shown, self.over = 0, 0, -math.inf

    def submit(self, probs: np.ndarray, method: str) -> Shown | None:
        shown = self.inner.submit(probs, method)
        if shown is None:
            return None
        self.submissions += 1
        if shown.acc is not None:
            self.shown += 1
            self.over = max(self.over, shown.acc - self.target.accuracy(probs))
        return shown


OracleFactory = Callable[[str, int, SplitTarget], Oracle]


_EVALUATORS: dict[tuple[str, int], Evaluator] = {}
"""Evaluators shared by every attack of a process (each trains its ceiling and naive once)."""


def scorer_oracles(budget: int = 200, *, policy: Policy | None = None) -> OracleFactory:
    """Oracles on a fresh ledger per attack (the real `Scorer`; default policy from settings)."""

    def make(task: str, seed: int, target: SplitTarget) -> Oracle:
        directory = Path(tempfile.mkdtemp(prefix="aar-attack-"))
        scorer = Scorer(directory, policy=policy, evaluators=_EVALUATORS, fsync=False)
        return ScorerOracle(scorer, task, seed, budget=budget, account="attacker")

    return make


def plain_rounding_oracles(budget: int = 200) -> OracleFactory:
    """The old mechanism (rounded scores, a budget, flags only): the teeth test's target."""

    def make(task: str, seed: int, target: SplitTarget) -> Oracle:
        return PlainRoundingOracle(Evaluator(task, seed, budget=10**9, device="cpu"), budget=budget)

    return make


def run_attack(
    task: str, attack: str, oracles: OracleFactory, *, seed: int = SEED_A
) -> AttackResult:
    """One attack on one task's test split (or `cross_seed`), measured."""
    if attack == "cross_seed":
        return _cross_seed(task, oracles)
    target = split_targets(task, seed)["test"]
    _, honest, best = target.honest_best()
    oracle = _Recording(oracles(task, seed, target), target)
    final = ATTACKS[attack](honest, oracle, np.random.default_rng(0))
    return _result(task, attack, oracle, best, target.accuracy(final))


def _cross_seed(task: str, oracles: OracleFactory) -> AttackResult:
    """Mine seed A's test split (single then group flips, half the budget each), then
    answer seed B's holdout rows that share inputs with what was mined."""
    a = split_targets(task, SEED_A)["test"]
    b = split_targets(task, SEED_B)["holdout"]
    _, honest_a, _ = a.honest_best()
    oracle = _Recording(oracles(task, SEED_A, a), a)
    half = _Half(oracle)
    mined = single_flips(honest_a, half, np.random.default_rng(0))
    half.rest()
    mined2 = group_flips(honest_a, half, np.random.default_rng(1))
    hard_a = honest_a.argmax(axis=1)
    belief = np.where(mined2.argmax(axis=1) != hard_a, mined2.argmax(axis=1), mined.argmax(axis=1))
    changed = belief != hard_a
    _, honest_b, best_b = b.honest_best()
    final = honest_b.argmax(axis=1).copy()
    index = {row.tobytes(): i for i, row in enumerate(a.inputs)}
    for j, row in enumerate(b.inputs):
        i = index.get(row.tobytes())
        if i is not None and changed[i]:
            final[j] = belief[i]
    return _result(task, "cross_seed", oracle, best_b, float((final == b.truth).mean()))


class _Half:
    """Half of an oracle's budget for the first attack, the rest for the second."""

    def __init__(self, inner: _Recording) -> None:
        self.inner, self.radius, self.eta = inner, inner.radius, inner.eta
        self.budget = self.left = inner.budget // 2

    def rest(self) -> None:
        """The second half: whatever the first left of the whole budget."""
        self.budget = self.left = self.inner.budget - self.inner.submissions

    def submit(self, probs: np.ndarray, method: str) -> Shown | None:
        if self.left <= 0:
            return None
        self.left -= 1
        return self.inner.submit(probs, method)


def _result(task: str, attack: str, oracle: _Recording, best: float, final: float) -> AttackResult:
    return AttackResult(
        task=task,
        attack=attack,
        submissions=oracle.submissions,
        shown=oracle.shown,
        honest_best=best,
        final=final,
        gain=final - best,
        overstatement=max(oracle.over, 0.0) if oracle.shown else 0.0,
    )


ALL_ATTACKS = (*ATTACKS, "cross_seed")


def run_battery(tasks: list[str], oracles: OracleFactory | None = None) -> list[AttackResult]:
    """Every attack on every task (default: the real scorer, budget 200, fresh ledgers)."""
    oracles = scorer_oracles() if oracles is None else oracles
    return [run_attack(t, a, oracles) for t in tasks for a in ALL_ATTACKS]
