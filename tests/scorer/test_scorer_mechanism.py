"""The feedback mechanism's rules, decided on plain arrays (no task, no training)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from aar.scorer import Policy, Prior, decide

POLICY = Policy(step=0.01, ladder_step=0.03, ladder_scale=1.0, radius_min=5, pool_answers=4)
N = 400  # eta = max(0.03, 1/20) = 0.05, radius = max(5, 20 - 1) = 19


def _hard(seed: int, n: int = N) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 2, size=n).astype(np.uint8)


def test_step_and_radius_follow_the_split_size() -> None:
    assert POLICY.eta(86) == pytest.approx(1 / math.sqrt(86))  # 0.108 on breast-cancer
    assert POLICY.eta(10_000) == 0.03
    assert POLICY.radius(86) == 9 and POLICY.radius(10_000) == 299
    assert POLICY.floor(0.8799999) == 0.87 and POLICY.floor(0.88) == 0.88


def test_the_ladder_starts_at_the_naive_reference() -> None:
    """Naive counts as shown: even a split's first score must beat it by eta (0.05 here)."""
    low = decide(POLICY, [], 0, 0.84, _hard(0), reference=0.80)
    assert low.answer == "not_better" and not low.informative
    assert low.threshold_acc is not None and low.threshold_acc > 0.84  # a true upper bound
    ok = decide(POLICY, [], 0, 0.85, _hard(0), reference=0.80)
    assert ok.answer == "improved" and ok.informative


def test_later_scores_must_beat_the_best_by_the_ladder_step() -> None:
    first = Prior("r1", _hard(1), 0.80, True)
    below = decide(POLICY, [first], 1, 0.849, _hard(2), reference=0.7)
    assert below.answer == "not_better"
    assert below.threshold_acc is not None and below.threshold_acc > 0.849
    above = decide(POLICY, [first], 1, 0.85, _hard(2), reference=0.7)
    assert above.answer == "improved"


def test_a_near_duplicate_gets_a_repeat_never_a_fresh_answer() -> None:
    base = _hard(3)
    prior = Prior("r1", base, 0.80, True)
    flipped = base.copy()
    flipped[: POLICY.radius(N)] ^= 1  # as far as the radius allows
    d = decide(POLICY, [prior], 1, 0.99, flipped, reference=0.5)
    assert d.answer == "repeat" and d.repeat_of == "r1" and not d.informative
    flipped[POLICY.radius(N)] ^= 1  # one more row: a fresh answer
    assert decide(POLICY, [prior], 1, 0.99, flipped, reference=0.5).answer == "improved"


def test_a_spent_pool_answers_nothing_even_below_the_threshold() -> None:
    """'not better' versus 'improved' is a bit: once the pool's answers are spent, neither."""
    prior = Prior("r1", _hard(4), 0.80, True)
    for acc in (0.1, 0.99):
        d = decide(POLICY, [prior], POLICY.pool_answers, acc, _hard(5), reference=0.5)
        assert d.answer == "exhausted" and d.threshold_acc is None


def test_two_honest_methods_that_differ_by_the_ladder_step_are_distinguished() -> None:
    """The smallest difference the feedback shows is eta(n): a method that beats the shown
    best by eta is shown, with a strictly higher (floored) accuracy."""
    rng = np.random.default_rng(6)
    for n in (86, 269, 600, 730):
        eta = POLICY.eta(n)
        for _ in range(50):
            a = float(rng.uniform(0.5, 0.9))
            b = a + eta
            first = decide(POLICY, [], 0, a, _hard(7, n), reference=a - eta)
            assert first.answer == "improved"
            prior = Prior("a", _hard(7, n), a, True)
            second = decide(POLICY, [prior], 1, b, _hard(8, n), reference=a - eta)
            assert second.answer == "improved"
            assert POLICY.floor(b) > POLICY.floor(a)


def test_the_classic_ladder_has_no_repeats_and_no_reference() -> None:
    classic = Policy.classic_ladder(0.01)
    assert classic.radius(86) == -1
    assert decide(classic, [], 0, 0.1, _hard(9), reference=0.9).answer == "improved"
