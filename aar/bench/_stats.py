"""Metrics and summaries: accuracy, AUROC, PGR, mean ± SE, a seeded bootstrap CI, and the
paired (per-seed) difference of a method and a baseline."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import numpy as np
from pydantic import BaseModel, Field

BOOTSTRAP_RESAMPLES = 10_000
BOOTSTRAP_SEED = 20_240_601
"""Fixed, so the same per-seed values always give the same interval."""


def as_probs(probs: np.ndarray, n_classes: int) -> np.ndarray:
    """[n] P(class 1) (binary) or [n, k] probabilities -> [n, k]."""
    probs = np.asarray(probs, dtype=np.float64)
    if probs.ndim == 1:
        return np.stack([1 - probs, probs], axis=1)
    return probs


def accuracy(y: np.ndarray, probs: np.ndarray) -> float:
    """Share of rows whose most probable class is the label."""
    probs = as_probs(probs, 2)
    return float((probs.argmax(1) == y).mean())


def auroc(y: np.ndarray, probs: np.ndarray) -> float:
    """AUROC; macro one-vs-rest for more than two classes. NaN if a class is absent."""
    from sklearn.metrics import roc_auc_score

    probs = as_probs(probs, 2)
    if len(np.unique(y)) < probs.shape[1]:
        return math.nan
    if probs.shape[1] == 2:
        return float(roc_auc_score(y, probs[:, 1]))
    return float(roc_auc_score(y, probs, multi_class="ovr", average="macro"))


def pgr(student: float, weak: float, ceiling: float) -> float:
    """Performance gap recovered, (student − weak) / (ceiling − weak).

    Not clipped: a student above the ceiling gives PGR > 1, one below the weak model < 0.
    A zero gap gives NaN (undefined); a negative gap is computed but must be flagged.
    """
    gap = ceiling - weak
    if gap == 0 or not all(map(math.isfinite, (student, weak, ceiling))):
        return math.nan
    return (student - weak) / gap


class Summary(BaseModel):
    """Mean ± standard error over seeds and a 95 % percentile bootstrap CI of the mean."""

    mean: float
    se: float
    ci: tuple[float, float]
    n: int = Field(description="Finite values summarised (NaN seeds are dropped).")


def summarize(values: list[float] | np.ndarray) -> Summary:
    """Summary of per-seed values; SE and CI are NaN with fewer than two finite values."""
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    if len(v) == 0:
        return Summary(mean=math.nan, se=math.nan, ci=(math.nan, math.nan), n=0)
    mean = float(v.mean())
    if len(v) < 2:
        return Summary(mean=mean, se=math.nan, ci=(math.nan, math.nan), n=1)
    se = float(v.std(ddof=1) / math.sqrt(len(v)))
    rng = np.random.default_rng(BOOTSTRAP_SEED)
    means = v[rng.integers(0, len(v), size=(BOOTSTRAP_RESAMPLES, len(v)))].mean(axis=1)
    lo, hi = np.percentile(means, [2.5, 97.5])
    return Summary(mean=mean, se=se, ci=(float(lo), float(hi)), n=len(v))


class PairedSummary(Summary):
    """A method minus a baseline, seed by seed: mean, SE and bootstrap CI of the differences.

    Pairing on seeds removes the variation both share (splits, weak labels, initialisation),
    so a small but consistent gain shows up where two independent summaries would overlap.
    """

    seeds: list[int] | None = Field(
        default=None, description="Seeds of the differences summarised (NaN pairs dropped)."
    )

    @property
    def verdict(self) -> Literal["supported", "refuted", "inconclusive"]:
        """'supported' when the 95 % CI lies above 0, 'refuted' below 0, else 'inconclusive'."""
        low, high = self.ci
        if low > 0:
            return "supported"
        if high < 0:
            return "refuted"
        return "inconclusive"  # includes a NaN CI (fewer than two pairs)


def paired_difference(
    method: Sequence[float], baseline: Sequence[float], *, seeds: Sequence[int] | None = None
) -> PairedSummary:
    """Summary of `method[i] - baseline[i]` over seeds (same order; `seeds` names them).

    A pair with a NaN on either side is dropped, and its seed with it. The CI is the same
    fixed-RNG percentile bootstrap as `summarize`, resampling seeds.
    """
    m = np.asarray(method, dtype=np.float64)
    b = np.asarray(baseline, dtype=np.float64)
    if m.ndim != 1 or m.shape != b.shape:
        raise ValueError(f"method and baseline need one value per seed: {m.shape} vs {b.shape}")
    if seeds is not None and (len(seeds) != len(m) or len(set(seeds)) != len(seeds)):
        raise ValueError(f"seeds must name each of the {len(m)} pairs once, got {list(seeds)}")
    diff = m - b
    kept = np.isfinite(diff)
    summary = summarize(diff[kept])
    kept_seeds = None if seeds is None else [int(s) for s, k in zip(seeds, kept, strict=True) if k]
    return PairedSummary(**summary.model_dump(), seeds=kept_seeds)
