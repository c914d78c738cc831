"""What the agent sees: `SessionViews`, and the small models its tools answer with.

The research tools hand these to the model (as JSON) and log them whole, so a resumed run can
answer a re-issued call from the log. Their JSON is a contract: the keys, and their order, are
the ones the tools always answered with (scripted and hostile researchers read them, and old
logs hold them). Test feedback only: nothing here ever carries a holdout number.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from pydantic import BaseModel, Field

from aar.errors import AarError
from aar.memory import Metrics
from aar.sandbox import CellStatus
from aar.session._errors import ToolError
from aar.session._finalize import BASELINES
from aar.session._public import PUBLIC
from aar.session._recall import MemoryResults, memory_results

if TYPE_CHECKING:
    from aar.bench import EvalRecord
    from aar.memory import Finding
    from aar.review import Proposal
    from aar.sandbox import CellResult
    from aar.session._session import Session

FEEDBACK_SPLIT = "test (rounded feedback)"


class CellOutcome(BaseModel):
    """One cell as the agent sees it: status, output (capped), error, timing."""

    status: CellStatus
    stdout: str
    """The last 4000 characters."""
    stderr: str
    """The last 2000 characters."""
    error: str | None
    """The error's one-line summary; None when the cell did not raise."""
    result: str
    """The cell's value as text, the first 2000 characters."""
    images: int
    """How many images it displayed (not sent)."""
    duration_s: float

    @classmethod
    def of(cls, result: CellResult) -> CellOutcome:
        return cls(
            status=result.status,
            stdout=result.stdout[-4000:],
            stderr=result.stderr[-2000:],
            error=result.summary() or None,
            result=result.text[:2000],
            images=len(result.images),
            duration_s=round(result.duration_s, 3),
        )


class TaskFeedback(BaseModel):
    """One method on one task, over its seeds: rounded test feedback and the records to cite.
    A mean or SE the scorer's answers do not define (no shown score) is None."""

    pgr_acc_mean: float | None
    pgr_acc_se: float | None
    acc_mean: float | None
    seeds: list[int]
    pgr_acc_by_seed: list[float]
    """NaN where the scorer showed no score for that seed."""
    record_ids: list[str]


class EvaluationSummary(BaseModel):
    """The answer of `evaluate`: per-task feedback, what was missing or invalid, probe flags
    and the evaluations left."""

    method: str
    split: str = FEEDBACK_SPLIT
    tasks: dict[str, TaskFeedback]
    missing: list[str]
    """(task, seed) pairs with no saved test predictions."""
    invalid: list[str]
    """Predictions the scorer refused, and why (they cost nothing)."""
    flags: list[str]
    evaluations_left: int


def task_feedback(records: Sequence[EvalRecord]) -> dict[str, TaskFeedback]:
    """Rounded PGR mean ± SE over seeds per task, with naive's shown accuracy filled in (the
    scorer's answers carry it, though it never shows naive its own score)."""
    from aar.bench import summarize
    from aar.session._evidence import with_naive_shown

    shown = with_naive_shown(records)
    tasks = {}
    for task in sorted({r.task for r in shown}):
        rs = [r for r in shown if r.task == task]
        pgr = summarize([r.metrics["pgr_acc"] for r in rs])
        tasks[task] = TaskFeedback(
            pgr_acc_mean=_rounded(pgr.mean),
            pgr_acc_se=_rounded(pgr.se),
            acc_mean=_rounded(float(np.mean([r.metrics["acc"] for r in rs]))),
            seeds=[r.seed for r in rs],
            pgr_acc_by_seed=[r.metrics["pgr_acc"] for r in rs],
            record_ids=[r.id for r in rs],
        )
    return tasks


def evaluation_summary(
    method: str,
    records: Sequence[EvalRecord],
    missing: list[str],
    invalid: list[str],
    remaining: int,
) -> EvaluationSummary:
    """What `evaluate` answers for `records` of `method` (test feedback only)."""
    flags = sorted({f"{r.task} seed {r.seed}: {f}" for r in records for f in r.flags})
    return EvaluationSummary(
        method=method,
        tasks=task_feedback(records),
        missing=missing,
        invalid=invalid,
        flags=flags,
        evaluations_left=remaining,
    )


class TaskInfo(BaseModel):
    """A session task as the kernel sees it (from its public manifest)."""

    task: str
    seeds: list[int]
    n_classes: int
    description: str
    weak: str
    strong: str
    split_sizes: dict[str, Any]
    student: dict[str, Any]
    """The strong student's configuration, as the manifest gives it."""


class FollowupRun(BaseModel):
    """An approved follow-up that ran this round, and the methods it saved predictions under."""

    experiment: str
    proposal: str
    methods: list[str]


class FindingReceipt(BaseModel):
    """The answer of `record_finding`: the finding's id and the metrics the session computed
    from the cited test records; `feedback` says "withheld" when the scorer showed none of
    them (then `metrics` is None, and the key is absent otherwise)."""

    id: str
    metrics: Metrics | None
    feedback: Literal["withheld"] | None = Field(default=None, exclude_if=lambda v: v is None)

    @classmethod
    def of(cls, finding: Finding) -> FindingReceipt:
        if finding.metrics is None:  # the scorer withheld every cited test score
            return cls(id=finding.id, metrics=None, feedback="withheld")
        return cls(id=finding.id, metrics=finding.metrics)


class ProposalReceipt(BaseModel):
    """The answer of `propose_followup`: what a reviewer will approve, and until when."""

    id: str
    sha256: str
    expires_at: str
    """The expiry as `str(datetime)` (a space between date and time), as always answered."""

    @classmethod
    def of(cls, proposal: Proposal) -> ProposalReceipt:
        return cls(id=proposal.id, sha256=proposal.sha256, expires_at=str(proposal.expires_at))


class SessionViews:
    """What the agent may read of a session: its tasks, the memory, the session's own
    baselines and the follow-ups that ran (test feedback only)."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def list_tasks(self) -> list[TaskInfo]:
        """The session's tasks as the kernel sees them (from the public manifests)."""
        session = self.session
        out = []
        for task in session.config.tasks:
            seed_dir = session.root / PUBLIC / task / f"seed-{session.config.seeds[0]}"
            manifest = json.loads((seed_dir / "manifest.json").read_text())
            out.append(
                TaskInfo(
                    task=task,
                    seeds=session.config.seeds,
                    n_classes=manifest["n_classes"],
                    description=manifest["description"],
                    weak=manifest["weak_description"],
                    strong=manifest["strong_description"],
                    split_sizes=manifest["split_sizes"],
                    student=manifest["student"],
                )
            )
        return out

    def search_memory(self, query: str, *, task: str | None = None, k: int = 8) -> MemoryResults:
        """The `k` approved or pending findings most relevant to `query`, marked as untrusted
        data from earlier sessions, with test-split feedback metrics only (`_recall`)."""
        from aar.memory import FindingFilter, open_store

        if not 1 <= k <= 50:
            raise ToolError(f"k must be between 1 and 50, got {k}")
        try:
            store = open_store(self.session.settings)
            hits = [
                hit
                for status in ("approved", "pending")  # rejected ones are never shown
                for hit in store.search(query, FindingFilter(task=task, status=status), k=k)
            ]
        except AarError as exc:
            raise ToolError(str(exc)) from None
        return memory_results(hits, k)

    def baseline_feedback(self) -> dict[str, dict[str, TaskFeedback]]:
        """The session's own naive/logconf baselines: rounded test feedback with record ids."""
        state = self.session.state
        records = [
            e.record
            for e in state.evaluations
            if state.experiments[e.experiment].hypothesis_id == BASELINES
        ]
        methods = sorted({r.method for r in records})
        return {m: task_feedback([r for r in records if r.method == m]) for m in methods}

    def followup_experiments(self) -> list[FollowupRun]:
        """This round's approved follow-ups that ran, and the methods they saved."""
        from aar.sandbox import scratch_files

        session = self.session
        out = []
        for exp in session.state.experiments.values():
            if exp.round == session.round_number and exp.proposal_id:
                files = scratch_files(session.root / exp.path)
                methods = sorted({p.split("/")[1] for p in files if p.startswith("predictions/")})
                out.append(
                    FollowupRun(experiment=exp.id, proposal=exp.proposal_id, methods=methods)
                )
        return out


def _rounded(value: float) -> float | None:
    """Three decimals; NaN (undefined) becomes None."""
    return None if value != value else round(value, 3)
