"""Where a team stands, rebuilt from its event log and each researcher's session log.

Reading writes nothing (not to the team, not to any session), so `aar team status` can run
beside a live team, and a damaged session log is that researcher's note, not a crash.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel

from aar.team._models import Outcome, TeamEvent
from aar.team._store import Team


class ResearcherStatus(BaseModel):
    """One researcher, as the live view and `--json` show it."""

    index: int
    direction: str
    session_id: str
    state: str
    round: int
    hypothesis: str | None
    hypotheses: int
    evals_used: int
    evals_budget: int
    usd: float
    tokens: int = 0
    worker: str | None
    moves: int
    outcome: Outcome | None
    problem: str | None = None


class TeamStatus(BaseModel):
    id: str
    researchers: list[ResearcherStatus]
    finished: bool
    stop_requested: bool
    report: str | None


def team_status(team: Team, runs_dir: Path) -> TeamStatus:
    events = team.events()
    rows = [_researcher(team, runs_dir, r.index, events) for r in team.record.researchers]
    starts = [n for n, e in enumerate(events) if e.kind == "started"]
    finished = bool(starts) and any(e.kind == "finished" for e in events[starts[-1] :])
    return TeamStatus(
        id=team.id,
        researchers=rows,
        finished=finished,
        stop_requested=team.stop_requested,
        report=str(team.report_path) if team.report_path.is_file() else None,
    )


def _researcher(
    team: Team, runs_dir: Path, index: int, events: list[TeamEvent]
) -> ResearcherStatus:
    from aar.errors import AarError
    from aar.session import EventLog, writer_running

    plan = team.record.researchers[index - 1]
    mine = [e for e in events if e.researcher == index]
    ended = [e for e in mine if e.kind == "ended"]
    row = ResearcherStatus(
        index=index,
        direction=plan.direction,
        session_id=plan.session_id,
        state="unreadable",
        round=0,
        hypothesis=None,
        hypotheses=0,
        evals_used=0,
        evals_budget=plan.budgets.evals,
        usd=0.0,
        worker=next((e.worker for e in reversed(ended) if e.worker), None),
        moves=sum(e.kind == "moved" for e in mine),
        outcome=ended[-1].outcome if ended else None,
    )
    root = runs_dir / plan.session_id
    try:
        state = EventLog(root).state()
    except (AarError, OSError) as exc:
        return row.model_copy(update={"problem": str(exc)[:300]})
    shown: str = state.state
    if shown == "running" and not writer_running(root):
        shown = "interrupted" if state.rounds else "queued"
    latest = list(state.hypotheses.values())
    return row.model_copy(
        update={
            "state": shown,
            "round": state.round.number if state.round else 0,
            "hypothesis": latest[-1].statement if latest else None,
            "hypotheses": len(latest),
            "evals_used": state.usage.evals,
            "evals_budget": state.config.budgets.evals,
            "usd": state.usage.usd,
            "tokens": state.usage.tokens,
        }
    )


def resumable(team: Team, runs_dir: Path) -> list[int]:
    """The researchers `aar team resume` runs (see `can_continue`)."""
    return [r.index for r in team.record.researchers if can_continue(runs_dir, r.session_id)]


def can_continue(runs_dir: Path, session_id: str) -> bool:
    """A session mid-round (left by a dead process, or still run by an orphaned one, which
    the worker waits for), one that never began, or one whose reviewers approved a follow-up.
    Not one that is closed, waits for a decision, or had every proposal rejected (resuming
    would only close it)."""
    from aar.errors import AarError
    from aar.review import followups_to_run
    from aar.session import EventLog

    try:
        state = EventLog(runs_dir / session_id).state()
    except (AarError, OSError):
        return False
    if state.state == "running":
        return True
    if state.state == "awaiting_review" and state.round is not None:
        try:
            return bool(followups_to_run(runs_dir, session_id, state.round.number))
        except AarError:  # a proposal is pending, tampered or void: the reviewer's turn
            return False
    return False
