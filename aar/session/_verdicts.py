"""A round's verdicts, decided by the session: screened on test feedback, confirmed on holdout.

The researcher's verdict is a claim (`Finding.claimed_verdict`). The verdict a finding keeps is
computed here at the end of the round, from the evaluator's records alone, by
`aar.bench.decide_round`: each (method, task) the round scored on test is one comparison with
the session's naive baseline, paired by seed; a paired t-test on the test feedback screens it;
a paired t-test on the holdout confirms it, Holm-corrected across every comparison of the round
(the holdout of the round's own seeds shares the trained models that the test feedback chose,
so every comparison the researcher could have picked counts, cited or not).

Everything here is a pure function of the session state, so `aar replay` rebuilds the same
verdicts from `events.jsonl`.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable

from aar.bench import Comparison, Decision, EvalRecord, VerdictRule, decide_round
from aar.memory import Finding, Verdict, VerdictBasis
from aar.session._finalize import BASELINES
from aar.session._models import EvalEntry, SessionState

NAIVE = "naive"
RULE = VerdictRule()
"""The rule every round uses (familywise level 5 %, Holm, paired t-tests)."""

Unit = tuple[str, str]
"""(method, task): one comparison with naive."""


def rule_text(rule: VerdictRule = RULE) -> str:
    """How verdicts are decided, in one sentence for reports and README."""
    return (
        f"each (method, task) scored on test is compared with naive, paired by seed: screened "
        f"on the rounded test feedback ({rule.test}, p <= {rule.screen_level:g}), then "
        f"confirmed on the holdout of the round's own seeds ({rule.test}), with Holm's "
        f"correction across every comparison of the round at a familywise level of "
        f"{rule.level:g}; at least {rule.min_seeds} seeds. Fresh confirmation seeds are not "
        "used yet, so the correction counts comparisons that were not cited too."
    )


def round_decisions(state: SessionState, number: int) -> dict[Unit, Decision]:
    """The decision of every comparison of round `number`."""
    units = _units(state, number)
    comparisons = [_comparison(state, number, unit, experiments) for unit, experiments in units]
    decisions = decide_round(comparisons, RULE)
    return {unit: d for (unit, _), d in zip(units, decisions, strict=True)}


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
    seeds = sorted({s for t in finding.tasks for s in _holdout_seeds(state, method, t)})
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
    """Every (method, task) of the round, with the experiments whose records count: the ones
    its findings cite, or (uncited) every experiment of the round that scored it."""
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


def _comparison(state: SessionState, number: int, unit: Unit, experiments: set[str]) -> Comparison:
    method, task = unit
    naive_test = _by_seed(e for e in state.evaluations if _naive(state, e, task))
    naive_hold = _by_seed(e for e in state.holdout if _naive(state, e, task))
    test = _by_seed(
        e
        for e in state.evaluations
        if e.record.method == method
        and e.record.task == task
        and e.experiment in experiments
        and (e.round == number or _is_baseline(state, e))
    )
    hold = _by_seed(
        e
        for e in state.holdout
        if e.record.method == method and e.record.task == task and e.experiment in experiments
    )
    screen = _diffs(test, naive_test)
    confirm_seeds = sorted(set(hold) & set(naive_hold))
    confirm = _diffs(hold, naive_hold) if confirm_seeds else None
    return Comparison(
        key=f"{method} on {task}",
        screen=screen,
        confirm=confirm,
        confirm_seeds=confirm_seeds,
        fresh=False,
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


def _holdout_seeds(state: SessionState, method: str, task: str) -> list[int]:
    return sorted(
        {
            e.record.seed
            for e in state.holdout
            if e.record.method == method and e.record.task == task
        }
    )


__all__ = ["NAIVE", "RULE", "decide_finding", "round_decisions", "rule_text"]
