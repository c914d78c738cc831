"""The attack battery on every built-in task, and its teeth: the mechanisms it must catch.

Each attack spends the whole evaluation budget (200) through the real scorer API on a fresh
ledger; attacks only submit arrays (the honest baselines train once per process).
"""

from __future__ import annotations

import pytest

from aar.bench import list_tasks
from aar.scorer import Policy, Scorer, ScoreRequest
from aar.scorer.attacks import (
    ALL_ATTACKS,
    MAX_GAIN,
    plain_rounding_oracles,
    run_attack,
    run_battery,
    scorer_oracles,
    split_targets,
)

BUILTIN = sorted(t.name for t in list_tasks() if not t.name.startswith("test-"))


def test_the_builtin_tasks_are_the_seven() -> None:
    assert len(BUILTIN) == 7 and "breast-cancer" in BUILTIN


@pytest.mark.slow
@pytest.mark.parametrize("task", BUILTIN)
def test_the_battery_passes(task: str) -> None:
    results = run_battery([task])
    assert [r.attack for r in results] == list(ALL_ATTACKS)
    for r in results:
        assert r.submissions == 200, r  # the whole budget
        assert r.gain <= MAX_GAIN, r
        assert r.overstatement <= 0.03, r


@pytest.mark.slow
def test_the_battery_passes_at_four_times_the_budget() -> None:
    """A searching researcher (and a team) submits far more than 200 times to a task's pool
    over an installation's life; the ladder's per-pool answers bound what any number of
    submissions reveals. Measured at 800 on all seven tasks: gain at most 0.0027 (one shown
    step of rt-sentiment's threshold walk), overstatement 0; here the smallest task, whose
    86 test rows the issue's single-flip attack once read in full."""
    for r in run_battery(["breast-cancer"], scorer_oracles(budget=800)):
        assert r.submissions == 800, r
        assert r.gain <= MAX_GAIN, r
        assert r.overstatement <= 0.03, r


@pytest.mark.parametrize("attack", ["single_flips", "boundary_walk"])
def test_the_battery_catches_plain_rounding(attack: str) -> None:
    """The evaluator before the scorer (rounded scores, a budget, flags only): both label
    recoveries read every row (boosting, randomised, measured +0.070 in README)."""
    result = run_attack("breast-cancer", attack, plain_rounding_oracles())
    assert result.gain > MAX_GAIN and result.final == 1.0, result


def test_the_battery_catches_the_classic_ladder() -> None:
    """Blum & Hardt's Ladder as published: the threshold walk reads every label."""
    result = run_attack(
        "breast-cancer", "threshold_walk", scorer_oracles(policy=Policy.classic_ladder())
    )
    assert result.gain > MAX_GAIN and result.final == 1.0, result


def test_the_battery_catches_a_ladder_that_starts_at_the_first_submission() -> None:
    """Without the naive start, a deliberately weak first submission buys the walk room."""
    result = run_attack(
        "breast-cancer", "threshold_walk", scorer_oracles(policy=Policy(from_reference=False))
    )
    assert result.gain > MAX_GAIN, result


def test_honest_methods_a_ladder_step_apart_are_told_apart(tmp_path) -> None:
    """rt-sentiment: logconf beats naive by more than eta(730) = 0.037 on test, so it is shown,
    above the naive accuracy every answer shows; the smallest difference shown is eta(n)
    (README). The seed is the one of 42-51 where logconf's edge is largest: the edge varies
    with the test run's fresh task key (seed 42 measured 0.059 alone and 0.037 once in a full
    suite; the best of 42-46 was 0.0356 on one key, under eta), and the claim is about the
    scorer, not about one seed."""

    def edge(seed: int) -> float:
        target = split_targets("rt-sentiment", seed)["test"]
        return target.accuracy(target.honest["logconf"]) - target.accuracy(target.honest["naive"])

    seed = max(range(42, 52), key=edge)
    target = split_targets("rt-sentiment", seed)["test"]
    naive, logconf = target.honest["naive"], target.honest["logconf"]
    scorer = Scorer(tmp_path)
    assert edge(seed) >= scorer.policy.eta(len(naive))
    shown = []
    for method, probs in (("naive", naive), ("logconf", logconf)):
        req = ScoreRequest(
            task="rt-sentiment",
            seed=seed,
            method=method,
            code_sha256="x",
            account="honest",
            probs=probs.tolist(),
        )
        shown.append(scorer.score(req).record)
    assert [r.answer for r in shown] == ["repeat", "improved"]  # naive: the ladder's start
    assert shown[1].metrics["acc"] > shown[0].metrics["acc"] == shown[0].metrics["naive_acc"]
    assert shown[0].metrics["acc"] == pytest.approx(target.accuracy(naive), abs=0.01)
