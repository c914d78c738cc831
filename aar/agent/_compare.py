"""The scripted researcher's claims: a method against naive on one task, from test feedback.

A claim is the paired t-test on the seeds where the scorer showed both scores; the session
decides every verdict itself on holdout at the end of the round. Shared by the round's family
tests and by the search inside a hypothesis (`aar.agent._search`).
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

Call = tuple[str, dict[str, Any]]


def record_verdicts(
    hypothesis_id: str, family: str, method: str, tested: dict[str, Any], naive: dict[str, Any]
) -> Generator[Call, Any, list[dict[str, Any]]]:
    """One finding per task `method` was scored on, whether or not the feedback showed it a
    score, so the memory learns what was tried (a later session picks other families). Where a
    score was shown, the claim is the paired verdict; where none was (the scorer answers "not
    better than the best shown"), the finding says so, states no number and claims
    `inconclusive`. The session decides every verdict on holdout at the end of the round."""
    outcomes = []
    for task, feedback in tested.items():
        outcome = compare(family, method, task, feedback, naive.get(task))
        if outcome is None:
            continue
        shown = outcome["verdict"] != "not_shown"
        yield (
            "record_finding",
            {
                "hypothesis_id": hypothesis_id,
                "summary": outcome.pop("summary"),
                "verdict": outcome["verdict"] if shown else "inconclusive",
                "eval_record_ids": outcome.pop("record_ids"),
            },
        )
        outcomes.append(outcome)
    return outcomes


def compare(
    family: str, method: str, task: str, tested: dict[str, Any] | None, naive: dict[str, Any] | None
) -> dict[str, Any] | None:
    """The claimed verdict of `method` against naive on `task`: the paired t-test on the test
    feedback at 5 %, uncorrected, over the seeds where both scores were shown (the scorer
    shows a score only when it beats the best shown by its ladder step). Every number of the
    summary is taken on those seeds alone, which it names, and the finding cites the records
    of exactly those seeds (a 1-seed score beside a 5-seed mean would compare nothing). The
    session decides the finding's verdict on holdout."""
    from aar.bench import paired_difference

    if not tested or not naive:
        return None
    by_seed = dict(zip(naive["seeds"], naive["pgr_acc_by_seed"], strict=True))
    seeds = [s for s in tested["seeds"] if s in by_seed]
    mine = dict(zip(tested["seeds"], tested["pgr_acc_by_seed"], strict=True))
    record_ids = [*tested["record_ids"], *naive["record_ids"]]
    base = {"family": family, "method": method, "task": task, "record_ids": record_ids}
    if not seeds:
        return None
    not_shown = base | {
        "verdict": "not_shown",
        "diff": None,
        "summary": f"{method} vs naive on {task} (test feedback): the scorer showed no score of "
        f"{method} on any seed (none beat the best shown by its step), so no PGR is stated; "
        "the session decides the verdict on holdout.",
    }
    if not any(_finite(mine[s]) for s in seeds):
        return not_shown
    paired = [s for s in seeds if _finite(mine[s]) and _finite(by_seed[s])]
    if not paired:
        return not_shown | {
            "summary": f"{method} vs naive on {task} (test feedback): no seed had both scores "
            "shown, so no paired difference is stated; the session decides the verdict on holdout."
        }
    d = paired_difference([mine[s] for s in paired], [by_seed[s] for s in paired], seeds=paired)
    lo, hi = d.ci
    interval = f", 95 % bootstrap CI [{lo:.3f}, {hi:.3f}]" if d.n >= 2 else ""
    on = _on_seeds(paired, all_seeds=paired == seeds)
    summary = (
        f"{method} vs naive on {task}, test feedback {on}: PGR "
        f"{_mean(mine[s] for s in paired):.3f} vs {_mean(by_seed[s] for s in paired):.3f}; "
        f"paired difference {d.mean:+.3f}{interval}."
    )
    cited = _ids_on(tested, paired) + _ids_on(naive, paired)
    verdict = d.verdict if d.n >= 2 else "inconclusive"
    return base | {"verdict": verdict, "diff": d.mean, "summary": summary, "record_ids": cited}


def _on_seeds(seeds: list[int], all_seeds: bool) -> str:
    """Which seeds a comparison covers: all of them, or the ones the scorer showed, by name."""
    if all_seeds:
        return f"over {len(seeds)} seeds"
    named = ", ".join(map(str, seeds))
    return f"on {len(seeds)} seed{'s' if len(seeds) > 1 else ''} with a shown score ({named})"


def _ids_on(feedback: dict[str, Any], seeds: list[int]) -> list[str]:
    """The record ids of `feedback` on `seeds` (its ids are in the order of its seeds)."""
    wanted = set(seeds)
    return [
        rid for s, rid in zip(feedback["seeds"], feedback["record_ids"], strict=True) if s in wanted
    ]


def _mean(values: Any) -> float:
    picked = list(values)
    return sum(picked) / len(picked)


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and value == value and abs(value) != float("inf")
