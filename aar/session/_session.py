"""`Session`: a research session on disk, and the only way anything an agent does takes effect.

A session is a directory: its configuration, a git repository, the public task export, and
`events.jsonl`, from which every state and number is rebuilt (`emit` appends an event and
applies it by the same fold `aar replay` uses). `Session` holds its lifecycle, the log, the
rounds and the budgets; its parts hold the rest:

- `research` (`ResearchActions`): what the agent's tools do, checked before they act;
- `views` (`SessionViews`): what the agent may read;
- `experiments` (`ExperimentRunner`): the sandboxed experiments, and the round's own steps
  (baselines, approved follow-ups, the restart after a kill).

A mistake the agent can fix raises `ToolError` (it goes back to the agent as text); a
condition that ends the round raises `RoundOver` (a used-up budget: `BudgetExhausted`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Literal

from pydantic import BaseModel

from aar.errors import AarError
from aar.files import write_atomic
from aar.session._actions import ResearchActions
from aar.session._budget import BudgetExhausted, BudgetGuard
from aar.session._config import PROTOCOL, REPORT_LAYOUT, SessionConfig, new_session_id
from aar.session._errors import SessionNotFoundError
from aar.session._event_kinds import (
    AnyEventData,
    BudgetHit,
    Created,
    Event,
    ModelUsage,
    Note,
    RoundStarted,
    StateChanged,
)
from aar.session._events import EventLog, WriterLock, apply
from aar.session._ledger import EvaluationLedger
from aar.session._models import RoundKind, RoundOutcome, SessionState
from aar.session._plan import plan_round
from aar.session._progress import Progress
from aar.session._public import PUBLIC, file_hashes, public_ids, restore_public_export
from aar.session._runner import ExperimentRunner
from aar.session._views import SessionViews
from aar.session._workspace import Workspace

NextRound = Literal["research", "followup", "closed"]


class RoundEnd(BaseModel):
    """How the session's last round ended, for whoever drove it."""

    number: int
    why: str
    outcome: RoundOutcome
    """"failed" for a round logged before outcomes were."""
    report: Path


class Session:
    """One session: open it with `Session.create` or `Session.open`, end with `shutdown`."""

    def __init__(self, root: Path, lock: WriterLock) -> None:
        from aar.config import get_settings

        self.root = root
        self.settings = get_settings()
        self._lock = lock
        self.log = EventLog(root)
        self.workspace = Workspace(root)
        self.state: SessionState = self.log.state()
        self.guard = BudgetGuard(self.state.config.budgets, self.state.usage)
        self.ledger = EvaluationLedger(
            lambda: self.state,
            lambda task, seed, split: public_ids(root, task, seed, split),
            near_duplicate_max_diff=self.settings.bench.near_duplicate_max_diff,
        )
        self.progress = Progress()
        self.on_progress: Callable[[Progress], None] = lambda p: None
        self.experiments = ExperimentRunner(self)
        self.research = ResearchActions(self)
        self.views = SessionViews(self)

    # -- lifecycle -------------------------------------------------------------------------
    @classmethod
    def create(cls, runs_dir: Path, config: SessionConfig) -> Session:
        """A new session directory with its repository, public export and first event."""
        from aar.sandbox import load_policy
        from aar.scorer import export_public_many, key_id

        runs_dir.mkdir(parents=True, exist_ok=True)
        session_id = new_session_id()
        root = runs_dir / session_id
        root.mkdir()
        write_atomic(root / "session.json", config.model_dump_json(indent=2) + "\n")
        Workspace.create(root)
        export_public_many(config.pairs, root / PUBLIC)
        lock = WriterLock(root)
        log = EventLog(root)
        log.append(
            Created(
                id=session_id,
                protocol=PROTOCOL,
                config=config,
                key_id=key_id(),
                isolation=load_policy().isolation,
                public=file_hashes(root / PUBLIC),
                report_layout=REPORT_LAYOUT,
            )
        )
        session = cls(root, lock)
        session.commit("session created")
        return session

    @classmethod
    def open(cls, runs_dir: Path, session_id: str) -> Session:
        """An existing session, for resuming it (one process at a time)."""
        from aar.scorer import key_id

        root = runs_dir / session_id
        if not (root / "events.jsonl").is_file():
            raise SessionNotFoundError(f"no session {session_id!r} under {runs_dir}")
        session = cls(root, WriterLock(root))
        session.workspace.clear_stale_index_lock()  # a killed run's git; we hold the writer lock
        if session.state.protocol != PROTOCOL:
            session.shutdown()
            raise AarError(
                f"session {session_id} was made under protocol {session.state.protocol} and "
                f"this aar runs protocol {PROTOCOL} (another evaluator, feedback and verdict "
                "rule): it cannot continue here, though `aar sessions show` and `aar replay` "
                "still read it; start a new session"
            )
        created = session.log.read()[0].data
        if not isinstance(created, Created) or created.key_id != key_id():
            session.shutdown()
            raise AarError(
                f"session {session_id} was exported under another task key; its ids no longer "
                "match the evaluator's. Restore the key file it was created with "
                "(settings bench.key_file)"
            )
        try:
            restore_public_export(root, session.config.pairs, created.public)
        except BaseException:
            session.shutdown()
            raise
        return session

    @property
    def id(self) -> str:
        return self.state.id

    @property
    def config(self) -> SessionConfig:
        return self.state.config

    @property
    def round_number(self) -> int:
        return self.state.round.number if self.state.round else 0

    def shutdown(self) -> None:
        """Close the experiment's sandbox and the kernel pool; release the writer lock."""
        self.experiments.shutdown()
        self._lock.release()

    # -- the log ---------------------------------------------------------------------------
    def emit(self, data: AnyEventData) -> Event:
        """Append an event and apply it to the in-memory state."""
        event = self.log.append(data, round=self.round_number)
        apply(self.state, event)
        self.progress.update(self.state)
        self.on_progress(self.progress)
        return event

    def write(self, relative: str, text: str) -> Path:
        """Write a file of the session directory atomically (its directory made as needed)."""
        path = self.root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, text)
        return path

    def commit(self, message: str) -> str:
        return self.workspace.commit(message)

    def mend_torn_log(self) -> str | None:
        """After a crash mid-write: log a note of the torn last line (appending moves its bytes
        to events.jsonl.torn); returns the note, or None when the log was whole."""
        note = self.log.mend_note()
        if note:
            self.emit(Note(message=note))
        return note

    # -- rounds ----------------------------------------------------------------------------
    def next_round(self) -> NextRound:
        """The round to drive now: one a killed process left behind, else the next one
        (`start_round`). A closed session has none."""
        info = self.state.round
        if info is not None and not info.ended:
            return info.kind
        if self.state.state == "closed":
            raise AarError(f"session {self.id} is closed")
        return self.start_round()

    def start_round(self) -> NextRound:
        """Begin the next round: research if the session has none yet, else the follow-ups
        reviewers approved ("closed" when none was)."""
        if not self.state.rounds:
            self.begin_round("research")
            return "research"
        return "followup" if self.begin_followup_round() else "closed"

    def begin_round(self, kind: RoundKind, followups: list[str] | None = None) -> None:
        if self.state.state != "running":
            self.emit(StateChanged(state="running", why=f"{kind} round"))
        number = self.round_number + 1
        data = RoundStarted(round_kind=kind, followups=followups or [])
        if kind == "research":
            data.plan = plan_round(self.config, first=number == 1)
        event = self.log.append(data, round=number)
        apply(self.state, event)
        self.guard.start_round()
        self.commit(f"round {number} started ({kind})")

    def begin_followup_round(self) -> list[str]:
        """After review: every proposal of the last round must be decided; the approved ones
        run in a new follow-up round. With none approved, the session closes. The gate refuses
        (and the session stays awaiting review) while a proposal is pending, tampered, void or
        missing from proposals/ (`aar.review.followups_to_run`)."""
        from aar.review import followups_to_run

        if self.state.state != "awaiting_review":
            raise AarError(f"session {self.id} is {self.state.state}, not awaiting review")
        last = self.round_number
        approved = followups_to_run(self.settings.runs_dir, self.id, last)
        if not approved:
            self.emit(StateChanged(state="closed", why=f"round {last}: no follow-up was approved"))
            self.commit("session closed")
            return []
        self.begin_round("followup", followups=approved)
        return approved

    def end_round(
        self, why: str, summary: str | None = None, *, outcome: RoundOutcome = "failed"
    ) -> None:
        """Close the experiment, score the cited holdout once, store findings, write the
        report, and wait for review. `outcome` is "completed" only when the researcher
        finished the round; anything else is an early end the report leads with."""
        from aar.session._finalize import finalize_round

        self.experiments.close()
        finalize_round(self, why, summary, outcome)

    def last_round_end(self) -> RoundEnd:
        """How the last round ended, and its report."""
        from aar.session._report import report_path

        info = self.state.rounds[-1]
        return RoundEnd(
            number=info.number,
            why=info.why_ended or "ended",
            outcome=info.outcome or "failed",
            report=report_path(self.root, info.number),
        )

    # -- budgets ---------------------------------------------------------------------------
    @contextlib.contextmanager
    def budget_stops(self) -> Iterator[None]:
        """A budget used up inside the block (`BudgetExhausted`, from the guard or the
        ledger) is logged, which one and when (for the report), before it ends the round."""
        try:
            yield
        except BudgetExhausted as exc:
            u = self.state.usage
            when = (
                f"{self.guard.elapsed_minutes:.1f} min into round {self.round_number}, after "
                f"{u.requests} model requests and {u.evals} evaluations"
            )
            self.emit(BudgetHit(budget=exc.budget, message=f"{exc.why} ({when})"))
            raise

    def before_request(self, input_tokens: int, usd: float | None) -> None:
        """Budgets checked before a model request (tokens counted with tiktoken)."""
        with self.budget_stops():
            self.guard.before_request(input_tokens, usd)

    def after_request(
        self, model: str, input_tokens: int, output_tokens: int, usd: float | None
    ) -> None:
        """The provider's usage, logged; a request that went over ends the round after it."""
        self.emit(
            ModelUsage(
                model=model,
                input_tokens=input_tokens,
                output_tokens=output_tokens,
                usd=usd,
            )
        )
        with self.budget_stops():
            self.guard.after_request()
