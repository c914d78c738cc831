"""Layout 5 of a round's report: the session's own holdout evidence, across its rounds so far.

The researcher chooses on test feedback only and never sees a holdout number, so its follow-up
rationale may say that no family gained, or propose taking further a family that the same
report's holdout confirmation found worse than naive. What it proposes is not changed (choosing
on test feedback is the rule; holdout only confirms). The report instead puts, under each
proposal, what the session's confirmation found for the method the proposal builds on (the
hypothesis of the experiment it follows, `Proposal.follows`) and for the rest of that method's
family, per task, for the person who decides whether it runs.

`session_decided` is every comparison with naive the session decided in rounds 1..N, each as
its own round's report states it (`shown_verdict`, the effect from that round's holdout
table): the answer of the session so far (`_report_answer`) chooses among these too. Pure
functions of the session state and the proposals' `follows`, so `aar replay` rebuilds them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel

from aar.bench import Decision
from aar.session._claims import _first_named
from aar.session._models import EvalEntry, Hypothesis, SessionState
from aar.session._report_context import sweep_start_entries
from aar.session._report_sections import (
    NAIVE,
    ResultRow,
    confirmed_by_test,
    is_baseline,
    number_text,
    result_rows,
    shown_verdict,
)
from aar.session._verdicts import round_decisions
from aar.text import markdown_inline

Status = Literal["confirmed better", "confirmed harmful", "not confirmed", "not tested on holdout"]
STATUS_TEXT: dict[str, str] = {
    "confirmed better": "confirmed better than naive",
    "confirmed harmful": "confirmed harmful (worse than naive)",
    "not confirmed": "not confirmed (the holdout test ran and decided neither way)",
    "not tested on holdout": "not tested on holdout",
}
MAX_NAMED = 3
"""Methods of a family named per status in a proposal's evidence line (the rest counted)."""


@dataclass(frozen=True)
class Decided:
    """One (method, task) comparison with naive the session decided in `round`, with the row
    of that round's holdout table that shows it (None where the table has none)."""

    method: str
    task: str
    round: int
    decision: Decision
    verdict: str
    row: ResultRow | None

    @property
    def status(self) -> Status:
        if self.verdict == "supported":
            return "confirmed better"
        if self.verdict == "refuted":
            return "confirmed harmful"
        return "not confirmed" if confirmed_by_test(self.decision) else "not tested on holdout"


def p_text(p: float | None) -> str:
    """A p-value to three significant figures (a small one stays visible: 2.1e-05), or n/a."""
    return "n/a" if p is None or not math.isfinite(p) else f"{p:.3g}"


def decision_row(
    rows: list[ResultRow], task: str, method: str, decision: Decision
) -> ResultRow | None:
    """The holdout-table row that shows `decision` of `method` on `task`: the confirmation
    re-run's when fresh seeds decided it, else the method's row."""
    role = "confirmation" if decision.fresh else None
    return next(
        (r for r in rows if (r.task, r.method) == (task, method) and role in (None, r.role)), None
    )


def round_holdout(state: SessionState, number: int) -> list[EvalEntry]:
    """The holdout entries round `number`'s report shows: the round's own, the baselines and,
    from layout 3, the earlier methods its sweeps started from (with their records)."""
    holdout = [e for e in state.holdout if e.round == number or is_baseline(state, e)]
    if state.report_layout >= 3:
        holdout += sweep_start_entries(state, number)
    return holdout


def round_rows(state: SessionState, number: int) -> list[ResultRow]:
    """Round `number`'s holdout table, as its report builds it (`report_data`)."""
    return result_rows(state, round_holdout(state, number), number)


def session_decided(state: SessionState, number: int) -> list[Decided]:
    """Every comparison decided in rounds 1..`number` (ended ones, and `number` itself), in
    round order, each with its round's holdout row (the confirmation re-run's when fresh seeds
    decided it)."""
    out: list[Decided] = []
    for info in state.rounds:
        if info.number > number or not (info.ended or info.number == number):
            continue
        rows = round_rows(state, info.number)
        for (method, task), d in sorted(round_decisions(state, info.number).items()):
            if method == NAIVE:
                continue
            row = decision_row(rows, task, method, d)
            verdict = shown_verdict(method, task, d, rows)
            out.append(Decided(method, task, info.number, d, verdict, row))
    return out


class TaskEvidence(BaseModel):
    """What the session's holdout confirmation found on one task for the method a proposal
    builds on (its latest decision), and for the other methods of its family."""

    task: str
    status: Status | Literal["never compared"]
    round: int | None
    effect: tuple[float, float, float] | None
    """Holdout PGR(method) - PGR(naive): mean and 95 % t-interval (its round's table row)."""
    seeds: int
    fresh: bool
    adjusted_p: float | None
    why: str
    """Why it was not tested on holdout (the decision's reason); empty otherwise."""
    family: dict[str, list[str]]
    """The family's other decided methods by status, each `method (round r)`."""


class ProposalEvidence(BaseModel):
    """A proposal's line of holdout evidence for the reviewer (empty `tasks` where the
    proposal follows no experiment of a method the session tested)."""

    proposal_id: str
    follows: str | None
    method: str | None
    family: str | None
    hypothesis: str | None
    tasks: list[TaskEvidence]


def proposal_evidence(
    state: SessionState, number: int, proposals: list[dict[str, str]], decided: list[Decided]
) -> list[ProposalEvidence]:
    """For each of round `number`'s proposals (`proposal_rows`, with `follows`), the session's
    holdout confirmation of what it builds on (`decided`: `session_decided` of the same
    round), per task of the session."""
    families = _families(state, number)
    out = []
    for p in proposals:
        follows = p.get("follows") or None
        hyp = built_on(state, number, follows, p["rationale"])
        ev = ProposalEvidence(
            proposal_id=p["id"],
            follows=follows,
            method=hyp.method if hyp else None,
            family=hyp.family if hyp else None,
            hypothesis=hyp.id if hyp else None,
            tasks=[],
        )
        if hyp is not None:
            ev.tasks = [
                _task_evidence(decided, families, hyp.method, hyp.family, task)
                for task in state.config.tasks
            ]
        out.append(ev)
    return out


def built_on(
    state: SessionState, number: int, follows: str | None, rationale: str
) -> Hypothesis | None:
    """The hypothesis a proposal of round `number` builds on: that of the experiment it
    follows; where that is the session's baseline run (logconf is a baseline and a hypothesis
    at once), the hypothesis its rationale names first, as `followed_experiment` chose it,
    else the latest one whose method that experiment scored. Only hypotheses of rounds up to
    `number` count, so a replay after later rounds finds the same one."""
    known = {k: h for k, h in state.hypotheses.items() if h.round <= number}
    exp = state.experiments.get(follows) if follows else None
    if exp is not None and exp.hypothesis_id in known:
        return known[exp.hypothesis_id or ""]
    named = _first_named(state.model_copy(update={"hypotheses": known}), rationale)
    if isinstance(named, Hypothesis) or exp is None:
        return named if isinstance(named, Hypothesis) else None
    scored = {e.record.method for e in state.evaluations if e.experiment == exp.id} - {NAIVE}
    mine = [h for h in known.values() if h.method in scored]
    return mine[-1] if mine else None


def _families(state: SessionState, number: int) -> dict[str, str]:
    """Each hypothesis method's family (the latest hypothesis up to round `number` that
    names one)."""
    return {h.method: h.family for h in state.hypotheses.values() if h.family and h.round <= number}


def in_family(method: str, family: str | None, families: dict[str, str]) -> bool:
    """Whether `method` belongs to `family`: its hypothesis says so, else its name is the
    family's or extends it (`family-param-value`, as follow-up methods are named)."""
    if not family:
        return False
    if method in families:
        return families[method] == family
    return method == family or method.startswith(f"{family}-")


def _task_evidence(
    decided: list[Decided], families: dict[str, str], method: str, family: str | None, task: str
) -> TaskEvidence:
    mine = [d for d in decided if d.task == task]
    own = [d for d in mine if d.method == method]
    latest: dict[str, Decided] = {}
    for d in mine:
        if d.method != method and in_family(d.method, family, families):
            latest[d.method] = d  # round order: the latest decision of each method stays
    others: dict[str, list[str]] = {}
    for d in latest.values():
        others.setdefault(d.status, []).append(f"{d.method} (round {d.round})")
    if not own:
        return TaskEvidence(
            task=task,
            status="never compared",
            round=None,
            effect=None,
            seeds=0,
            fresh=False,
            adjusted_p=None,
            why="",
            family=others,
        )
    d = own[-1]
    tested = confirmed_by_test(d.decision)
    return TaskEvidence(
        task=task,
        status=d.status,
        round=d.round,
        effect=d.row.vs_naive if d.row and tested else None,
        seeds=len(d.row.seeds) if d.row and tested else 0,
        fresh=d.decision.fresh,
        adjusted_p=d.decision.adjusted_p if tested else None,
        why="" if tested else _untested_why(d.decision),
        family=others,
    )


def _untested_why(d: Decision) -> str:
    """Why a comparison went through no holdout test."""
    if not d.screened:
        return "the test feedback did not screen it in"
    return "no confirmation test could run" + (f" ({d.why})" if d.why else "")


EVIDENCE_LEAD = (
    "For the reviewer: the session's holdout confirmation, which the researcher did not see "
    "(it proposes from test feedback only)"
)


def evidence_lines(ev: ProposalEvidence) -> list[str]:
    """A proposal's evidence as nested Markdown list lines (under its `- \\`p-...\\`` item):
    what it builds on, then one line per task. Names are quoted (`markdown_inline`)."""
    if ev.method is None:
        what = f"experiment {ev.follows}" if ev.follows else "no method of this session"
        return [f"  - {EVIDENCE_LEAD}: none to show; the proposal follows {what}."]
    family = f", family {markdown_inline(ev.family)}" if ev.family else ""
    out = [
        f"  - {EVIDENCE_LEAD}, for what it builds on, {markdown_inline(ev.method)} "
        f"(hypothesis {ev.hypothesis}{family}):"
    ]
    for t in ev.tasks:
        line = f"    - {t.task}: {markdown_inline(ev.method)} {_status_text(t)}"
        if ev.family:
            line += f"; the family's other methods: {_family_text(t.family)}"
        out.append(line + ".")
    return out


def _status_text(t: TaskEvidence) -> str:
    if t.status == "never compared":
        return "not tested on holdout (no comparison with naive was scored on this task)"
    text = f"{STATUS_TEXT[t.status]} in round {t.round}"
    if t.why:
        return f"{text}: {t.why}"
    if t.effect is not None:
        mean, low, high = t.effect
        kind = "fresh " if t.fresh else ""
        text += (
            f": holdout PGR vs naive {number_text(mean)} [{number_text(low)}, "
            f"{number_text(high)}] on {t.seeds} {kind}seeds"
        )
    if t.adjusted_p is not None:
        text += f", adjusted p {t.adjusted_p:.3g}"
    return text


def _family_text(family: dict[str, list[str]]) -> str:
    """`confirmed harmful: a (round 1), b (round 1); 2 not confirmed`: decided methods named
    (up to `MAX_NAMED` each), the undecided counted."""
    parts = []
    for status in ("confirmed better", "confirmed harmful"):
        names = family.get(status, [])
        if names:
            more = f" and {len(names) - MAX_NAMED} more" if len(names) > MAX_NAMED else ""
            shown = ", ".join(markdown_inline(n) for n in names[:MAX_NAMED])
            parts.append(f"{status}: {shown}{more}")
    for status in ("not confirmed", "not tested on holdout"):
        if family.get(status):
            parts.append(f"{len(family[status])} {status}")
    return "; ".join(parts) or "none decided"
