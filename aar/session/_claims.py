"""Findings and round summaries: claims the agent makes, checked against the evaluator.

`record_finding` takes record ids, never numbers: the finding's metrics are computed here from
the cited test records, and the summary may only state numbers those records support.
"""

from __future__ import annotations

from typing import Any

from aar.errors import AarError
from aar.memory import Finding, new_finding_id
from aar.session._evidence import check_numbers, evidence, pgr_metrics
from aar.session._models import SessionState

VERDICTS = ("supported", "refuted", "inconclusive")


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
    """The finding for `hypothesis_id`, its metrics computed from the cited test records."""
    hypothesis = state.hypotheses.get(hypothesis_id)
    if hypothesis is None:
        known = ", ".join(state.hypotheses) or "none yet"
        raise ClaimError(f"unknown hypothesis {hypothesis_id!r} (known: {known})")
    if verdict not in VERDICTS:
        raise ClaimError(f"verdict must be one of {', '.join(VERDICTS)}, got {verdict!r}")
    records = _cited(state, eval_record_ids)
    own = [r for r in records if r.method == hypothesis.method] or records
    backing = evidence(records, extra=hypothesis.params.values())
    check_numbers(summary, backing, where="the finding's summary", names=_names(state, records))
    family = hypothesis.family or hypothesis.method
    try:
        return Finding(
            id=new_finding_id(),
            session_id=state.id,
            round=hypothesis.round,
            summary=summary,
            hypothesis=hypothesis.statement,
            method=_method_text(hypothesis.method, hypothesis.params),
            tasks=sorted({r.task for r in own}),
            metrics=pgr_metrics(own),
            eval_record_ids=[r.id for r in records],
            verdict=verdict,  # type: ignore[arg-type]
            git_commit=git_commit,
            tags=[f"family:{family}", f"model:{state.config.model}", "split:test-feedback"],
        )
    except ValueError as exc:
        raise ClaimError(f"the finding is not valid: {exc}") from None


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


__all__ = ["VERDICTS", "ClaimError", "build_finding", "check_round_summary"]
