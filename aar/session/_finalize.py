"""The end of a round: score the cited holdout once, finish the findings, store them in the
memory as `pending`, write the report, and wait for review.

Holdout is for people only: nothing here returns a number to the agent. Each (experiment,
method) that a finding cites, and the session's baselines, are scored on holdout exactly once
(a resumed round skips what the log already holds); the report's headline numbers are those,
and each finding's verdict is decided on them (`_verdicts.py`).
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

import numpy as np

from aar.errors import AarError
from aar.session._event_kinds import (
    FindingFinal,
    HoldoutScored,
    Note,
    ReportWritten,
    RoundEnded,
    StateChanged,
)
from aar.session._evidence import pgr_metrics
from aar.session._ledger import MAX_PREDICTION_BYTES
from aar.session._models import EvalEntry, Experiment, RoundOutcome, SessionState

if TYPE_CHECKING:
    from aar.memory import Finding, FindingsStore
    from aar.session._session import Session

BASELINES = "baselines"
"""Hypothesis id of the experiment in which the session runs its own naive/logconf baselines."""


def finalize_round(
    session: Session, why: str, summary: str | None, outcome: RoundOutcome = "failed"
) -> None:
    from aar.session._report import write_report

    number = session.round_number
    _score_holdout(session, number)
    _confirm(session, number)
    _finish_findings(session, number)
    session.emit(RoundEnded(why=why, summary=summary, outcome=outcome))
    _store_findings(session, number)
    path = write_report(session, number)
    session.emit(ReportWritten(path=str(path.relative_to(session.root))))
    _wait_or_close(session, number, why)


def _wait_or_close(session: Session, number: int, why: str) -> None:
    """The session waits for review when the round proposed follow-ups; a round that proposed
    none leaves nothing a review could start, so the session closes (its findings are still
    reviewed in the memory). Logs written before this rule keep their `awaiting_review`: the
    state is what the log says, so they replay as they were."""
    if session.state.rounds[-1].proposals:
        session.emit(StateChanged(state="awaiting_review", why=f"round {number} ended: {why}"))
    else:
        closed = f"round {number} ended: {why}; it proposed no follow-up, so the session closed"
        session.emit(StateChanged(state="closed", why=closed))
    session.commit(f"round {number} ended: {why}")


def finish_logged_end(session: Session) -> str | None:
    """After a crash mid-write: a round whose end was logged but whose review state was not
    (the session said "running" for ever and could not be resumed) is finished from the log:
    findings stored once, the report re-derived, the session put to review. Returns why the
    round ended when it did that, else None (nothing to finish)."""
    from aar.session._report import write_report

    info = session.state.round
    if info is None or not info.ended or session.state.state != "running":
        return None
    number, why = info.number, info.why_ended or "ended"
    _store_findings(session, number)
    path = write_report(session, number)
    session.emit(ReportWritten(path=str(path.relative_to(session.root))))
    _wait_or_close(session, number, why)
    return why


def _confirm(session: Session, number: int) -> None:
    """Re-run what the test feedback screened in on fresh seeds (`_confirm.py`). A re-run that
    fails leaves its comparisons unconfirmed (inconclusive); if none could start, the round
    falls back to its own seeds' holdout with Holm over every comparison (`_verdicts.py`)."""
    from aar.session._confirm import confirm_round

    try:
        confirm_round(session, number)
    except AarError as exc:
        session.emit(Note(message=f"confirmation on fresh seeds failed: {exc}"))


def holdout_targets(session: Session, number: int) -> list[tuple[str, str]]:
    """(experiment, method) pairs whose holdout the round scores: cited ones and baselines."""
    state = session.state
    cited = {rid for f in state.findings.values() if f.round == number for rid in f.eval_record_ids}
    targets = {(e.experiment, e.record.method) for e in state.evaluations if e.record.id in cited}
    for entry in state.evaluations:
        exp = state.experiments.get(entry.experiment)
        if exp is not None and exp.hypothesis_id == BASELINES:
            targets.add((entry.experiment, entry.record.method))
    return sorted(targets)


def _score_holdout(session: Session, number: int) -> None:
    state = session.state
    done = {(e.experiment, e.record.method, e.record.task, e.record.seed) for e in state.holdout}
    for experiment, method in holdout_targets(session, number):
        exp = state.experiments[experiment]
        for task, seed in session.config.pairs:
            if (experiment, method, task, seed) not in done:
                score_holdout_once(session, exp, method, (task, seed), number, what="holdout")


def score_holdout_once(
    session: Session,
    exp: Experiment,
    method: str,
    pair: tuple[str, int],
    number: int,
    *,
    what: str,
) -> None:
    """Score the holdout predictions `exp` saved for `method` on one (task, seed) and log the
    record; predictions that are missing or invalid are a note (`what` names the purpose),
    never a number."""
    from aar.bench import InvalidPredictionsError
    from aar.hashing import cells_sha256
    from aar.sandbox import SandboxUsageError, read_scratch_file

    task, seed = pair
    rel = f"predictions/{method}/{task}/seed-{seed}.holdout.npy"
    try:
        raw = read_scratch_file(session.root / exp.path, rel, MAX_PREDICTION_BYTES)
        probs = np.load(io.BytesIO(raw), allow_pickle=False)
        record = session.ledger.score_holdout(
            task,
            seed,
            probs,
            method=method,
            code_sha256=cells_sha256(exp.cells),
            git_commit=exp.commit or session.workspace.head,
        )
    except (SandboxUsageError, InvalidPredictionsError, ValueError, OSError) as exc:
        session.emit(
            Note(message=f"{what} of {method} ({exp.id}) on {task} seed {seed} not scored: {exc}")
        )
        return
    session.emit(HoldoutScored(record=record, experiment=exp.id, round=number))


def _finish_findings(session: Session, number: int) -> None:
    """Each finding's `final_metrics` (its own method's holdout records, same experiment) and
    its decided verdict (`_verdicts.py`: screened on test, confirmed on holdout, Holm across
    the round), logged once; the researcher's verdict stays as `claimed_verdict`."""
    from aar.session._verdicts import decide_finding, round_decisions

    state = session.state
    decisions = round_decisions(state, number)
    for finding in [f for f in state.findings.values() if f.round == number]:
        if finding.verdict_basis is None:  # else a resumed round decided it already
            cited = [state.record(rid) for rid in finding.eval_record_ids]
            own = _own_records(state, finding, [c for c in cited if c is not None])
            final = pgr_metrics([e.record for e in own]) if own else None
            verdict, basis = decide_finding(state, finding, decisions)
            session.emit(
                FindingFinal(
                    finding_id=finding.id,
                    final_metrics=final,
                    verdict=verdict,
                    verdict_basis=basis,
                )
            )
        decided = session.state.findings[finding.id]  # its file, as the log holds it
        session.write(f"findings/{finding.id}.json", decided.model_dump_json(indent=2) + "\n")


def _own_records(state: SessionState, finding: Finding, cited: list[EvalEntry]) -> list[EvalEntry]:
    method = finding.method.split(" (")[0]
    keys = {(e.experiment, e.record.task) for e in cited if e.record.method == method}
    return [
        e
        for e in state.holdout
        if e.record.method == method and (e.experiment, e.record.task) in keys
    ]


def _store_findings(session: Session, number: int) -> None:
    """The round's findings go to the memory with review status `pending`."""
    from aar.memory import open_store

    findings = [f for f in session.state.findings.values() if f.round == number]
    if not findings:
        return
    try:
        store = open_store(session.settings)
        new = [f for f in findings if not _stored(store, f.id)]  # a resumed round: once
        if new:
            store.add_many(new)
        session.emit(Note(message=f"{len(new)} finding(s) stored in the memory as pending"))
    except AarError as exc:
        session.emit(Note(message=f"findings not stored in the memory: {exc}"))


def _stored(store: FindingsStore, finding_id: str) -> bool:
    from aar.memory import FindingNotFoundError

    try:
        store.get(finding_id)
    except FindingNotFoundError:
        return False
    return True
