"""The verdict rule's error rates, by simulation: false positives under the null, power at
stated effects.

    .venv/bin/python tools/bench/bench_verdicts.py [--rounds 2000] [--level 0.05] [--json PATH]

A simulated round is what a 7-task round of aar decides: `--methods` methods compared with
naive on each built-in task (21 comparisons by default), `--seeds` seeds each. Every decision
is made by the package's own functions (`aar.bench.decide_round`, `paired_t`,
`paired_difference`), never a re-implementation.

Per-seed paired differences (method - naive, PGR on accuracy) are drawn per task with the
spread the real tasks show: `TASK_SD` is the per-seed standard deviation of logconf - naive PGR
differences on the holdout over 5 seeds, from the README's suite table (measured by
tools/bench/science.py on the one method library: the paired SE it prints, times sqrt(5)). Each
seed's difference has a part shared by its test and holdout scores (the two trained models
differ) and a part of each split's own (which rows fell where): `--shared` is the shared share
of the variance (0.5 by default; 0.9 is the stress case for confirming on the round's own
seeds, where the data that chose a comparison and the data that confirms it are most alike).
Tails are Student-t with 4 degrees of freedom (heavier than normal). Test feedback is rounded
to 0.01. `--censor X` models the scorer's ladder, which shows a test score only when it beats
the best shown: a seed's test difference is shown only when it exceeds X (PGR), else withheld
(NaN), and a comparison shown on fewer than 3 of its seeds goes on unscreened.

Reported, each over `--rounds` rounds:
- the old rule (95 % percentile bootstrap CI excluding 0, no correction), per comparison
  and per round (any false verdict);
- one paired t-test per comparison, uncorrected;
- the round's rule as the session runs it: screen on test, re-run the screened comparisons
  on `--confirm-seeds` fresh seeds, confirm on their holdout with Holm over the screened ones;
- its fallback when no re-run happened: confirm on the holdout of the round's own seeds, Holm
  over every comparison of the round;
- power: one comparison with a true effect (`--effects`, PGR) on a random task, the rest
  null; the share of rounds in which the rule calls it supported.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np

from aar.bench import Comparison, VerdictRule, decide_round, paired_difference, paired_t

TASK_SD = {
    "digits-10": 0.092,
    "synthetic-gap-large": 0.080,
    "synthetic-gap-medium": 0.027,
    "digits-ge5": 0.103,
    "rt-sentiment": 0.132,
    "breast-cancer": 0.217,
    "synthetic-gap-small": 0.056,
}
"""Per-seed SD of a paired PGR difference on each built-in task (see the module docstring)."""


def _t4(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Student-t (4 df) noise scaled to unit variance."""
    return rng.standard_t(4, size=shape) / math.sqrt(2.0)


def simulate_round(
    rng: np.random.Generator,
    *,
    methods: int,
    seeds: int,
    confirm_seeds: int,
    shared: float,
    effects: np.ndarray,
    censor: float = 0.0,
) -> dict[str, np.ndarray]:
    """Per-seed differences of one round: test (rounded), own-seed holdout, fresh holdout."""
    sd = np.repeat(np.array(list(TASK_SD.values())), methods)  # one per comparison
    m = len(sd)
    a, b = math.sqrt(shared), math.sqrt(1 - shared)
    model = _t4(rng, (m, seeds))
    test = effects[:, None] + sd[:, None] * (a * model + b * _t4(rng, (m, seeds)))
    hold = effects[:, None] + sd[:, None] * (a * model + b * _t4(rng, (m, seeds)))
    fresh = effects[:, None] + sd[:, None] * _t4(rng, (m, confirm_seeds))
    test = np.round(test, 2)
    if censor > 0:
        test = np.where(test > censor, test, np.nan)
    return {"test": test, "holdout": hold, "fresh": fresh}


def _old_rule(diffs: np.ndarray, seeds: int) -> bool:
    """The rule before: a 95 % percentile bootstrap CI of the paired difference excluding 0."""
    low, high = paired_difference(list(diffs), [0.0] * seeds).ci
    return low > 0 or high < 0


def decide(draw: dict[str, np.ndarray], rule: VerdictRule, *, fresh: bool) -> list[str]:
    """The round's verdicts by `aar.bench.decide_round`."""
    confirm = draw["fresh"] if fresh else draw["holdout"]
    comparisons = [
        Comparison(key=str(i), screen=list(draw["test"][i]), confirm=list(confirm[i]), fresh=fresh)
        for i in range(len(confirm))
    ]
    return [d.verdict for d in decide_round(comparisons, rule)]


def run(args: argparse.Namespace) -> dict[str, object]:
    rule = VerdictRule(level=args.level)
    rng = np.random.default_rng(args.seed)
    m = len(TASK_SD) * args.methods
    kw = dict(
        methods=args.methods,
        seeds=args.seeds,
        confirm_seeds=args.confirm_seeds,
        shared=args.shared,
        censor=args.censor,
    )
    counts = {k: 0 for k in ("old_any", "old_each", "t_each", "t_any", "own_any", "fresh_any")}
    old_rounds = min(args.rounds, args.old_rounds)
    for r in range(args.rounds):
        draw = simulate_round(rng, effects=np.zeros(m), **kw)
        if r < old_rounds:  # the bootstrap is slow: 10,000 resamples a comparison
            old = [_old_rule(d, args.seeds) for d in draw["test"]]
            counts["old_each"] += sum(old)
            counts["old_any"] += any(old)
        ps = [paired_t(d).p_value for d in draw["test"]]
        hits = [p <= args.level for p in ps if math.isfinite(p)]
        counts["t_each"] += sum(hits)
        counts["t_any"] += any(hits)
        counts["own_any"] += any(v != "inconclusive" for v in decide(draw, rule, fresh=False))
        counts["fresh_any"] += any(v != "inconclusive" for v in decide(draw, rule, fresh=True))
    n = args.rounds
    null = {
        "old_rule_per_comparison": counts["old_each"] / (old_rounds * m) if old_rounds else None,
        "old_rule_per_round": counts["old_any"] / old_rounds if old_rounds else None,
        "old_rule_rounds": old_rounds,
        "t_test_per_comparison": counts["t_each"] / (n * m),
        "t_test_uncorrected_per_round": counts["t_any"] / n,
        "rule_own_seeds_per_round": counts["own_any"] / n,
        "rule_fresh_seeds_per_round": counts["fresh_any"] / n,
    }
    power = {}
    for effect in args.effects:
        hits = {"own": 0, "fresh": 0}
        for _ in range(args.power_rounds):
            effects = np.zeros(m)
            target = int(rng.integers(m))
            effects[target] = effect
            draw = simulate_round(rng, effects=effects, **kw)
            hits["own"] += decide(draw, rule, fresh=False)[target] == "supported"
            hits["fresh"] += decide(draw, rule, fresh=True)[target] == "supported"
        power[f"{effect:g}"] = {k: v / args.power_rounds for k, v in hits.items()}
    return {
        "rounds": n,
        "comparisons_per_round": m,
        "seeds": args.seeds,
        "confirm_seeds": args.confirm_seeds,
        "shared": args.shared,
        "censor": args.censor,
        "level": args.level,
        "rule": rule.model_dump(),
        "false_positive_rate": null,
        "power": power,
        "power_rounds": args.power_rounds,
    }


def _se(p: float, n: int) -> float:
    return math.sqrt(max(p * (1 - p), 1e-12) / n)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2000)
    parser.add_argument("--old-rounds", type=int, default=300, help="rounds for the slow old rule")
    parser.add_argument("--power-rounds", type=int, default=1000)
    parser.add_argument("--level", type=float, default=0.05)
    parser.add_argument("--methods", type=int, default=3)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--confirm-seeds", type=int, default=10)
    parser.add_argument("--shared", type=float, default=0.5)
    parser.add_argument("--censor", type=float, default=0.0)
    parser.add_argument("--effects", type=float, nargs="*", default=[0.05, 0.1, 0.2, 0.3])
    parser.add_argument("--seed", type=int, default=20261207)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    start = time.perf_counter()
    out = run(args)
    out["seconds"] = round(time.perf_counter() - start, 1)
    fp = out["false_positive_rate"]
    assert isinstance(fp, dict)
    n, m = args.rounds, out["comparisons_per_round"]
    print(
        f"{n} null rounds, {m} comparisons x {args.seeds} seeds, shared variance {args.shared}, "
        f"censor {args.censor}, level {args.level} ({out['seconds']} s)"
    )
    old_n = fp["old_rule_rounds"]
    rows = (
        []
        if not old_n
        else [
            ("old rule, per comparison", fp["old_rule_per_comparison"], old_n * m),
            ("old rule, per round", fp["old_rule_per_round"], old_n),
        ]
    )
    rows += [
        ("paired t, per comparison", fp["t_test_per_comparison"], n * m),
        ("paired t uncorrected, per round", fp["t_test_uncorrected_per_round"], n),
        (f"round's rule, {args.confirm_seeds} fresh seeds", fp["rule_fresh_seeds_per_round"], n),
        ("fallback, round's own seeds", fp["rule_own_seeds_per_round"], n),
    ]
    print("false-positive rate under the null:")
    for name, p, k in rows:
        print(f"  {name:<38} {p:6.3f} ± {_se(p, k):.3f}")
    print(f"power (one true effect on a random task, {args.power_rounds} rounds each):")
    for effect, p in out["power"].items():  # type: ignore[union-attr]
        print(f"  effect {effect:>5} PGR: fresh seeds {p['fresh']:.3f}, own seeds {p['own']:.3f}")
    if args.json:
        args.json.write_text(json.dumps(out, indent=2) + "\n")
    ok = (
        fp["rule_own_seeds_per_round"] <= args.level
        and fp["rule_fresh_seeds_per_round"] <= args.level
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
