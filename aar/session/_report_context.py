"""What layout 3 of a round's report adds around its numbers: the context they are measured in
and what each row is to the round.

- Context: each task's weak-supervisor and ceiling accuracies on holdout (PGR is measured
  between them: 0 is the weak supervisor, 1 the ceiling), so a reader need not open record
  pages to know how large the gap is.
- Roles: a method the round's hypothesis tests is a hypothesis, even when its numbers come
  from the session's own baseline run (logconf is both a baseline and a method the scripted
  researcher tests); the value a sweep started from is marked as its start.
- Sweep starts: a round that takes an earlier method further (a follow-up's
  `family-param-value` names extend the method they started from) shows that method's holdout
  rows from its round, so the sweep is read against where it began.

Pure functions of the session state, so `aar replay` rebuilds them.
"""

from __future__ import annotations

from pydantic import BaseModel

from aar.session._finalize import BASELINES
from aar.session._models import EvalEntry, SessionState

NAIVE = "naive"


class TaskContext(BaseModel):
    """A task's weak-supervisor and ceiling accuracy on holdout, means over `seeds`."""

    task: str
    seeds: list[int]
    weak_acc: float
    ceiling_acc: float


def context_rows(state: SessionState, holdout: list[EvalEntry]) -> list[TaskContext]:
    """Per task (the session's order), the weak and ceiling accuracies of the round's holdout
    seeds (each seed counted once: every method of a seed shares them)."""
    out = []
    for task in state.config.tasks:
        per_seed: dict[int, tuple[float, float]] = {}
        for e in holdout:
            m = e.record.metrics
            if e.record.task == task and "weak_acc" in m and "ceiling_acc" in m:
                per_seed.setdefault(e.record.seed, (m["weak_acc"], m["ceiling_acc"]))
        if per_seed:
            seeds = sorted(per_seed)
            out.append(
                TaskContext(
                    task=task,
                    seeds=seeds,
                    weak_acc=sum(per_seed[s][0] for s in seeds) / len(seeds),
                    ceiling_acc=sum(per_seed[s][1] for s in seeds) / len(seeds),
                )
            )
    return out


def _round_methods(state: SessionState, number: int) -> set[str]:
    """The methods round `number` proposed or scored on test feedback."""
    return {h.method for h in state.hypotheses.values() if h.round == number} | {
        e.record.method for e in state.evaluations if e.round == number
    }


def _params_text(state: SessionState, method: str) -> str:
    """The parameters of the (latest) hypothesis whose method is `method` ('' for none)."""
    hyps = [h for h in state.hypotheses.values() if h.method == method and h.params]
    if not hyps:
        return ""
    return ", ".join(f"{k}={v:g}" for k, v in sorted(hyps[-1].params.items()))


def row_role(state: SessionState, number: int, method: str, role: str, made_in: int) -> str:
    """What a results row is to round `number` (`role` is layout 2's: baseline, confirmation
    or hypothesis; `made_in` is the round of its experiment)."""
    if role == "confirmation":
        return role
    mine = _round_methods(state, number)
    extended = any(m.startswith(f"{method}-") for m in mine)
    params = _params_text(state, method)
    start = "sweep start" + (f": {params}" if params else "")
    if role == "baseline":
        tested = method != NAIVE and any(
            h.round == number and h.method == method for h in state.hypotheses.values()
        )
        if tested:
            return f"hypothesis (the session's {method} baseline run)"
        return f"baseline, {start}" if extended and method != NAIVE else role
    if made_in < number:
        return f"{start} (round {made_in})"
    if extended:
        return f"hypothesis, {start}"
    if any(method.startswith(f"{m}-") for m in mine):
        return "hypothesis, sweep"
    return role


def sweep_start_entries(state: SessionState, number: int) -> list[EvalEntry]:
    """The holdout records of each earlier method that round `number`'s methods extend (the
    longest earlier name `m` with a method of the round named `m-...`), from the latest
    round that scored it (not its confirmation re-runs); the session's baselines are in
    every report already, and a method the round scored again is its own row."""
    mine = _round_methods(state, number)
    by_round: dict[str, dict[int, list[EvalEntry]]] = {}
    for e in state.holdout:
        exp = state.experiments.get(e.experiment)
        if e.round >= number or exp is None or exp.hypothesis_id == BASELINES or exp.confirms:
            continue
        by_round.setdefault(e.record.method, {}).setdefault(e.round, []).append(e)
    starts: set[str] = set()
    for method in mine:
        found = [s for s in by_round if method.startswith(f"{s}-") and s not in mine]
        if found:
            starts.add(max(found, key=len))
    return [e for s in sorted(starts) for e in by_round[s][max(by_round[s])]]
