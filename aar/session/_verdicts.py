"""A round's verdicts, decided by the session: screened on test feedback, confirmed on holdout.

The researcher's verdict is a claim (`Finding.claimed_verdict`). The verdict a finding keeps is
computed here at the end of the round, from the evaluator's records alone, by
`aar.bench.decide_round`. Each (method, task) the round scored on test, cited or not, is one
comparison with the session's naive baseline, paired by seed; a paired t-test on the test
feedback screens it (feedback the scorer withheld cannot screen it out); a paired t-test on
holdout confirms it, Holm-corrected:
- on fresh seeds (`_confirm.py` re-ran the round's code and naive on seeds no screening saw):
  over the screened comparisons;
- else on the holdout of the round's own seeds, which share the trained models that the test
  feedback chose: over every comparison of the round.
The report states every decision; a finding takes those of its method and tasks.

Everything here is a pure function of the session state, so `aar replay` rebuilds the same
verdicts from `events.jsonl`.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable

from aar.bench import Comparison, Decision, EvalRecord, VerdictRule, decide_round
from aar.memory import Finding, Verdict, VerdictBasis
from aar.session._evidence import with_naive_shown
from aar.session._finalize import BASELINES
from aar.session._models import EvalEntry, SessionState

NAIVE = "naive"
RULE = VerdictRule()
"""The rule every round uses (familywise level 5 %, Holm, paired t-tests)."""

Unit = tuple[str, str]
"""(method, task): one comparison with naive."""


def rule_text(fresh: bool, rule: VerdictRule = RULE) -> str:
    """How a round's verdicts were decided, in one paragraph for its report."""
    screen = (
        f"each (method, task) the round scored on test is compared with naive, paired by seed, "
        f"and screened on the test feedback ({rule.test}, p <= {rule.screen_level:g}, at least "
        f"{rule.min_seeds} seeds; one the scorer showed on fewer seeds goes on unscreened); "
    )
    if fresh:
        return screen + (
            f"the screened ones are confirmed on the holdout of fresh seeds (the round's code "
            f"re-run by the session, same sha256, with naive, on seeds no screening saw), "
            f"{rule.test}, with Holm's correction over the screened comparisons at a "
            f"familywise level of {rule.level:g}."
        )
    return screen + (
        f"they are confirmed on the holdout of the round's own seeds ({rule.test}) with Holm's "
        f"correction across every comparison of the round at a familywise level of "
        f"{rule.level:g}: no fresh seeds were run this round (nothing screened in, or the "
        "confirmation could not run)."
    )


def fresh_round(state: SessionState, number: int) -> bool:
    """Whether round `number` ran a confirmation on fresh seeds."""
    return any(e.confirms and e.round == number for e in state.experiments.values())


def round_decisions(state: SessionState, number: int) -> dict[Unit, Decision]:
    """The decision of every comparison of round `number`: confirmed on fresh seeds where the
    round ran them (Holm over the screened), else on its own seeds' holdout (over all)."""
    fresh = fresh_round(state, number)
    units = _units(state, number)
    comparisons = [_comparison(state, number, unit, exps, fresh) for unit, exps in units]
    decisions = decide_round(comparisons, RULE)
    return {unit: d for (unit, _), d in zip(units, decisions, strict=True)}


def screened_units(state: SessionState, number: int) -> list[tuple[Unit, str]]:
    """The comparisons the test feedback screens in (or could not screen), each with the
    experiment whose cells a confirmation re-runs (the latest one cited, else scored)."""
    units = _units(state, number)
    comparisons = [
        _comparison(state, number, unit, exps, False).model_copy(update={"confirm": None})
        for unit, exps in units
    ]
    order = list(state.experiments)
    return [
        (unit, max(exps, key=order.index))
        for (unit, exps), d in zip(units, decide_round(comparisons, RULE), strict=True)
        if d.screened
    ]


def decide_finding(
    state: SessionState, finding: Finding, decisions: dict[Unit, Decision]
) -> tuple[Verdict, VerdictBasis]:
    """A finding's verdict: the decisions of its method on its tasks (all must agree)."""
    method = finding.method.split(" (")[0]  # the hypothesis's method name (params follow)
    mine = [decisions[(method, t)] for t in finding.tasks if (method, t) in decisions]
    verdicts = {d.verdict for d in mine}
    verdict: Verdict = verdicts.pop() if len(verdicts) == 1 else "inconclusive"
    if method == NAIVE:
        verdict = "inconclusive"
    seeds = sorted({s for d in mine for s in d.confirm_seeds})
    why = "; ".join(f"{d.key}: {d.why}" for d in mine) or "no comparison with naive was scored"
    if len(verdicts) > 1:
        why = f"the tasks disagree ({why})"
    ps = [d.confirm.p_value for d in mine if d.confirm and math.isfinite(d.confirm.p_value)]
    means = [d.confirm.mean for d in mine if d.confirm and math.isfinite(d.confirm.mean)]
    basis = VerdictBasis(
        split="holdout",
        seeds=seeds,
        fresh_seeds=any(d.fresh for d in mine),
        baseline=NAIVE,
        test=RULE.test,
        level=RULE.level,
        correction=RULE.correction,
        family_size=max((d.family_size for d in mine), default=0),
        screen=f"test feedback, {RULE.test}, p <= {RULE.screen_level:g}",
        mean_difference=sum(means) / len(means) if means else None,
        p_value=max(ps) if ps and len(ps) == len(mine) else None,
        adjusted_p=max((d.adjusted_p for d in mine), default=None),
        why=why[:2000],
    )
    return verdict, basis


def _is_baseline(state: SessionState, entry: EvalEntry) -> bool:
    exp = state.experiments.get(entry.experiment)
    return exp is not None and exp.hypothesis_id == BASELINES


def _units(state: SessionState, number: int) -> list[tuple[Unit, set[str]]]:
    """Every (method, task) comparison the round scored on test (or a finding of it cites),
    with the experiments whose records count: the ones its findings cite, or (uncited) every
    experiment of the round that scored it. The session decides each one, cited or not: a
    researcher cannot shrink the family by choosing what to cite."""
    cited: dict[Unit, set[str]] = defaultdict(set)
    for f in state.findings.values():
        if f.round != number:
            continue
        for rid in f.eval_record_ids:
            entry = state.record(rid)
            if entry is not None and entry.record.method != NAIVE:
                cited[(entry.record.method, entry.record.task)].add(entry.experiment)
    scored: dict[Unit, set[str]] = defaultdict(set)
    for e in state.evaluations:
        if e.round == number and e.record.method != NAIVE:
            scored[(e.record.method, e.record.task)].add(e.experiment)
    units = {u: cited.get(u) or scored[u] for u in {*cited, *scored}}
    return sorted(units.items())


def _comparison(
    state: SessionState, number: int, unit: Unit, experiments: set[str], fresh: bool
) -> Comparison:
    """Per-seed differences from naive: on test (screen), and on the holdout that confirms,
    of fresh seeds (the confirmation re-runs of `experiments` and of the baselines) or of the
    round's own seeds (`experiments` themselves)."""
    method, task = unit
    naive_test = _by_seed(e for e in state.evaluations if _naive(state, e, task))
    shown = with_naive_shown(naive_test.values())  # the ladder shows naive_acc in every answer
    naive_test = dict(zip(naive_test, shown, strict=True))
    test = _by_seed(
        e
        for e in state.evaluations
        if e.record.method == method
        and e.record.task == task
        and e.experiment in experiments
        and (e.round == number or _is_baseline(state, e))
    )
    if fresh:
        reruns = {
            x.id
            for x in state.experiments.values()
            if x.confirms in experiments and x.round == number
        }
        naive_hold = _by_seed(e for e in state.holdout if _confirmed_naive(state, e, task, number))
    else:
        reruns = experiments
        naive_hold = _by_seed(e for e in state.holdout if _naive(state, e, task))
    hold = _by_seed(
        e
        for e in state.holdout
        if e.record.method == method and e.record.task == task and e.experiment in reruns
    )
    confirm_seeds = sorted(set(hold) & set(naive_hold))
    return Comparison(
        key=f"{method} on {task}",
        screen=_diffs(test, naive_test),
        confirm=_diffs(hold, naive_hold) if confirm_seeds else None,
        confirm_seeds=confirm_seeds,
        fresh=fresh,
    )


def _confirmed_naive(state: SessionState, entry: EvalEntry, task: str, number: int) -> bool:
    """Naive's holdout on the fresh seeds of round `number` (the baselines' re-run)."""
    exp = state.experiments.get(entry.experiment)
    if exp is None or exp.confirms is None or exp.round != number:
        return False
    original = state.experiments.get(exp.confirms)
    return (
        original is not None
        and original.hypothesis_id == BASELINES
        and entry.record.method == NAIVE
        and entry.record.task == task
    )


def _naive(state: SessionState, entry: EvalEntry, task: str) -> bool:
    return entry.record.method == NAIVE and entry.record.task == task and _is_baseline(state, entry)


def _by_seed(entries: Iterable[EvalEntry]) -> dict[int, EvalRecord]:
    """The latest record per seed."""
    out: dict[int, EvalRecord] = {}
    for e in entries:
        out[e.record.seed] = e.record
    return out


def _diffs(mine: dict[int, EvalRecord], base: dict[int, EvalRecord]) -> list[float]:
    return [
        mine[s].metrics.get("pgr_acc", math.nan) - base[s].metrics.get("pgr_acc", math.nan)
        for s in sorted(set(mine) & set(base))
    ]


__all__ = [
    "NAIVE",
    "RULE",
    "decide_finding",
    "fresh_round",
    "round_decisions",
    "rule_text",
    "screened_units",
]
