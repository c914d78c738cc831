"""The scorer's attack battery, beside the sandbox's leakage battery: label mining through
feedback (single flips, group flips, Blum & Hardt's boosting, a boundary walk, cross-seed).

    from aar.scorer.attacks import run_battery
    results = run_battery(["breast-cancer"])   # every attack, real scorer, budget 200
    assert all(r.passed for r in results)

`tests/scorer/test_attacks.py` runs it on every built-in task; `plain_rounding_oracles`
shows it catches the mechanism before the scorer.
"""

from aar.scorer.attacks._attacks import ATTACKS, boosting, boundary_walk, group_flips, single_flips
from aar.scorer.attacks._battery import (
    ALL_ATTACKS,
    MAX_GAIN,
    MAX_OVERSTATEMENT,
    AttackResult,
    plain_rounding_oracles,
    run_attack,
    run_battery,
    scorer_oracles,
)
from aar.scorer.attacks._oracles import Oracle, PlainRoundingOracle, ScorerOracle, Shown
from aar.scorer.attacks._target import HONEST, SplitTarget, split_targets

__all__ = [
    "ALL_ATTACKS",
    "ATTACKS",
    "HONEST",
    "MAX_GAIN",
    "MAX_OVERSTATEMENT",
    "AttackResult",
    "Oracle",
    "PlainRoundingOracle",
    "ScorerOracle",
    "Shown",
    "SplitTarget",
    "boosting",
    "boundary_walk",
    "group_flips",
    "plain_rounding_oracles",
    "run_attack",
    "run_battery",
    "scorer_oracles",
    "single_flips",
    "split_targets",
]
