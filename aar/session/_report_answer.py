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
"""

from __future__ import annotations

import math

from pydantic import BaseModel, Field

from aar.bench import Decision
from aar.session._method_config import changes_text
from aar.session._models import SessionState
from aar.session._report_evidence import round_rows, session_decided
from aar.session._report_sections import NAIVE, ResultRow, confirmed_by_test, shown_verdict
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
    "confirmed it; its effect is that round's holdout. With none confirmed, naive stands."
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


def session_answer_rows(state: SessionState, number: int) -> list[AnswerRow]:
    """Layout 5: the best method per task of the session so far (rounds 1..`number`), chosen
    as `answer_rows` chooses within a round (the test-feedback edge among the confirmed),
    each with the round that confirmed it. A method confirmed in several rounds counts once,
    as its latest round decided it; the counts of tested methods span the session too."""
    decided = session_decided(state, number)
    out = []
    for task in state.config.tasks:
        mine = [d for d in decided if d.task == task]
        last = {d.method: d for d in mine}  # round order: each method's latest decision
        latest = {m: d for m, d in last.items() if d.verdict == "supported"}
        tested = {d.method for d in mine}
        checked = {d.method for d in mine if confirmed_by_test(d.decision)}
        if latest:
            best = max(latest.values(), key=lambda d: (_edge(d.decision), d.method))
            rows = round_rows(state, best.round)
            row = _chosen(state, best.round, task, best.method, best.decision, rows, len(latest))
            row.round = best.round
        else:
            row = _naive_row(task)
        row.tested, row.confirmations = len(tested), len(checked)
        out.append(row)
    return out


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
    return _chosen(state, number, task, method, d, rows, len(found))


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
    rows: list[ResultRow],
    candidates: int,
) -> AnswerRow:
    """The answer row of `method`, confirmed in round `number` (whose holdout table `rows`
    gives its effect), chosen among `candidates` confirmed methods."""
    role = "confirmation" if d.fresh else None
    row = next(
        (r for r in rows if r.task == task and r.method == method and role in (None, r.role)),
        None,
    )
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
