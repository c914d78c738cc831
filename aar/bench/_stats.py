"""Metrics and summaries: accuracy, AUROC, PGR, mean ± SE, a seeded bootstrap CI, the paired
(per-seed) difference of a method and a baseline, and the round's verdict rule.

Verdicts come from a paired t-test, never from the bootstrap CI: a 95 % percentile bootstrap
over 5 seeds is too narrow (it rejected a true null 16 % of the time in simulation), while the
t-test keeps its nominal level at small seed counts. `decide_round` is the whole rule a round
uses (screen on test feedback, confirm on holdout, Holm across the round's comparisons);
`tools/bench/bench_verdicts.py` measures its false-positive rate and power.
"""

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
    p_value: float = Field(
        default=math.nan, description="Two-sided paired t-test of a zero mean difference."
    )

    @property
    def verdict(self) -> Literal["supported", "refuted", "inconclusive"]:
        """One comparison on its own, at the 5 % level of the paired t-test (no correction):
        'supported' when the difference is significantly above 0, 'refuted' below 0. A round
        decides its verdicts with `decide_round` instead, which corrects for the others."""
        return direction(self.mean, self.p_value, DEFAULT_LEVEL)


def paired_difference(
    method: Sequence[float], baseline: Sequence[float], *, seeds: Sequence[int] | None = None
) -> PairedSummary:
    """Summary of `method[i] - baseline[i]` over seeds (same order; `seeds` names them).

    A pair with a NaN on either side is dropped, and its seed with it. The CI is the same
    fixed-RNG percentile bootstrap as `summarize`, resampling seeds (for display); `p_value` is
    the paired t-test's (for decisions).
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
    p = paired_t(diff[kept]).p_value
    return PairedSummary(**summary.model_dump(), seeds=kept_seeds, p_value=p)


# -- verdicts ------------------------------------------------------------------------------

DEFAULT_LEVEL = 0.05
"""Familywise error rate of a round's verdicts (and the level of a single paired test)."""

Verdict = Literal["supported", "refuted", "inconclusive"]


class TTest(BaseModel):
    """A paired t-test of a zero mean difference (two-sided)."""

    n: int
    mean: float
    se: float
    t: float
    p_value: float = Field(description="NaN where the test is undefined (n < 2, or no spread).")


def paired_t(diffs: Sequence[float] | np.ndarray) -> TTest:
    """The paired t-test on per-seed differences (NaNs dropped).

    Exact under normal differences and close to its level for the heavier tails seen here,
    at any n >= 2. Differences with no spread give an undefined p-value (NaN, which decides
    nothing) unless they are all exactly zero (p = 1): a degenerate test must not claim.
    """
    from scipy import stats

    v = np.asarray(diffs, dtype=np.float64)
    v = v[np.isfinite(v)]
    n = len(v)
    mean = float(v.mean()) if n else math.nan
    if n < 2:
        return TTest(n=n, mean=mean, se=math.nan, t=math.nan, p_value=math.nan)
    se = float(v.std(ddof=1) / math.sqrt(n))
    if se == 0:
        p = 1.0 if mean == 0 else math.nan
        return TTest(n=n, mean=mean, se=0.0, t=math.nan, p_value=p)
    t = mean / se
    p = float(2 * stats.t.sf(abs(t), n - 1))
    return TTest(n=n, mean=mean, se=se, t=t, p_value=min(p, 1.0))


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values (a NaN counts as 1): reject where adjusted <= level.

    Controls the familywise error rate at the level for any dependence between the tests.
    """
    p = np.array([1.0 if not math.isfinite(x) else float(x) for x in p_values])
    m = len(p)
    order = np.argsort(p, kind="stable")
    adjusted = np.empty(m)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[i]))
        adjusted[i] = running
    return [float(a) for a in adjusted]


def direction(mean: float, p_value: float, level: float) -> Verdict:
    """'supported' (above 0) or 'refuted' (below 0) when `p_value <= level`, else inconclusive."""
    if not (math.isfinite(p_value) and math.isfinite(mean)) or p_value > level or mean == 0:
        return "inconclusive"
    return "supported" if mean > 0 else "refuted"


class VerdictRule(BaseModel):
    """How a round turns its comparisons into verdicts (see `decide_round`)."""

    level: float = Field(default=DEFAULT_LEVEL, gt=0, lt=1)
    screen_level: float = Field(
        default=0.2, gt=0, le=1, description="Uncorrected test-feedback p-value to go on."
    )
    min_seeds: int = Field(default=3, ge=2, description="Fewer seeds decide nothing.")
    test: Literal["paired t-test (two-sided)"] = "paired t-test (two-sided)"
    correction: Literal["holm"] = "holm"


class Comparison(BaseModel):
    """One method against the baseline on one task: per-seed differences on the test feedback
    that screens it, and on the holdout that confirms it (None where none was scored)."""

    key: str
    screen: list[float]
    confirm: list[float] | None = None
    confirm_seeds: list[int] = Field(default_factory=list)
    fresh: bool = Field(
        default=False,
        description="The confirmation seeds are disjoint from the seeds that screened it.",
    )


class Decision(BaseModel):
    """The verdict of one comparison and everything that decided it."""

    key: str
    verdict: Verdict
    screen: TTest
    screened: bool
    confirm: TTest | None
    adjusted_p: float
    family_size: int
    fresh: bool
    confirm_seeds: list[int] = Field(default_factory=list)
    why: str


def decide_round(
    comparisons: Sequence[Comparison], rule: VerdictRule | None = None
) -> list[Decision]:
    """The verdicts of a round: screen on test feedback, confirm on holdout, Holm across the
    round.

    1. Screen: a comparison goes on when its paired t-test on the test feedback has
       p <= `screen_level` with at least `min_seeds` seeds. Differences the feedback withheld
       are NaN (the scorer shows a score only when it beats the best shown): a comparison
       scored on `min_seeds`+ seeds but shown on fewer cannot be screened, and goes on.
    2. Confirm: the paired t-test on its holdout differences, Holm-adjusted across the family.
       With fresh confirmation seeds (disjoint from the screening ones, for every comparison)
       the family is the screened comparisons: the data that chose them cannot bias the test.
       Otherwise the holdout rows share seeds (trained models) with the test feedback that
       chose them, so the family is every comparison of the round, and an unscreened one
       counts with p = 1. Holm is monotone in the p-values, so these verdicts are a subset of
       Holm over all the round's holdout tests: the familywise error stays <= `level`,
       whatever the screen picked.
    3. The verdict is the confirmed direction, and only when the screen (if it showed any
       difference) agrees in sign.
    """
    rule = rule or VerdictRule()
    fresh = bool(comparisons) and all(c.fresh for c in comparisons)
    screens = [paired_t(c.screen) for c in comparisons]
    withheld = [
        len(c.screen) >= rule.min_seeds and s.n < rule.min_seeds
        for c, s in zip(comparisons, screens, strict=True)
    ]
    passed = [
        w or (s.n >= rule.min_seeds and math.isfinite(s.p_value) and s.p_value <= rule.screen_level)
        for s, w in zip(screens, withheld, strict=True)
    ]
    confirms = [
        paired_t(c.confirm) if ok and c.confirm is not None else None
        for c, ok in zip(comparisons, passed, strict=True)
    ]
    p = [t.p_value if t is not None and t.n >= rule.min_seeds else 1.0 for t in confirms]
    family = [i for i in range(len(comparisons)) if passed[i] or not fresh]
    adjusted = dict(zip(family, holm([p[i] for i in family]), strict=True))
    out = []
    for i, c in enumerate(comparisons):
        adj = adjusted.get(i, 1.0)
        verdict, why = _verdict(screens[i], passed[i], confirms[i], adj, rule)
        if withheld[i]:
            why = (
                f"the test feedback showed scores on {screens[i].n} of {len(c.screen)} seeds, "
                f"too few to screen, so it went on unscreened; {why}"
            )
        out.append(
            Decision(
                key=c.key,
                verdict=verdict,
                screen=screens[i],
                screened=passed[i],
                confirm=confirms[i],
                adjusted_p=adj,
                family_size=len(family),
                fresh=fresh,
                confirm_seeds=c.confirm_seeds,
                why=why,
            )
        )
    return out


def _verdict(
    screen: TTest, passed: bool, confirm: TTest | None, adjusted: float, rule: VerdictRule
) -> tuple[Verdict, str]:
    if not passed:
        return "inconclusive", (
            f"not screened in: test-feedback p = {_p(screen.p_value)} over {screen.n} seeds "
            f"(needs p <= {rule.screen_level:g} and {rule.min_seeds}+ seeds)"
        )
    if confirm is None or confirm.n < rule.min_seeds:
        n = 0 if confirm is None else confirm.n
        return "inconclusive", f"not confirmed: holdout scored on {n} seeds"
    verdict = direction(confirm.mean, adjusted, rule.level)
    if verdict != "inconclusive" and screen.n and (confirm.mean > 0) != (screen.mean > 0):
        return "inconclusive", "the holdout difference has the opposite sign to the test feedback"
    if verdict == "inconclusive":
        return (
            verdict,
            f"not confirmed on holdout: Holm-adjusted p = {_p(adjusted)} > {rule.level:g}",
        )
    return verdict, f"confirmed on holdout: Holm-adjusted p = {_p(adjusted)} <= {rule.level:g}"


def _p(p: float) -> str:
    return "n/a" if not math.isfinite(p) else f"{p:.2g}" if p < 0.01 else f"{p:.3f}"


def t_interval(
    values: Sequence[float] | np.ndarray, confidence: float = 0.95
) -> tuple[float, float]:
    """The t confidence interval of the mean (NaN with fewer than two finite values): the
    interval that agrees with `paired_t` (it excludes 0 exactly when p < 1 - confidence)."""
    from scipy import stats

    t = paired_t(values)
    if t.n < 2 or not math.isfinite(t.se):
        return (math.nan, math.nan)
    half = float(stats.t.ppf(0.5 + confidence / 2, t.n - 1)) * t.se
    return (t.mean - half, t.mean + half)
