"""Findings and round summaries: claims the agent makes, checked against the evaluator.

`record_finding` takes record ids, never numbers: the finding's metrics are computed here from
the cited test records, and the summary may only state numbers those records support. The
researcher's verdict is kept as a claim (`claimed_verdict`); the verdict itself is decided by
the session at the end of the round (`_verdicts.py`). Proposal rationales get the same number
check, and may claim that a method beats another only where a finding's decided verdict says so.
"""

from __future__ import annotations

import re
from typing import Any

from aar.errors import AarError
from aar.memory import Finding, Verdict, new_finding_id
from aar.session._evidence import check_numbers, evidence, feedback_metrics, numbers_in_code
from aar.session._method_config import records_config
from aar.session._models import SessionState

VERDICTS: tuple[Verdict, ...] = ("supported", "refuted", "inconclusive")
NAIVE = "naive"


class ClaimError(AarError):
    """A claim the agent must fix before it is recorded."""


def build_finding(
    state: SessionState,
    *,
    hypothesis_id: str,
    summary: str,
    verdict: str,
    eval_record_ids: list[str],
    git_commit: str,
) -> Finding:
    """The finding for `hypothesis_id`, its metrics computed from the cited test records (None
    when the scorer withheld all of them: the finding still records what was tried)."""
    hypothesis = state.hypotheses.get(hypothesis_id)
    if hypothesis is None:
        known = ", ".join(state.hypotheses) or "none yet"
        raise ClaimError(f"unknown hypothesis {hypothesis_id!r} (known: {known})")
    claimed = next((v for v in VERDICTS if v == verdict), None)
    if claimed is None:
        raise ClaimError(f"verdict must be one of {', '.join(VERDICTS)}, got {verdict!r}")
    records = _cited(state, eval_record_ids)
    method = _finding_method(state, hypothesis, records)
    own = [r for r in records if r.method == method] or records
    _one_task(method, own)
    backing = evidence(records, extra=hypothesis.params.values())
    check_numbers(summary, backing, where="the finding's summary", names=_names(state, records))
    family = hypothesis.family or hypothesis.method
    metrics = feedback_metrics(own)  # None: the scorer withheld every cited score
    try:
        return Finding(
            id=new_finding_id(),
            session_id=state.id,
            round=hypothesis.round,
            summary=summary,
            hypothesis=hypothesis.statement,
            method=_method_text(method, hypothesis.params if method == hypothesis.method else {}),
            tasks=sorted({r.task for r in own}),
            metrics=metrics,
            eval_record_ids=[r.id for r in records],
            # the session decides the verdict at the end of the round (screen on test,
            # confirm on holdout, Holm): until then it is undecided, and the claim is kept
            verdict="inconclusive",
            claimed_verdict=claimed,
            git_commit=git_commit,
            tags=[f"family:{family}", f"model:{state.config.model}", "split:test-feedback"],
            # the script's MethodConfig, where it says it plainly (`own is records`: no cited
            # record is of the finding's method, so none says how it was trained)
            config=None if own is records else records_config(state, own),
        )
    except ValueError as exc:
        raise ClaimError(f"the finding is not valid: {exc}") from None


def _finding_method(state: SessionState, hypothesis: Any, records: list[Any]) -> str:
    """The method a finding is about: the hypothesis's, or, when it cites none of those, the
    one other method it cites besides naive whose records this hypothesis's own experiments
    scored (a search inside a hypothesis tries several configurations and reports the best
    one per task). Anything else stays the hypothesis's method, as before."""
    if any(r.method == hypothesis.method for r in records):
        return str(hypothesis.method)
    mine = {
        e.record.id
        for e in state.evaluations
        if (exp := state.experiments.get(e.experiment)) is not None
        and exp.hypothesis_id == hypothesis.id
    }
    others = {r.method for r in records if r.method != NAIVE}
    if len(others) == 1 and all(r.id in mine for r in records if r.method in others):
        return str(others.pop())
    return str(hypothesis.method)


def _one_task(method: str, records: list) -> None:
    """A finding is about one task: its metrics are that task's (a mean over tasks would be a
    number no task has, and the memory is searched per task)."""
    by_task: dict[str, list[str]] = {}
    for r in records:
        by_task.setdefault(r.task, []).append(r.id)
    if len(by_task) > 1:
        listed = "; ".join(f"{task}: {', '.join(ids)}" for task, ids in sorted(by_task.items()))
        raise ClaimError(
            f"a finding is about one task, and the cited records of {method} cover "
            f"{len(by_task)} ({', '.join(sorted(by_task))}): record one finding per task, "
            f"citing that task's records ({listed})"
        )


def check_round_summary(state: SessionState, summary: str) -> None:
    """The round summary may state numbers of any test record of the round."""
    number = state.round.number if state.round else 0
    records = [e.record for e in state.evaluations if e.round == number]
    params = [v for h in state.hypotheses.values() if h.round == number for v in h.params.values()]
    counts = [
        sum(h.round == number for h in state.hypotheses.values()),
        sum(f.round == number for f in state.findings.values()),
        len(state.round.proposals) if state.round else 0,
    ]
    backing = evidence(records, extra=params, integers=counts)
    check_numbers(summary, backing, where="the round summary", names=_names(state, records))


CLAIM_WORDS = re.compile(
    r"\b(beat|beats|beaten|beating|outperform\w*|improv\w*|better than|helps|helped|"
    r"surpass\w*|superior to|wins? over|won over)\b",
    re.IGNORECASE,
)
"""Words that claim a method is better than another."""
_NOT_A_CLAIM = re.compile(
    r"(\bnot|n't|\bnever|\bno\b|\bfailed to|\bfails to|\bwhether|\bif\b|\bmight|\bmay"
    r"|\bcould|\bwould|\bto see|\bto test)\b[^.;:!?,]*$",
    re.IGNORECASE,
)
"""A negation or a question before a claim word in the same clause (no comma between): not a
claim. "No doubt, X beat naive" is a claim."""
_SENTENCE = re.compile(r"(?<=[.!?;])\s+|\n+")


def check_rationale(state: SessionState, rationale: str, code: str) -> None:
    """A proposal's rationale claims only what the findings support.

    1. Numbers: the same check as findings, against every test record of the session, the
       hypotheses' parameters, and (only where no metric word precedes them) the settings
       written in the proposal's code.
    2. Claims: a sentence that says a method beat, improved on or outperformed another (not
       negated, not a question) may name only methods whose finding was decided `supported`;
       naive, the baseline, is exempt. Until a round ends no verdict is decided, so a
       rationale written during the round can say what the test feedback showed, not that a
       method won.
    """
    records = [e.record for e in state.evaluations]
    params = [v for h in state.hypotheses.values() for v in h.params.values()]
    counts = [len(state.hypotheses), len(state.findings), len(state.config.seeds)]
    backing = evidence(records, extra=params, integers=counts)
    names = _names(state, records)
    check_numbers(
        rationale,
        backing,
        where="the follow-up's rationale",
        names=names,
        plain=numbers_in_code(code),
    )
    for sentence in _SENTENCE.split(rationale):
        for claim in CLAIM_WORDS.finditer(sentence):
            if _NOT_A_CLAIM.search(sentence[: claim.start()]):
                continue
            for name in _named_methods(state, sentence):
                if not _supported(state, name):
                    verdicts = sorted(_verdicts_of(state, name)) or ["no finding"]
                    raise ClaimError(
                        f"the rationale says {name} {claim.group(0)} (in {sentence.strip()!r}), "
                        f"but no finding of {name} is decided supported (its verdicts: "
                        f"{', '.join(verdicts)}). Say what the evidence shows, e.g. the paired "
                        "difference on test feedback, without claiming it won"
                    )


def followed_experiment(
    state: SessionState, rationale: str, code: str, hypothesis_id: str | None = None
) -> str | None:
    """The experiment a proposal follows: that of the hypothesis it names (`hypothesis_id`,
    else the method its rationale names first, else one its code names), never merely the
    experiment that happened to run last (a control's, say). None when it names none."""
    hypothesis = state.hypotheses.get(hypothesis_id) if hypothesis_id else None
    if hypothesis is None:
        for text in (rationale, code):
            first = _first_named(state, text)
            if first is not None:
                hypothesis = first
                break
    if hypothesis is None:
        return None
    own = [
        e
        for e in state.evaluations
        if e.record.method == hypothesis.method
        and state.experiments.get(e.experiment) is not None
        and state.experiments[e.experiment].hypothesis_id == hypothesis.id
    ]
    scored = [e for e in state.evaluations if e.record.method == hypothesis.method]
    if own or scored:
        return (own or scored)[-1].experiment
    started = [e.id for e in state.experiments.values() if e.hypothesis_id == hypothesis.id]
    return started[-1] if started else None


def _first_named(state: SessionState, text: str) -> Any:
    """The hypothesis whose method (or family) `text` names first (latest round on a tie); a
    control (named `control...`) only when `text` names nothing else."""
    best: tuple[bool, int, int, Any] | None = None
    for h in state.hypotheses.values():
        control = any(str(n).startswith("control") for n in (h.method, h.family) if n)
        for name in {h.method, h.family} - {None, NAIVE}:
            m = re.search(rf"(?<![\w-]){re.escape(str(name))}(?![\w-])", text)
            if m is not None and (best is None or (control, m.start(), -h.round) < best[:3]):
                best = (control, m.start(), -h.round, h)
    return best[3] if best else None


def _method_names(state: SessionState) -> set[str]:
    names = {h.method for h in state.hypotheses.values()}
    names |= {h.family for h in state.hypotheses.values() if h.family}
    return names - {NAIVE}


def _named_methods(state: SessionState, text: str) -> list[str]:
    return sorted(
        name
        for name in _method_names(state)
        if re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", text)
    )


def _findings_of(state: SessionState, name: str) -> list[Finding]:
    return [
        f
        for f in state.findings.values()
        if f.method.split(" (")[0] == name or f"family:{name}" in f.tags
    ]


def _verdicts_of(state: SessionState, name: str) -> set[str]:
    return {
        f.verdict if f.verdict_basis is not None else "undecided" for f in _findings_of(state, name)
    }


def _supported(state: SessionState, name: str) -> bool:
    return any(
        f.verdict == "supported" and f.verdict_basis is not None for f in _findings_of(state, name)
    )


def _cited(state: SessionState, ids: list[str]) -> list[Any]:
    if not ids:
        raise ClaimError("cite at least one evaluation record id (from evaluate's results)")
    by_id = {e.record.id: e.record for e in state.evaluations}
    unknown = [i for i in ids if i not in by_id]
    if unknown:
        raise ClaimError(
            f"unknown evaluation record ids: {', '.join(unknown[:5])} (cite ids that evaluate "
            "returned in this session; holdout numbers are never available to the agent)"
        )
    return [by_id[i] for i in dict.fromkeys(ids)]


def _names(state: SessionState, records: list[Any]) -> list[str]:
    """Identifiers whose digits are not claims: tasks, methods, ids."""
    names = [*state.config.tasks, *(r.method for r in records), *(r.id for r in records)]
    names += [*state.hypotheses, *state.findings]
    return names


def _method_text(method: str, params: dict[str, float]) -> str:
    if not params:
        return method
    return f"{method} ({', '.join(f'{k}={v:g}' for k, v in sorted(params.items()))})"


__all__ = [
    "VERDICTS",
    "ClaimError",
    "build_finding",
    "check_rationale",
    "check_round_summary",
    "followed_experiment",
]
