"""The session's records: what the agent proposed and ran, and the state rebuilt from the log.

`events.jsonl` is the only source of truth: `SessionState.replay(events)` folds it into the
state, so a killed session resumes from exactly what was logged, and `aar replay` can
re-derive every number of every report.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, Field

from aar.bench import EvalRecord
from aar.memory import Finding
from aar.session._config import SessionConfig
from aar.session._plan import RoundPlan

State = Literal["running", "awaiting_review", "closed"]
RoundKind = Literal["research", "followup"]
RoundOutcome = Literal["completed", "budget", "failed"]


def utc_now() -> datetime:
    return datetime.now(UTC)


class Hypothesis(BaseModel):
    """A claim one experiment tests, and the method name its predictions are saved under."""

    id: str
    round: int
    statement: str = Field(min_length=1, max_length=2000)
    method: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
    rationale: str = Field(default="", max_length=4000)
    family: str | None = None
    params: dict[str, float] = Field(default_factory=dict)


class RoundSummary(BaseModel):
    """What the agent says when it ends a round (its words; numbers are checked)."""

    summary: str = Field(min_length=1, max_length=4000)


class Experiment(BaseModel):
    """One sandbox and the cells run in it."""

    id: str
    round: int
    hypothesis_id: str | None = None
    proposal_id: str | None = None
    cells: list[str] = Field(default_factory=list)
    status: Literal["running", "done", "interrupted"] = "running"
    commit: str | None = None
    confirms: str | None = None
    """The experiment whose exact cells this one re-ran on fresh seeds, to confirm a verdict
    (the session's own run at the end of a round; None for every other experiment)."""
    task_dir: str = "public"
    """The export mounted at /task, relative to the session (fresh seeds for a confirmation)."""

    @property
    def path(self) -> str:
        """Directory of the experiment, relative to the session."""
        return f"experiments/{self.id}"


class Usage(BaseModel):
    """What the session has spent, across rounds and resumes."""

    requests: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    usd: float = 0.0
    evals: int = 0
    sandbox_cpu_s: float = 0.0

    @property
    def tokens(self) -> int:
        return self.input_tokens + self.output_tokens


class RoundInfo(BaseModel):
    number: int
    kind: RoundKind
    started_at: datetime
    ended: bool = False
    why_ended: str | None = None
    summary: str | None = None
    proposals: list[str] = Field(default_factory=list)
    followups: list[str] = Field(default_factory=list)
    """Approved proposals this round runs (follow-up rounds only)."""
    budget_hits: list[str] = Field(default_factory=list)
    plan: RoundPlan | None = None
    """What the round needed and the budgets it had (research rounds; None in older logs)."""
    outcome: RoundOutcome | None = None
    """How it ended: "completed" by the researcher, or early by a "budget" or a "failed"
    model, sandbox or baseline. None in logs written before outcomes were logged."""


class EvalEntry(BaseModel):
    """An evaluation as the session keeps it: the record, where it came from, its hardened
    predictions (for session-wide near-duplicate checks)."""

    record: EvalRecord
    experiment: str
    round: int
    hard: str = ""
    """Base64 of the hardened predictions (uint8)."""


class FailedCell(BaseModel):
    """A cell that did not end ok: where, how, and its exception (None in older logs)."""

    round: int
    experiment: str
    index: int
    status: str
    error: str | None = None


class SessionState(BaseModel):
    """Everything the log says about a session."""

    id: str
    config: SessionConfig
    protocol: int = 1
    """`aar.session.PROTOCOL` when the session was created (1 in logs from before it)."""
    state: State = "running"
    rounds: list[RoundInfo] = Field(default_factory=list)
    hypotheses: dict[str, Hypothesis] = Field(default_factory=dict)
    experiments: dict[str, Experiment] = Field(default_factory=dict)
    evaluations: list[EvalEntry] = Field(default_factory=list)
    holdout: list[EvalEntry] = Field(default_factory=list)
    findings: dict[str, Finding] = Field(default_factory=dict)
    proposals: list[str] = Field(default_factory=list)
    usage: Usage = Field(default_factory=Usage)
    isolation: str = "bwrap"
    """The sandbox backend the session's experiments ran in ('none' is unsafe)."""
    last_seq: int = 0
    report_layout: int = 1
    """The layout of the session's reports (`aar.session.REPORT_LAYOUT` when it was created)."""
    failed_cells: list[FailedCell] = Field(default_factory=list)
    """Every cell that did not end ok, in the order they ran: a report's "What failed"."""

    @property
    def round(self) -> RoundInfo | None:
        return self.rounds[-1] if self.rounds else None

    def record(self, record_id: str) -> EvalEntry | None:
        """A test or holdout evaluation by record id."""
        for entry in [*self.evaluations, *self.holdout]:
            if entry.record.id == record_id:
                return entry
        return None
