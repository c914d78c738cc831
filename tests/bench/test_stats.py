"""PGR edge cases and summaries."""

from __future__ import annotations

import math

import numpy as np
import pytest

from aar.bench import accuracy, auroc, paired_difference, pgr, summarize


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
