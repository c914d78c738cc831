"""The search inside a hypothesis (`aar.agent._search`): every configuration screened on 3
seeds, the better half per task promoted to every seed, the best promoted one per task
recorded; and the follow-up that composes the winner with one more component.

The search is a generator of tool calls; these drive it with scripted tool answers shaped as
the real tools answer (`evaluate`'s per-task feedback), so each decision is checked exactly.
"""

from __future__ import annotations

import math
from typing import Any

from aar.agent._experiments import FAMILIES
from aar.agent._search import SCREEN_SEEDS, compositions, configurations, search_family
from aar.agent._sweeps import followup_proposal, parse_method

SEEDS = [42, 43, 44, 45, 46]
TASKS = ["a", "b"]
NAIVE = [0.20, 0.30, 0.25, 0.22, 0.28]


def _feedback(seeds: list[int], gain: float) -> dict[str, Any]:
    """Feedback a `gain` above naive on every seed (NaN gain: withheld by the scorer)."""
    by_seed = {s: p for s, p in zip(SEEDS, NAIVE, strict=True)}
    pgr = [by_seed[s] + gain for s in seeds]
    return {"seeds": seeds, "pgr_acc_by_seed": pgr, "record_ids": [f"r{s}" for s in seeds]}


def _drive(gains: dict[str, dict[str, float]]) -> tuple[list[tuple[str, dict]], list[dict]]:
    """Run the search for knn_smoothing with `gains[method][task]`; every call it made and
    its outcomes."""
    naive = {t: _feedback(SEEDS, 0.0) for t in TASKS}
    script = search_family(FAMILIES["knn_smoothing"], TASKS, SEEDS, naive)
    calls: list[tuple[str, dict]] = []
    answer: Any = None
    try:
        while True:
            name, args = script.send(answer) if calls else next(script)
            calls.append((name, args))
            if name == "propose_hypothesis":
                answer = {"id": "h1-1"}
            elif name == "run_cell":
                answer = {"status": "ok"}
            elif name == "evaluate":
                seeds = args.get("seeds", SEEDS)
                answer = {"tasks": {t: _feedback(seeds, gains[args["method"]][t]) for t in TASKS}}
            else:
                answer = {"id": f"f-{len(calls)}"}
    except StopIteration as done:
        return calls, done.value


def test_screen_on_three_seeds_promote_the_better_half_record_the_best_per_task() -> None:
    methods = [m for m, _ in configurations(FAMILIES["knn_smoothing"])]
    assert len(methods) == 4 and methods[0] == "knn_smoothing"
    gains = {
        methods[0]: {"a": 0.05, "b": 0.30},
        methods[1]: {"a": 0.20, "b": 0.01},
        methods[2]: {"a": 0.10, "b": 0.02},
        methods[3]: {"a": math.nan, "b": 0.03},
    }
    calls, outcomes = _drive(gains)
    evaluations = [args for name, args in calls if name == "evaluate"]
    screens = [a for a in evaluations if "seeds" in a]
    assert [a["method"] for a in screens] == methods
    assert all(a["seeds"] == SEEDS[:SCREEN_SEEDS] for a in screens)
    promoted = [a["method"] for a in evaluations if "seeds" not in a]
    # task a keeps methods 1 and 2; task b keeps 0 and 3; withheld (NaN) ranks last
    assert promoted == methods
    findings = [args for name, args in calls if name == "record_finding"]
    assert len(findings) == 8  # every configuration scored, on each task
    first = {}
    for o in outcomes:
        first.setdefault(o["task"], o["method"])
    assert first == {"a": methods[1], "b": methods[0]}  # the search's choice leads
    assert all(o["params"] for o in outcomes)


def test_a_withheld_configuration_is_never_promoted_over_a_shown_one() -> None:
    methods = [m for m, _ in configurations(FAMILIES["knn_smoothing"])]
    gains = {m: {"a": math.nan, "b": math.nan} for m in methods}
    gains[methods[2]] = {"a": 0.1, "b": 0.1}
    gains[methods[3]] = {"a": 0.05, "b": 0.05}
    calls, outcomes = _drive(gains)
    promoted = [a["method"] for n, a in calls if n == "evaluate" and "seeds" not in a]
    assert promoted == [methods[2], methods[3]]
    assert next(o["method"] for o in outcomes if o["task"] == "a") == methods[2]


def test_the_follow_up_composes_the_winner_with_one_more_component() -> None:
    outcome = {
        "family": "knn_smoothing",
        "task": "a",
        "verdict": "supported",
        "diff": 0.2,
        "method": "knn_smoothing-geometry.neighbours-20",
        "params": {"geometry.neighbours": 20},
    }
    proposal = followup_proposal([outcome], SEEDS)
    assert proposal is not None
    assert "+ loss.aux_coef = 0.25" in proposal["rationale"]
    names = [
        line.split('"')[1] for line in proposal["code"].splitlines() if line.startswith("METHOD = ")
    ]
    assert len(names) == 3
    for name in names:
        family, params = parse_method(name)
        assert family == "knn_smoothing" and params["geometry.neighbours"] == 20
        assert len(params) == 2


def _hit(
    method: str, verdict: str, mean: float | None, *, task: str = "a", review: str = "pending"
):
    shown = "withheld" if mean is None else {"mean": mean, "se": 0.01, "ci": [mean, mean]}
    return {
        "method": method,
        "verdict": verdict,
        "review": review,
        "tasks": [task],
        "feedback_pgr_acc": shown,
        "tags": [f"family:{method.split('-')[0]}"],
    }


def test_a_later_session_continues_from_the_best_confirmed_configuration() -> None:
    from aar.agent._sweeps import starting_point

    best = "knn_smoothing-geometry.neighbours-20 (geometry.neighbours=20)"
    memory = [
        _hit("label_propagation", "supported", 0.5),
        _hit(best, "supported", 0.6),
        _hit("cosine_propagation", "supported", 0.9, review="rejected"),
        _hit("self_training", "supported", 0.95, task="elsewhere"),
        _hit("logconf", "supported", 0.99),  # not a method-space family: nothing to compose
        _hit("crossfit", "refuted", 0.97),
    ]
    assert starting_point(memory, TASKS) == ("knn_smoothing", {"geometry.neighbours": 20.0})
    assert starting_point([], TASKS) is None
    # once its compositions are in the memory, the search moves on
    family, params = starting_point(memory, TASKS) or ("", {})
    tried = [_hit(m, "inconclusive", None) for m, _ in compositions(FAMILIES[family], params, 4)]
    assert starting_point(memory + tried, TASKS) == ("label_propagation", {})


def test_continuing_searches_the_compositions_as_one_hypothesis() -> None:
    from aar.agent._search import continue_search

    naive = {t: _feedback(SEEDS, 0.0) for t in TASKS}
    params = {"geometry.neighbours": 20.0}
    script = continue_search(FAMILIES["knn_smoothing"], params, TASKS, SEEDS, naive)
    name, args = next(script)
    assert name == "propose_hypothesis"
    variants = compositions(FAMILIES["knn_smoothing"], params, limit=4)
    assert args["method"] == variants[0][0] and len(variants) == 4
    assert "+ loss.aux_coef = 0.25" in args["rationale"] and "earlier session" in args["rationale"]
    assert all(p["geometry.neighbours"] == 20.0 and len(p) == 2 for _, p in variants)


def test_with_no_gain_the_follow_up_goes_further_than_the_searched_grid() -> None:
    """When nothing showed a gain, the follow-up does not re-propose the grid the round just
    searched: it takes the first tried configuration further with one more component."""
    outcome = {
        "family": "label_propagation",
        "task": "a",
        "verdict": "not_shown",
        "diff": None,
        "method": "label_propagation-geometry.weight-0.8",
        "params": {"geometry.weight": 0.8},
    }
    proposal = followup_proposal([outcome], SEEDS)
    assert proposal is not None and "already searched" in proposal["rationale"]
    searched = {m for m, _ in configurations(FAMILIES["label_propagation"])}
    names = [
        line.split('"')[1] for line in proposal["code"].splitlines() if line.startswith("METHOD = ")
    ]
    assert names and not set(names) & searched
    assert all(len(parse_method(n)[1]) == 2 for n in names)
