"""What the agent sees: `SessionViews`, and the small models its tools answer with.

The research tools hand these to the model (as JSON) and log them whole, so a resumed run can
answer a re-issued call from the log. Their JSON is a contract: the keys, and their order, are
the ones the tools always answered with (scripted and hostile researchers read them, and old
logs hold them). Test feedback only: nothing here ever carries a holdout number.
"""

from __future__ import annotations

import json
import re
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
from aar.text import shown

if TYPE_CHECKING:
    from aar.bench import EvalRecord
    from aar.memory import Finding
    from aar.review import Proposal
    from aar.sandbox import CellError, CellResult
    from aar.session._session import Session

FEEDBACK_SPLIT = "test (rounded feedback)"
SHOWN_DECIMALS = 3
"""Decimals of every metric a tool shows the model (records and findings keep full precision)."""


class CellOutcome(BaseModel):
    """One cell as the agent sees it: status, output (capped), error, timing."""

    status: CellStatus
    stdout: str
    """The last 4000 characters."""
    stderr: str
    """The last 2000 characters."""
    error: str | None
    """The error's one-line summary; None when the cell did not raise."""
    traceback: str | None = None
    """Where the cell's own code raised (`cell_traceback`); None when it did not raise."""
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
            traceback=cell_traceback(result.error),
            result=result.text[:2000],
            images=len(result.images),
            duration_s=round(result.duration_s, 3),
        )


TRACEBACK_CHARS = 2000
"""At most this much of a failed cell's traceback reaches the model (its end is kept)."""
_LINE_CHARS = 300
_CELL_FRAMES = 3
_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]")
"""A terminal control sequence (IPython colours its tracebacks with them)."""
_ARROW = re.compile(r"^\s*-+>\s")
"""IPython's marker of the line a frame was executing: `----> 6 f(x)`."""


def cell_traceback(error: CellError | None) -> str | None:
    """A failed cell's traceback trimmed for a model: the cell's own frames (each its line
    number and the line that was running), the last frame outside the cell (where a library
    raised), and the exception; colour codes stripped, hidden characters marked, at most
    `TRACEBACK_CHARS`. A model fixes its code from the line that failed, which `ename: evalue`
    alone does not say; the notebook keeps the whole traceback for people."""
    if error is None or not error.traceback:
        return None
    entries = [_ANSI.sub("", e).strip("\n") for e in error.traceback]
    *frames, exception = [e for e in entries if not _is_banner(e)] or [error.ename]
    cells = [i for i, frame in enumerate(frames) if frame.lstrip().startswith("Cell In[")]
    kept = cells if len(cells) <= _CELL_FRAMES else [cells[0], *cells[1 - _CELL_FRAMES :]]
    lines = ["Traceback (the cell's own frames, innermost last; the notebook keeps it whole):"]
    for n, i in enumerate(kept):
        if n == 1 and len(kept) < len(cells):
            lines.append(f"  ... {len(cells) - len(kept)} more frames of the cell ...")
        lines += _frame_lines(frames[i])
    outside = frames[cells[-1] + 1 :] if cells else frames
    if outside:
        lines.append(f"  then {len(outside)} frame(s) outside the cell; the last:")
        lines += _frame_lines(outside[-1])
    lines += [_cut(line) for line in exception.splitlines()[:12]]
    text = shown("\n".join(lines))
    return text if len(text) <= TRACEBACK_CHARS else "…" + text[1 - TRACEBACK_CHARS :]


def _is_banner(entry: str) -> bool:
    """IPython's rule line and its "ValueError   Traceback (most recent call last)" header."""
    first = entry.strip().split("\n", 1)[0]
    return not first.strip("-") or first.endswith("Traceback (most recent call last)")


def _frame_lines(frame: str) -> list[str]:
    """A frame's header (`Cell In[4], line 3, in g(n)`) and the line it was running; a frame
    without a marked line (a syntax error's) keeps its first lines, caret included."""
    head, *rest = frame.strip("\n").splitlines() or [""]
    running = [line.strip() for line in rest if _ARROW.match(line)]
    body = running or [line.rstrip() for line in rest[:3]]
    return [_cut("  " + head.strip()), *(_cut("    " + line) for line in body)]


def _cut(line: str) -> str:
    return line if len(line) <= _LINE_CHARS else line[: _LINE_CHARS - 1] + "…"


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
        return cls(id=finding.id, metrics=shown_metrics(finding.metrics))


def shown_metrics(metrics: Metrics) -> Metrics:
    """`metrics` as a model is shown them: each number to `SHOWN_DECIMALS` (0.46, not the
    0.45999999999999996 a mean computes); the finding keeps the numbers as computed."""

    def cut(value: Any) -> Any:
        if isinstance(value, float):
            return round(value, SHOWN_DECIMALS)
        return tuple(map(cut, value)) if isinstance(value, tuple) else value

    return metrics.model_copy(update={k: cut(v) for k, v in metrics if k != "seeds"})


class ProposalReceipt(BaseModel):
    """The answer of `propose_followup`: what a reviewer will approve, and until when."""

    id: str
    sha256: str
    expires_at: str
    """The expiry as `str(datetime)` (a space between date and time), as always answered."""

    @classmethod
    def of(cls, proposal: Proposal) -> ProposalReceipt:
        return cls(id=proposal.id, sha256=proposal.sha256, expires_at=str(proposal.expires_at))


def _absent(value: object) -> bool:
    return value is None


class BudgetLeft(BaseModel):
    """What is left of each budget the session has, shown with every tool answer (the round
    ends when one runs out, so a model can plan with them); a budget the session does not
    have (unlimited) is absent."""

    evaluations: int
    """Scored test submissions: one per (task, seed) an `evaluate` scores."""
    requests: int | None = Field(default=None, exclude_if=_absent)
    """Model requests."""
    tokens: int | None = Field(default=None, exclude_if=_absent)
    """Input plus output tokens, as the provider counts them."""
    usd: float | None = Field(default=None, exclude_if=_absent)
    """Model spend in US dollars."""
    minutes: float | None = Field(default=None, exclude_if=_absent)
    """Wall clock of this round."""
    sandbox_cpu_s: float | None = Field(default=None, exclude_if=_absent)
    """CPU seconds of the sandboxed kernels."""


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

    def budget_left(self) -> BudgetLeft:
        """What is left of each budget, by what the log says was spent (none below zero)."""
        session = self.session
        budgets, usage = session.guard.budgets, session.guard.usage
        return BudgetLeft(
            evaluations=session.ledger.remaining(),
            requests=_count_left(budgets.requests, usage.requests),
            tokens=_count_left(budgets.tokens, usage.tokens),
            usd=_amount_left(budgets.usd, usage.usd, 4),
            minutes=_amount_left(budgets.minutes, session.guard.elapsed_minutes, 1),
            sandbox_cpu_s=_amount_left(budgets.sandbox_cpu_s, usage.sandbox_cpu_s, 1),
        )

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


def _count_left(limit: int | None, used: int) -> int | None:
    """What is left of a budget counted in units; None where it is unlimited."""
    return None if limit is None else max(limit - used, 0)


def _amount_left(limit: float | None, used: float, digits: int) -> float | None:
    """What is left of a budget measured in an amount, rounded; None where it is unlimited."""
    return None if limit is None else round(max(limit - used, 0.0), digits)


def _rounded(value: float) -> float | None:
    """Three decimals; NaN (undefined) becomes None."""
    return None if value != value else round(value, 3)
