"""What each kind of `events.jsonl` line holds: one pydantic model per kind, and `Event`.

A line is `{"seq", "at", "kind", "round", "data": {...}}`. `Event.data` is one of the models
below, chosen by `kind` (a discriminated union: each model's own `kind` tag is filled in from
the line's and never written inside `data`). The JSON of `data` is the one aar has always
written: the same keys, in the same order.

Logs written by older aar lack some keys. Those fields have defaults (the value the fold
always assumed), and a field a line did not hold is not written back when the event is dumped
again: the data of a model holds exactly the keys it was given (`EventData`). A new event holds
every key its writer passes.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal, get_args

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    ValidationInfo,
    field_validator,
    model_serializer,
    model_validator,
)

from aar.memory import Finding, Metrics, Verdict, VerdictBasis
from aar.sandbox import CellStatus
from aar.session._config import SessionConfig
from aar.session._models import (
    EvalEntry,
    Experiment,
    Hypothesis,
    RoundKind,
    RoundOutcome,
    State,
    utc_now,
)
from aar.session._plan import RoundPlan


class EventData(BaseModel):
    """The `data` of one event: dumped with the keys it was given, and no others (see the
    module doc), so an event read from an older log is written back as it was."""

    @model_serializer(mode="wrap")
    def _given_keys_only(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        dumped: dict[str, Any] = handler(self)
        return {key: value for key, value in dumped.items() if key in self.model_fields_set}


def _tag(kind: str) -> Any:
    """The discriminator field of a kind's model: filled in from the line, never dumped."""
    return Field(default=kind, exclude=True, repr=False)


class Created(EventData):
    """The session's first event: what it is and what it was made under (`replay` starts
    its state from it).

    Attributes:
        id: the session id (its directory name).
        protocol: `aar.session.PROTOCOL` at creation: another evaluator, feedback and verdict
            rule is another protocol, and a session never continues under another (1 in logs
            from before protocols were logged).
        config: the session's configuration, as validated when it was made.
        key_id: which task key exported `public/`; resuming under another key is refused
            (None in logs from before keys had ids).
        isolation: the sandbox backend, so a report can say the experiments ran unisolated.
        public: sha256 of every file of the public export, relative to `public/`.
        report_layout: `aar.session.REPORT_LAYOUT` at creation, the layout its reports are
            written (and replayed) in (1 in logs from before layouts were logged).
    """

    kind: Literal["created"] = _tag("created")
    id: str
    protocol: int = 1
    config: SessionConfig
    key_id: str | None = None
    isolation: str = "bwrap"
    public: dict[str, str] = Field(default_factory=dict)
    report_layout: int = 1


class RoundStarted(EventData):
    """A round began (the line's `round` is its number).

    Attributes:
        round_kind: "research", or "followup" (only approved follow-ups run).
        followups: the approved proposals a follow-up round runs.
        plan: what a research round needs and the budgets it had, for its report (absent in
            follow-up rounds and in older logs).
    """

    kind: Literal["round_started"] = _tag("round_started")
    round_kind: RoundKind
    followups: list[str]
    plan: RoundPlan | None = None


class RoundEnded(EventData):
    """The round ended; the report is written after it.

    Attributes:
        why: why it ended, in words (the report's first line).
        summary: the researcher's summary, when it finished the round itself.
        outcome: "completed", or an early end by a "budget" or a "failed" model, sandbox or
            baseline (None in logs from before outcomes were logged).
    """

    kind: Literal["round_ended"] = _tag("round_ended")
    why: str
    summary: str | None = None
    outcome: RoundOutcome | None = None


class StateChanged(EventData):
    """The session's state changed (running, awaiting review, closed).

    Attributes:
        state: the new state (`aar sessions list` shows it).
        why: what changed it.
    """

    kind: Literal["state"] = _tag("state")
    state: State
    why: str


class ModelUsage(EventData):
    """One model request's usage, as the provider reported it (the token and USD budgets
    add these up).

    Attributes:
        model: the model that answered.
        input_tokens: prompt tokens.
        output_tokens: completion tokens.
        usd: its price, None when the price is unknown.
    """

    kind: Literal["model_request"] = _tag("model_request")
    model: str
    input_tokens: int
    output_tokens: int
    usd: float | None


class HypothesisProposed(Hypothesis, EventData):
    """A hypothesis the researcher registered (its fields are `Hypothesis`'s); the next cell
    starts its experiment."""

    kind: Literal["hypothesis"] = _tag("hypothesis")


class ExperimentStarted(Experiment, EventData):
    """An experiment began in a fresh sandbox (its fields are `Experiment`'s, as started:
    no cells yet; `confirms` and `task_dir` are absent in older logs)."""

    kind: Literal["experiment_started"] = _tag("experiment_started")


class CellRun(EventData):
    """One cell ran in an experiment's sandbox (a resumed session re-runs these to restore
    the kernel's state).

    Attributes:
        experiment: the experiment's id.
        index: the cell's number in the experiment, from 1.
        code: the cell's code, exactly as it ran.
        status: how it ended (ok, error, timeout, killed, oom).
        duration_s: wall-clock seconds.
        cpu_s: CPU seconds the sandbox measured (the CPU budget adds these up); None when it
            could not measure them, absent in older logs.
        message: what the sandbox did and why (a limit that ended the cell).
        error: the exception that ended a failed cell (`ename: evalue`, at most 500
            characters); given only for a cell that raised, and absent in older logs.
    """

    kind: Literal["cell"] = _tag("cell")
    experiment: str
    index: int
    code: str
    status: CellStatus
    duration_s: float
    cpu_s: float | None = None
    message: str | None = None
    error: str | None = None


class ExperimentEnded(EventData):
    """An experiment ended: its sandbox closed, or it was found running after a kill.

    Attributes:
        experiment: the experiment's id.
        status: "done", or "interrupted" (found running after a kill).
        commit: the workspace commit holding its files (absent when interrupted).
    """

    kind: Literal["experiment_ended"] = _tag("experiment_ended")
    experiment: str
    status: Literal["done", "interrupted"]
    commit: str | None = None


class Evaluated(EvalEntry, EventData):
    """A test evaluation was scored and charged (its fields are `EvalEntry`'s); an
    identical resubmission is not logged again, so it is never charged twice."""

    kind: Literal["evaluation"] = _tag("evaluation")


class HoldoutScored(EvalEntry, EventData):
    """A holdout evaluation the session scored at the round's end (its fields are
    `EvalEntry`'s; `hard` is not logged)."""

    kind: Literal["holdout"] = _tag("holdout")


class FindingRecorded(EventData):
    """A finding the researcher recorded, with the metrics the session computed.

    Attributes:
        finding: the finding as first recorded (its verdict is the researcher's claim).
    """

    kind: Literal["finding"] = _tag("finding")
    finding: Finding


class FindingFinal(EventData):
    """A finding's holdout metrics and the verdict the session decided, at the round's end.

    Attributes:
        finding_id: the finding it completes.
        final_metrics: its own method's holdout metrics (None when no holdout record fits).
        verdict: the decided verdict (absent in logs from before the session decided them).
        verdict_basis: what the verdict was decided on (absent likewise).
    """

    kind: Literal["finding_final"] = _tag("finding_final")
    finding_id: str
    final_metrics: Metrics | None = None
    verdict: Verdict | None = None
    verdict_basis: VerdictBasis | None = None


class Proposed(EventData):
    """A follow-up was proposed for review. The review gate reads these lines (by their JSON
    keys) to know which proposal files the session wrote, bound to their hashes.

    Attributes:
        id: the proposal's id.
        sha256: the hash of the proposal as written.
        path: its file name under `proposals/`.
    """

    kind: Literal["proposal"] = _tag("proposal")
    id: str
    sha256: str
    path: str


class BudgetHit(EventData):
    """A budget ended the round (for the report).

    Attributes:
        budget: which budget.
        message: what was used of it, and when in the round.
    """

    kind: Literal["budget_exhausted"] = _tag("budget_exhausted")
    budget: str
    message: str


class ToolCalled(EventData):
    """A tool call and its outcome, kept whole so a resumed run answers a re-issued call
    without acting twice.

    Attributes:
        name: the tool.
        args: its arguments (long strings shortened).
        outcome: the JSON of its result, or what went wrong.
        call_id: the model's id for the call ("" when it gave none).
    """

    kind: Literal["tool"] = _tag("tool")
    name: str
    args: dict[str, Any]
    outcome: str
    call_id: str


class Committed(EventData):
    """A kind the fold has always accepted and kept for the record only; no aar writes it
    now, and its keys were never fixed, so it keeps whatever it holds."""

    model_config = ConfigDict(extra="allow")

    kind: Literal["commit"] = _tag("commit")


class ReportWritten(EventData):
    """A round's report was written.

    Attributes:
        path: the report, relative to the session.
    """

    kind: Literal["report"] = _tag("report")
    path: str


class Interrupted(EventData):
    """The run was stopped by hand.

    Attributes:
        where: what stopped it.
    """

    kind: Literal["interrupted"] = _tag("interrupted")
    where: str


class Note(EventData):
    """Something worth knowing that changes no state (a skipped step, a restart, a
    recovered log).

    Attributes:
        message: the note.
    """

    kind: Literal["note"] = _tag("note")
    message: str


AnyEventData = Annotated[
    Created
    | RoundStarted
    | RoundEnded
    | StateChanged
    | ModelUsage
    | HypothesisProposed
    | ExperimentStarted
    | CellRun
    | ExperimentEnded
    | Evaluated
    | HoldoutScored
    | FindingRecorded
    | FindingFinal
    | Proposed
    | BudgetHit
    | ToolCalled
    | Committed
    | ReportWritten
    | Interrupted
    | Note,
    Field(discriminator="kind"),
]
"""The data of any event, by its kind."""

KINDS: dict[str, type[EventData]] = {
    model.model_fields["kind"].default: model for model in get_args(get_args(AnyEventData)[0])
}
"""Every kind this aar reads, and its model."""


class Event(BaseModel):
    """One line of `events.jsonl`."""

    seq: int
    at: datetime = Field(default_factory=utc_now)
    kind: str
    round: int = 0
    data: AnyEventData

    @field_validator("data", mode="before")
    @classmethod
    def _tagged(cls, value: Any, info: ValidationInfo) -> Any:
        """The line's kind picks the model of its data."""
        if isinstance(value, dict) and isinstance(info.data.get("kind"), str):
            return {**value, "kind": info.data["kind"]}
        return value

    @model_validator(mode="after")
    def _kind_matches(self) -> Event:
        if self.data.kind != self.kind:
            raise ValueError(f"an event of kind {self.kind!r} holds {self.data.kind!r} data")
        return self

    @classmethod
    def of(cls, seq: int, data: AnyEventData, *, round: int = 0) -> Event:
        """A new event holding `data` (its kind is the data's)."""
        return cls(seq=seq, kind=data.kind, round=round, data=data)
