"""The answer a round's report opens with: the best method per task, and how it was chosen.

The choice never looks at holdout. Among the methods the session's verdicts confirmed better
than naive on a task (screened on test feedback, confirmed on holdout, Holm-corrected, and
shown by the report's own holdout table), the one with the largest test-feedback edge over
naive is the answer; with none confirmed, naive stands. Holdout only supplies the effect
stated next to it: the paired difference from naive and its 95 % t-interval, on the rows of
the results table that confirmed it (their records are in the provenance appendix). Where
naive stands, the row says why, by what happened: no method was tested on the task, none was
confirmed (or no confirmation could run). A pure function of the session state, so `aar
replay` rebuilds it.

Layout 5 names a single best method only where test feedback orders it above every other
confirmed method (`_ordered_above`); where it cannot (the scorer withheld edges that would
decide, or the shown edges tie), the row lists the confirmed methods it cannot order, each
with its holdout effect, and names none (`unordered_text`).
"""

from __future__ import annotations

import math
from collections.abc import Callable

from pydantic import BaseModel, Field

from aar.bench import Decision, EvalRecord
from aar.session._method_config import changes_text
from aar.session._models import SessionState
from aar.session._report_evidence import Decided, decision_row, p_text
from aar.session._report_sections import (
    NAIVE,
    ResultRow,
    confirmed_by_test,
    number_text,
    shown_verdict,
)
from aar.session._verdicts import round_decisions

CHOICE_RULE = (
    "per task, among the methods whose verdict is 'supported' (confirmed better than naive on "
    "holdout by the session's test, and shown so by the results table), the one with the "
    "largest mean edge over naive in the test feedback; holdout never chooses, it only "
    "confirms. With none confirmed, naive stands."
)
SESSION_CHOICE_RULE = (
    "per task, among the methods whose verdict is 'supported' in any round of the session so "
    "far (confirmed better than naive on holdout by that round's test, and shown so by that "
    "round's results table), the one with the largest mean edge over naive in the test "
    "feedback; holdout never chooses, it only confirms. The round column says which round "
    "confirmed it; its effect is that round's holdout. A method is named only where the test "
    "feedback orders it above every other confirmed method: by a larger mean edge where both "
    "were shown on every seed, or, where the scorer withheld an edge, by a shown accuracy at or "
    "above the bound the scorer's answer put on the withheld one, on every seed. Where it cannot, "
    "the row lists the confirmed methods it cannot order and names none. With none confirmed, "
    "naive stands."
)


class AnswerRow(BaseModel):
    """The best method of one task, its configuration and its confirmed effect."""

    task: str
    method: str
    family: str | None
    params: str
    """The hypothesis's parameters as `name=value` (empty for naive or none given)."""
    candidates: int
    """How many methods the session confirmed better than naive on the task."""
    screen_mean: float | None
    """Its mean edge over naive in the test feedback, on `screen_n` seeds (what chose it)."""
    screen_n: int
    effect: tuple[float, float, float] | None
    """Holdout PGR(method) - PGR(naive): mean, 95 % t-interval (the results table's row)."""
    effect_seeds: list[int]
    adjusted_p: float | None
    experiment: str | None
    """The experiment whose holdout records give `effect` (see the provenance appendix)."""
    tested: int = 0
    """How many methods the session compared with naive on the task this round."""
    confirmations: int = 0
    """How many of them went through a confirmation test on holdout."""
    changes: str | None = Field(default=None, exclude_if=lambda v: v is None)
    """Its `MethodConfig`'s fields other than naive's (`component.field=value, ...`), where
    its finding holds the configuration (None, and absent from `report.json`, elsewhere: the
    reports of sessions whose findings hold none stay as they were)."""
    round: int | None = Field(default=None, exclude_if=lambda v: v is None)
    """Layout 5: the round that confirmed it (None, and absent from `report.json`, in the
    answers of earlier layouts, which cover their own round only)."""
    unordered: list[AnswerRow] | None = Field(default=None, exclude_if=lambda v: v is None)
    """Layout 5: where test feedback cannot order the best confirmed methods, each of them
    (and `method` is empty: no single one is named); None, and absent, elsewhere."""
    unordered_why: str | None = Field(default=None, exclude_if=lambda v: v is None)
    """Why test feedback cannot order `unordered` (the words both the report and the
    terminal say)."""

    def configuration(self) -> str:
        """The answer table's configuration cell: the configuration's diff from naive where
        it is known, else the hypothesis's family and parameters."""
        if self.changes is not None:
            return self.changes
        family = f"family {self.family}" if self.family else ""
        return "; ".join(x for x in (family, self.params) if x)


def answer_rows(state: SessionState, number: int, rows: list[ResultRow]) -> list[AnswerRow]:
    """The best method per task of round `number`, in the session's task order."""
    confirmed: dict[str, list[tuple[str, Decision]]] = {t: [] for t in state.config.tasks}
    decided: dict[str, list[Decision]] = {t: [] for t in state.config.tasks}
    for (method, task), d in sorted(round_decisions(state, number).items()):
        if method == NAIVE:
            continue
        decided.setdefault(task, []).append(d)
        if shown_verdict(method, task, d, rows) == "supported":
            confirmed.setdefault(task, []).append((method, d))
    return [
        _answer(state, number, task, found, rows).model_copy(
            update={
                "tested": len(decided.get(task, [])),
                "confirmations": sum(map(confirmed_by_test, decided.get(task, []))),
            }
        )
        for task, found in confirmed.items()
    ]


def session_answer_rows(
    state: SessionState, number: int, decided: list[Decided]
) -> list[AnswerRow]:
    """Layout 5: the best method per task of the session so far (rounds 1..`number`, whose
    comparisons `decided` is: `session_decided`), each with the round that confirmed it: the
    confirmed method that test feedback orders above every other (`_unordered_top`), or, where
    it cannot, none named and the ones it cannot order listed (holdout never breaks the tie).
    A method confirmed in several rounds counts once, as its latest round decided it; the
    counts of tested methods span the session too."""
    out = []
    for task in state.config.tasks:
        mine = [d for d in decided if d.task == task]
        last = {d.method: d for d in mine}  # round order: each method's latest decision
        latest = {m: d for m, d in last.items() if d.verdict == "supported"}
        tested = {d.method for d in mine}
        checked = {d.method for d in mine if confirmed_by_test(d.decision)}
        top = _unordered_top(state, task, sorted(latest.values(), key=lambda d: d.method))
        if len(top) > 1:
            row = _unordered_row(state, task, top, len(latest))
        elif top:
            row = _session_chosen(state, task, top[0], len(latest))
        else:
            row = _naive_row(task)
        row.tested, row.confirmations = len(tested), len(checked)
        out.append(row)
    return out


def unordered_text(row: AnswerRow, name: Callable[[str], str] = str) -> str:
    """The best-method cell where test feedback cannot order the best confirmed methods: why,
    and each of them with its confirmed holdout effect (`name` quotes a method's name)."""
    listed = ", ".join(
        f"{name(c.method)} (round {c.round}) {_effect_text(c)}" for c in row.unordered or []
    )
    return (
        f"not ordered by test feedback ({row.unordered_why}): {listed}; each confirmed better "
        "than naive"
    )


def unordered_line(row: AnswerRow, name: Callable[[str], str] = str) -> str:
    """Layout 5's answer-table row where test feedback cannot order the best confirmed
    methods: no single one is named; each column lists them all."""
    found = row.unordered or []
    rounds = ", ".join(str(c.round) for c in found)
    configs = "; ".join(f"{name(c.method)}: {name(c.configuration()) or '—'}" for c in found)
    seeds = ", ".join(str(len(c.effect_seeds)) for c in found)
    experiments = ", ".join(str(c.experiment) for c in found)
    effects = f"as listed, on {seeds} seeds ({experiments})"
    ps = ", ".join(p_text(c.adjusted_p) for c in found) + " (as listed)"
    return (
        f"| {row.task} | {unordered_text(row, name)} | {rounds} | {configs} | {effects} | {ps} "
        f"| none: test feedback cannot order these {len(found)} of {row.candidates} confirmed |"
    )


def no_answer_text(row: AnswerRow) -> str:
    """The best-method cell where no method was confirmed better than naive, saying what
    happened: nothing was tested (no result at all, not a negative one), no confirmation
    could run, or the confirmations did not show a gain."""
    if row.tested == 0:
        return "none: no method was tested on this task (naive is the baseline)"
    methods = f"{row.tested} method{'s' if row.tested != 1 else ''} tested"
    if row.confirmations == 0:
        return f"naive ({methods}; none could be confirmed: no confirmation test was run)"
    return f"naive ({methods}; none was confirmed better)"


def _answer(
    state: SessionState,
    number: int,
    task: str,
    found: list[tuple[str, Decision]],
    rows: list[ResultRow],
) -> AnswerRow:
    if not found:
        return _naive_row(task)
    method, d = max(found, key=lambda pair: (_edge(pair[1]), pair[0]))
    row = decision_row(rows, task, method, d)
    return _chosen(state, number, task, method, d, row, len(found))


def _naive_row(task: str) -> AnswerRow:
    """Naive stands on `task` (no method was confirmed better)."""
    return AnswerRow(
        task=task,
        method=NAIVE,
        family=None,
        params="",
        candidates=0,
        screen_mean=None,
        screen_n=0,
        effect=None,
        effect_seeds=[],
        adjusted_p=None,
        experiment=None,
    )


def _chosen(
    state: SessionState,
    number: int,
    task: str,
    method: str,
    d: Decision,
    row: ResultRow | None,
    candidates: int,
) -> AnswerRow:
    """The answer row of `method`, confirmed in round `number` (`row`, the round's holdout
    table row of the decision, gives its effect), chosen among `candidates` confirmed
    methods."""
    hyp = next(
        (h for h in state.hypotheses.values() if h.round == number and h.method == method), None
    )
    params = hyp.params if hyp else {}
    return AnswerRow(
        task=task,
        method=method,
        family=hyp.family if hyp else None,
        params=", ".join(f"{k}={v:g}" for k, v in sorted(params.items())),
        candidates=candidates,
        screen_mean=d.screen.mean if d.screen.n else None,
        screen_n=d.screen.n,
        effect=row.vs_naive if row else None,
        effect_seeds=row.seeds if row else [],
        adjusted_p=d.adjusted_p,
        experiment=row.experiment if row else None,
        changes=_changes(state, number, method, task),
    )


def _changes(state: SessionState, number: int, method: str, task: str) -> str | None:
    """The configuration (as its diff from naive) that the round's latest finding of `method`
    on `task` holds; None when none holds one."""
    configs = [
        f.config
        for f in state.findings.values()
        if f.round == number and f.method.split(" (")[0] == method and task in f.tasks
    ]
    known = [c for c in configs if c is not None]
    return changes_text(known[-1]) if known else None


def _edge(d: Decision) -> float:
    """What chooses among the confirmed: the test-feedback edge (withheld feedback last)."""
    return d.screen.mean if d.screen.n and math.isfinite(d.screen.mean) else -math.inf


def _session_chosen(state: SessionState, task: str, best: Decided, candidates: int) -> AnswerRow:
    """Layout 5's answer row of `best`, with the round that confirmed it."""
    row = _chosen(state, best.round, task, best.method, best.decision, best.row, candidates)
    row.round = best.round
    return row


def _unordered_row(
    state: SessionState, task: str, top: list[Decided], candidates: int
) -> AnswerRow:
    """Layout 5's answer row naming no method: the confirmed methods in `top`, which test
    feedback cannot order, each as its own answer row would state it."""
    found = [_session_chosen(state, task, d, candidates) for d in top]
    shown = [_fully_shown(state, d) for d in top]
    why = (
        "the scorer withheld their edges"
        if not any(shown)
        else "their test-feedback edges are equal"
        if all(shown)
        else "the scorer withheld some of their edges; no shown one clears their bound"
    )
    row = _naive_row(task).model_copy(update={"method": "", "candidates": candidates})
    row.unordered, row.unordered_why = found, why
    return row


def _unordered_top(state: SessionState, task: str, confirmed: list[Decided]) -> list[Decided]:
    """The confirmed methods that test feedback orders below no other (transitively): one
    where it orders a best; several where it cannot choose among them."""
    n = len(confirmed)
    above = [[i != j and _ordered_above(state, a, b) for j, b in enumerate(confirmed)]
             for i, a in enumerate(confirmed)]  # fmt: skip
    for k in range(n):  # transitive closure: each relation is a fact about the exact scores
        for i in range(n):
            for j in range(n):
                above[i][j] = above[i][j] or (above[i][k] and above[k][j])
    return [
        confirmed[j] for j in range(n) if not any(above[i][j] and not above[j][i] for i in range(n))
    ]


def _ordered_above(state: SessionState, a: Decided, b: Decided) -> bool:
    """Whether test feedback says `a`'s edge over naive is larger than `b`'s.

    The ladder (`aar.scorer._mechanism.decide_on`) shows a test score only when it beats the
    best shown so far on its (task, seed) by its step eta; otherwise it answers 'not better
    than T', where T (`threshold_acc`) is at least that best plus eta. A withheld score is
    thus bounded above only by the best shown *when it was submitted* plus eta: if `a` was
    shown first, a withheld `b` may still beat it by up to eta (more, had a third method
    raised the best), so a shown edge alone does not order `a` above a withheld `b`, however
    large. What does: on every seed, `a`'s shown accuracy (a floor of the exact one) is at
    least the bound T that `b`'s answer gave (b's exact accuracy < T), so `a` beat `b` seed by
    seed and its PGR edge is larger (PGR rises with accuracy on a seed). Where both were shown
    on every seed, the larger mean shown edge orders them; an equal one does not. 'repeat'
    and 'exhausted' answers bound nothing."""
    if _fully_shown(state, a) and _fully_shown(state, b):
        return _edge(a.decision) > _edge(b.decision)
    low, high = _bounds(state, a), _bounds(state, b)
    return bool(high) and all(seed in low and low[seed][0] >= up for seed, (_, up) in high.items())


def _test_records(state: SessionState, d: Decided) -> list[EvalRecord]:
    """The test feedback of `d`'s method on its task in the round that confirmed it."""
    return [
        e.record
        for e in state.evaluations
        if e.round == d.round
        and e.record.split == "test"
        and (e.record.method, e.record.task) == (d.method, d.task)
    ]


def _fully_shown(state: SessionState, d: Decided) -> bool:
    """Whether the scorer showed `d`'s method a score on every test submission of its round."""
    records = _test_records(state, d)
    return bool(records) and all(math.isfinite(r.metrics.get("acc", math.nan)) for r in records)


def _bounds(state: SessionState, d: Decided) -> dict[int, tuple[float, float]]:
    """Per seed, what test feedback says of the exact accuracy of `d`'s method's submissions:
    at least the lowest shown one (-inf where one was withheld), below the highest bound (a
    shown floor plus its rounding step, or a 'not better' answer's threshold; +inf where an
    answer bounds nothing)."""
    out: dict[int, tuple[float, float]] = {}
    for r in _test_records(state, d):
        acc = r.metrics.get("acc", math.nan)
        if math.isfinite(acc):
            low, high = acc, acc + (r.rounding or 0.0)
        elif r.answer == "not_better" and r.threshold_acc is not None:
            low, high = -math.inf, r.threshold_acc
        else:
            low, high = -math.inf, math.inf
        was = out.get(r.seed, (math.inf, -math.inf))
        out[r.seed] = (min(was[0], low), max(was[1], high))
    return out


def _effect_text(row: AnswerRow) -> str:
    if row.effect is None:
        return "(no holdout row)"
    mean, low, high = row.effect
    return f"{_signed(mean)} [{_signed(low)}, {_signed(high)}]"


def _signed(value: float) -> str:
    return number_text(value) if not math.isfinite(value) or value < 0 else f"+{value:.3f}"
