"""PGR edge cases and summaries."""

from __future__ import annotations

import math

import numpy as np
import pytest

from aar.bench import (
    Comparison,
    accuracy,
    auroc,
    decide_round,
    holm,
    paired_difference,
    paired_t,
    pgr,
    summarize,
)


def test_pgr_regular_and_edge_cases() -> None:
    assert pgr(0.8, 0.7, 0.9) == pytest.approx(0.5)
    assert pgr(0.95, 0.7, 0.9) == pytest.approx(1.25)  # above the ceiling: not clipped
    assert pgr(0.6, 0.7, 0.9) == pytest.approx(-0.5)  # below weak: negative
    assert math.isnan(pgr(0.8, 0.7, 0.7))  # zero gap: undefined
    # a negative gap is computed, but its sign is meaningless: runs flag such tasks
    assert pgr(0.8, 0.9, 0.7) == pytest.approx(0.5)
    assert math.isnan(pgr(float("nan"), 0.7, 0.9))


def test_summarize_mean_se_and_seeded_ci() -> None:
    values = [0.2, 0.4, 0.6, 0.8, 1.0]
    s = summarize(values)
    assert s.mean == pytest.approx(0.6)
    assert s.se == pytest.approx(np.std(values, ddof=1) / math.sqrt(5))
    assert s.ci[0] < s.mean < s.ci[1]
    assert summarize(values) == s  # fixed RNG: identical CI
    one = summarize([0.5, float("nan")])
    assert one.n == 1 and one.mean == 0.5 and math.isnan(one.se)
    assert summarize([]).n == 0


def test_accuracy_and_auroc_binary_and_multiclass() -> None:
    y = np.array([0, 1, 1, 0])
    p1 = np.array([0.1, 0.9, 0.4, 0.3])
    assert accuracy(y, p1) == pytest.approx(0.75)
    assert auroc(y, p1) == pytest.approx(1.0)
    y3 = np.array([0, 1, 2, 0, 1, 2])
    p3 = np.eye(3)[[0, 1, 2, 0, 2, 1]] * 0.8 + 0.2 / 3
    assert accuracy(y3, p3) == pytest.approx(4 / 6)
    assert 0.5 < auroc(y3, p3) < 1.0


def test_paired_difference_pairs_seeds_and_gives_a_verdict() -> None:
    base = [0.20, 0.35, 0.10, 0.30, 0.25]
    gain = [b + d for b, d in zip(base, [0.05, 0.07, 0.04, 0.06, 0.05], strict=True)]
    d = paired_difference(gain, base, seeds=[42, 43, 44, 45, 46])
    assert d.mean == pytest.approx(0.054) and d.n == 5 and d.seeds == [42, 43, 44, 45, 46]
    assert d.se == pytest.approx(np.std([0.05, 0.07, 0.04, 0.06, 0.05], ddof=1) / math.sqrt(5))
    assert 0 < d.ci[0] < d.mean < d.ci[1] and d.verdict == "supported"
    assert paired_difference(gain, base) == d.model_copy(update={"seeds": None})  # fixed RNG
    # unpaired, the same numbers overlap: the seeds' shared variation hides the gain
    assert summarize(gain).ci[0] < summarize(base).ci[1]
    assert paired_difference(base, gain).verdict == "refuted"
    noisy = paired_difference([0.3, 0.1, 0.25, 0.2], [0.2, 0.2, 0.2, 0.2])
    assert noisy.ci[0] < 0 < noisy.ci[1] and noisy.verdict == "inconclusive"


def test_paired_difference_drops_nan_pairs_and_refuses_misaligned_input() -> None:
    d = paired_difference([0.3, math.nan, 0.5], [0.1, 0.2, math.nan], seeds=[1, 2, 3])
    assert d.n == 1 and d.mean == pytest.approx(0.2) and d.seeds == [1]
    assert math.isnan(d.ci[0]) and d.verdict == "inconclusive"  # one pair decides nothing
    assert paired_difference([], []).n == 0
    with pytest.raises(ValueError, match="one value per seed"):
        paired_difference([0.1, 0.2], [0.1])
    with pytest.raises(ValueError, match="seeds must name each"):
        paired_difference([0.1, 0.2], [0.1, 0.2], seeds=[42, 42])
    with pytest.raises(ValueError, match="seeds must name each"):
        paired_difference([0.1, 0.2], [0.1, 0.2], seeds=[42])


def test_paired_t_matches_scipy_and_fails_closed_when_degenerate() -> None:
    from scipy import stats

    diffs = [0.05, -0.02, 0.04, 0.01, 0.03]
    t = paired_t(diffs)
    ref = stats.ttest_1samp(diffs, 0.0)
    assert t.p_value == pytest.approx(ref.pvalue) and t.t == pytest.approx(ref.statistic)
    assert t.n == 5 and t.se == pytest.approx(np.std(diffs, ddof=1) / math.sqrt(5))
    assert math.isnan(paired_t([0.1]).p_value)  # one seed decides nothing
    assert math.isnan(paired_t([0.02, 0.02, 0.02]).p_value)  # no spread: undefined, no claim
    assert paired_t([0.0, 0.0, 0.0]).p_value == 1.0
    assert paired_t([0.1, math.nan, 0.2, 0.3]).n == 3


def test_verdict_of_one_comparison_uses_the_t_test_not_the_bootstrap() -> None:
    # five seeds whose bootstrap CI excludes 0 but whose t-test does not reject at 5 %
    base = [0.0] * 5
    gain = [0.09, -0.01, 0.08, 0.0, 0.07]
    d = paired_difference(gain, base)
    assert d.ci[0] > 0  # the old rule said "supported"
    assert d.p_value > 0.05 and d.verdict == "inconclusive"


def test_holm_adjusts_step_down_and_is_monotone() -> None:
    assert holm([0.01, 0.04, 0.03, 0.5]) == pytest.approx([0.04, 0.09, 0.09, 0.5])
    assert holm([0.2, math.nan]) == pytest.approx([0.4, 1.0])  # NaN counts as 1
    assert holm([]) == []
    assert holm([0.001] * 3) == pytest.approx([0.003] * 3)


def _comparison(key: str, screen: list[float], confirm: list[float] | None, **kw: object):
    return Comparison(key=key, screen=screen, confirm=confirm, **kw)


def test_decide_round_screens_confirms_and_corrects() -> None:
    strong = [0.10, 0.12, 0.11, 0.13, 0.10]
    null = [0.02, -0.03, 0.01, -0.01, 0.0]
    comps = [
        _comparison("a", strong, [0.11, 0.10, 0.12, 0.12, 0.11]),
        _comparison("b", null, [0.3, 0.3, 0.31, 0.3, 0.29]),  # not screened: holdout unused
        _comparison("c", strong, [-0.11, -0.10, -0.12, -0.12, -0.11]),  # signs disagree
        _comparison("d", [-x for x in strong], None),  # holdout not scored
    ]
    a, b, c, d = decide_round(comps)
    assert a.verdict == "supported" and a.screened and a.family_size == 4
    assert a.adjusted_p == pytest.approx(min(1.0, 4 * a.confirm.p_value))  # type: ignore[union-attr]
    assert b.verdict == "inconclusive" and not b.screened and b.adjusted_p == 1.0
    assert c.verdict == "inconclusive" and "opposite sign" in c.why
    assert d.verdict == "inconclusive" and "not confirmed" in d.why
    # the same holdout evidence, but one of many comparisons: Holm leaves it unconfirmed
    weak = [0.05, 0.0, 0.06, 0.02, 0.04]
    alone = decide_round([_comparison("w", strong, weak)])[0]
    crowded = decide_round([_comparison("w", strong, weak)] + [_comparison("n", null, None)] * 20)
    assert alone.verdict == "supported" and crowded[0].verdict == "inconclusive"
    assert crowded[0].family_size == 21


def test_decide_round_with_fresh_seeds_corrects_only_over_the_screened() -> None:
    strong = [0.10, 0.12, 0.11, 0.13, 0.10]
    null = [0.02, -0.03, 0.01, -0.01, 0.0]
    weak = [0.05, 0.0, 0.06, 0.02, 0.04, 0.05, 0.03, 0.01, 0.04, 0.06]
    comps = [_comparison("w", strong, weak, fresh=True)]
    comps += [_comparison(f"n{i}", null, None, fresh=True) for i in range(20)]
    decisions = decide_round(comps)
    assert decisions[0].family_size == 1 and decisions[0].fresh
    assert decisions[0].verdict == "supported"


def test_decide_round_keeps_the_familywise_error_rate_under_the_null() -> None:
    """A small simulation of the whole rule (screen + Holm + confirmation) on null rounds:
    21 comparisons, 5 seeds, test and holdout differences sharing each seed's model noise,
    test feedback rounded to 0.01; confirmed on 10 fresh seeds (the session's rule) and on the
    round's own seeds (its fallback). Each familywise false-positive rate must be <= 5 % within
    sampling error (tools/bench/bench_verdicts.py runs the large version)."""
    rng = np.random.default_rng(7)
    rounds = 300
    false = {"fresh": 0, "own": 0}
    for _ in range(rounds):
        shared = rng.standard_t(4, size=(21, 5)) * 0.08
        test = np.round(shared + rng.normal(0, 0.05, size=(21, 5)), 2)
        hold = shared + rng.normal(0, 0.05, size=(21, 5))
        fresh = rng.standard_t(4, size=(21, 10)) * 0.08 + rng.normal(0, 0.05, size=(21, 10))
        own = [_comparison(str(i), list(test[i]), list(hold[i])) for i in range(21)]
        new = [_comparison(str(i), list(test[i]), list(fresh[i]), fresh=True) for i in range(21)]
        false["own"] += any(d.verdict != "inconclusive" for d in decide_round(own))
        false["fresh"] += any(d.verdict != "inconclusive" for d in decide_round(new))
    # 5 % of 300 is 15; allow binomial noise (sd ~3.8) up to 3 sd above
    bound = 0.05 + 3 * math.sqrt(0.05 * 0.95 / rounds)
    assert false["own"] / rounds <= bound and false["fresh"] / rounds <= bound, false


def test_feedback_the_scorer_withheld_cannot_screen_a_comparison_out() -> None:
    """The scorer shows a test score only when it beats the best shown: a comparison scored on
    enough seeds but shown on too few goes on to confirmation unscreened (on fresh seeds it is
    still a valid test); one scored on too few seeds decides nothing."""
    strong = [0.11, 0.10, 0.12, 0.12, 0.11, 0.10, 0.13, 0.11, 0.12, 0.10]
    withheld = _comparison("w", [math.nan, 0.2, math.nan, math.nan, math.nan], strong, fresh=True)
    few = _comparison("f", [0.1, 0.2], strong, fresh=True)
    w, f = decide_round([withheld, few])
    assert w.screened and w.verdict == "supported" and "showed scores on 1 of 5" in w.why
    assert not f.screened and f.verdict == "inconclusive" and w.family_size == 1
