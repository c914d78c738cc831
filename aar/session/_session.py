"""`Session`: a research session on disk, and the only way anything an agent does takes effect.

The agent's tools call these methods; each appends events to `events.jsonl` (applied to the
in-memory state by the same fold `aar replay` uses), commits the workspace, and enforces the
budgets. A mistake the agent can fix raises `ToolError` (it goes back to the agent as text);
a condition that ends the round raises `RoundOver`.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from aar.errors import AarError
from aar.files import write_atomic
from aar.hashing import cells_sha256, join_cells
from aar.session._budget import BudgetExhausted, BudgetGuard
from aar.session._config import PROTOCOL, SessionConfig, new_session_id
from aar.session._errors import RoundOver, SessionNotFoundError, ToolError
from aar.session._event_kinds import (
    AnyEventData,
    BudgetHit,
    CellRun,
    Created,
    Evaluated,
    Event,
    ExperimentEnded,
    ExperimentStarted,
    FindingRecorded,
    HypothesisProposed,
    ModelUsage,
    Note,
    Proposed,
    RoundStarted,
    StateChanged,
    ToolCalled,
)
from aar.session._events import EventLog, WriterLock, apply
from aar.session._ledger import MAX_PREDICTION_BYTES, EvaluationLedger
from aar.session._models import (
    Experiment,
    Hypothesis,
    RoundKind,
    RoundOutcome,
    SessionState,
)
from aar.session._plan import plan_round
from aar.session._progress import Progress
from aar.session._public import PUBLIC, file_hashes, restore_public_export
from aar.session._recall import MemoryResults, memory_results
from aar.session._views import (
    CellOutcome,
    EvaluationSummary,
    FollowupRun,
    TaskFeedback,
    TaskInfo,
    evaluation_summary,
    task_feedback,
)
from aar.session._workspace import Workspace

if TYPE_CHECKING:
    from aar.memory import Finding
    from aar.review import Proposal


class Session:
    """One session: open it with `Session.create` or `Session.open`, close it with `close`."""

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
            near_duplicate_max_diff=self.settings.bench.near_duplicate_max_diff,
        )
        self.progress = Progress()
        self.on_progress: Callable[[Progress], None] = lambda p: None
        self._experiments = _Experiments(self)

    # -- creation ------------------------------------------------------------------------
    @classmethod
    def create(cls, runs_dir: Path, config: SessionConfig) -> Session:
        """A new session directory with its repository, public export and first event."""
        from aar.bench import export_public_many, key_id

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
                isolation=_isolation(),
                public=file_hashes(root / PUBLIC),
            )
        )
        session = cls(root, lock)
        session.commit("session created")
        return session

    @classmethod
    def open(cls, runs_dir: Path, session_id: str) -> Session:
        """An existing session, for resuming it (one process at a time)."""
        from aar.bench import key_id

        root = runs_dir / session_id
        if not (root / "events.jsonl").is_file():
            raise SessionNotFoundError(f"no session {session_id!r} under {runs_dir}")
        session = cls(root, WriterLock(root))
        session.workspace.clear_stale_index_lock()  # a killed run's git; we hold the writer lock
        if session.state.protocol != PROTOCOL:
            session.close()
            raise AarError(
                f"session {session_id} was made under protocol {session.state.protocol} and "
                f"this aar runs protocol {PROTOCOL} (another evaluator, feedback and verdict "
                "rule): it cannot continue here, though `aar sessions show` and `aar replay` "
                "still read it; start a new session"
            )
        created = session.log.read()[0].data
        if not isinstance(created, Created) or created.key_id != key_id():
            session.close()
            raise AarError(
                f"session {session_id} was exported under another task key; its ids no longer "
                "match the evaluator's. Restore the key file it was created with "
                "(settings bench.key_file)"
            )
        try:
            restore_public_export(root, session.config.pairs, created.public)
        except BaseException:
            session.close()
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
        self._experiments.shutdown()
        self._lock.release()

    close = shutdown

    # -- the log -------------------------------------------------------------------------
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
        sha = self.workspace.commit(message)
        return sha

    def note_tool(self, name: str, args: dict[str, Any], outcome: str, call_id: str = "") -> None:
        """Record a tool call and its outcome (arguments shortened; the outcome kept whole, so
        a resumed run can answer a re-issued call without acting twice)."""
        self.emit(ToolCalled(name=name, args=_short(args), outcome=outcome, call_id=call_id))

    def completed_tool_calls(self) -> dict[str, Any]:
        """Tool call id -> result of every call of the current round the log shows completed."""
        done = {}
        for event in self.log.read():
            data = event.data
            if (
                isinstance(data, ToolCalled)
                and event.round == self.round_number
                and data.call_id
                and data.outcome != "round over"
            ):
                done[data.call_id] = json.loads(data.outcome)
        return done

    # -- rounds --------------------------------------------------------------------------
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

    def check_round_summary(self, summary: str) -> None:
        """Refuse a round summary that states numbers no record of the round supports."""
        from aar.session._claims import check_round_summary
        from aar.session._evidence import UnbackedNumberError

        try:
            check_round_summary(self.state, summary)
        except UnbackedNumberError as exc:
            raise ToolError(str(exc)) from None

    # -- tools ---------------------------------------------------------------------------
    def propose_hypothesis(
        self,
        statement: str,
        method: str,
        rationale: str = "",
        family: str | None = None,
        params: dict[str, float] | None = None,
    ) -> Hypothesis:
        """Register a hypothesis; the next cell starts its experiment in a fresh sandbox. In a
        follow-up round it names what an approved follow-up tested (no code runs)."""
        info = self.state.round
        if info is None or info.ended:
            raise ToolError("no round is running: cannot propose a hypothesis")
        n = sum(1 for h in self.state.hypotheses.values() if h.round == self.round_number) + 1
        if info.kind == "research" and n > self.config.hypotheses:
            raise ToolError(
                f"this round allows {self.config.hypotheses} hypotheses; record findings for "
                "them and call finish_round"
            )
        try:
            hypothesis = Hypothesis(
                id=f"h{self.round_number}-{n}",
                round=self.round_number,
                statement=statement,
                method=method,
                rationale=rationale,
                family=family,
                params=params or {},
            )
        except ValueError as exc:
            raise ToolError(f"invalid hypothesis: {_first_error(exc)}") from None
        self._experiments.close()
        self.emit(HypothesisProposed(**hypothesis.model_dump()))
        return hypothesis

    def run_cell(self, code: str) -> CellOutcome:
        """Run one cell in the current hypothesis's experiment (started on first use)."""
        self._require_research_round("run new code")
        if not code.strip():
            raise ToolError("the cell is empty")
        with self.budget_stops():
            self.guard.before_cell()
        return self._experiments.run_cell(code)

    def evaluate(self, method: str) -> EvaluationSummary:
        """Score every saved test prediction of `method` in the current experiment."""
        return self._experiments.evaluate(method)

    def run_baselines(self, code: str, methods: list[str]) -> None:
        """The session's own baselines (naive, logconf) on every (task, seed), scored on test:
        once, in the first round, before the agent starts."""
        from aar.session._finalize import BASELINES

        info = self.state.round
        if info is None or info.number != 1 or info.kind != "research" or info.ended:
            raise AarError("baselines run only at the start of the first research round")
        if self.has_baselines():
            return
        self._experiments.run_script(code, BASELINES, None)
        for method in methods:
            self.evaluate(method)
        self._experiments.close()
        if not self.has_baselines():
            raise RoundOver("the session's baselines failed to run (see the notebook)")

    def has_baselines(self) -> bool:
        """True once a finished baselines experiment has been scored."""
        from aar.session._finalize import BASELINES

        done = {
            e.id
            for e in self.state.experiments.values()
            if e.hypothesis_id == BASELINES and e.status == "done"
        }
        return any(e.experiment in done for e in self.state.evaluations)

    def followup_done(self, proposal_id: str) -> bool:
        return any(
            e.proposal_id == proposal_id and e.status == "done"
            for e in self.state.experiments.values()
        )

    def recover_interrupted(self) -> None:
        """After a kill: experiments the log shows running are marked interrupted; one of the
        current round's hypotheses is restarted (its completed cells re-run in a fresh
        sandbox), so the agent continues with the kernel state it had. Evaluations already
        logged stand and are never charged again."""
        for exp in list(self.state.experiments.values()):
            if exp.status != "running" or exp.id == self._experiments.current_id:
                continue
            self.emit(ExperimentEnded(experiment=exp.id, status="interrupted"))
            if exp.round == self.round_number and exp.hypothesis_id in self.state.hypotheses:
                self.emit(
                    Note(
                        message=f"restarting {exp.id}: re-running its {len(exp.cells)} "
                        "completed cells in a fresh sandbox",
                    )
                )
                self._experiments.restart(exp)

    def run_followup(self, proposal_id: str) -> list[CellOutcome]:
        """Run an approved follow-up, byte for byte: the review gate checks, right here, that a
        verified approval of this session is bound to the sha256 of the code about to run."""
        from aar.review import authorize, read_proposal

        info = self.state.round
        if info is None or info.kind != "followup" or info.ended:
            raise AarError("follow-ups run only in a follow-up round (aar resume after review)")
        if proposal_id not in info.followups:
            raise AarError(f"proposal {proposal_id} is not one of this round's approved follow-ups")
        proposal = read_proposal(self.root / "proposals" / f"{proposal_id}.json")
        code = proposal.code
        authorize(self.settings.runs_dir, self.id, proposal, code)
        outcomes = self._experiments.run_script(code, None, proposal_id)
        self._experiments.close()
        return outcomes

    def list_tasks(self) -> list[TaskInfo]:
        """The session's tasks as the kernel sees them (from the public manifests)."""
        out = []
        for task in self.config.tasks:
            manifest = json.loads(
                (
                    self.root / "public" / task / f"seed-{self.config.seeds[0]}" / "manifest.json"
                ).read_text()
            )
            out.append(
                TaskInfo(
                    task=task,
                    seeds=self.config.seeds,
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
            store = open_store(self.settings)
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
        from aar.session._finalize import BASELINES

        records = [
            e.record
            for e in self.state.evaluations
            if self.state.experiments[e.experiment].hypothesis_id == BASELINES
        ]
        methods = sorted({r.method for r in records})
        return {m: task_feedback([r for r in records if r.method == m]) for m in methods}

    def followup_experiments(self) -> list[FollowupRun]:
        """This round's approved follow-ups that ran, and the methods they saved."""
        from aar.sandbox import scratch_files

        out = []
        for exp in self.state.experiments.values():
            if exp.round == self.round_number and exp.proposal_id:
                files = scratch_files(self.root / exp.path)
                methods = sorted({p.split("/")[1] for p in files if p.startswith("predictions/")})
                out.append(
                    FollowupRun(experiment=exp.id, proposal=exp.proposal_id, methods=methods)
                )
        return out

    def record_finding(
        self, hypothesis_id: str, summary: str, verdict: str, eval_record_ids: list[str]
    ) -> Finding:
        """A finding whose metrics the session computes from the cited test records."""
        from aar.session._claims import ClaimError, build_finding
        from aar.session._evidence import UnbackedNumberError

        try:
            finding = build_finding(
                self.state,
                hypothesis_id=hypothesis_id,
                summary=summary,
                verdict=verdict,
                eval_record_ids=eval_record_ids,
                git_commit=self.workspace.head,
            )
        except (ClaimError, UnbackedNumberError) as exc:
            raise ToolError(str(exc)) from None
        self.write(f"findings/{finding.id}.json", finding.model_dump_json(indent=2) + "\n")
        self.emit(FindingRecorded(finding=finding))
        self.commit(f"finding {finding.id} ({finding.verdict})")
        return finding

    def propose_followup(
        self,
        rationale: str,
        code: str,
        *,
        estimated_tokens: int = 0,
        hypothesis_id: str | None = None,
    ) -> Proposal:
        """A follow-up for people to review; it runs only once approved, byte for byte. Its
        rationale claims only what findings support (numbers backed, no "beat" without a
        supported verdict), and it follows the experiment of the hypothesis it names."""
        from aar.review import new_proposal, write_proposal
        from aar.sandbox import split_cells
        from aar.session._claims import ClaimError, check_rationale, followed_experiment
        from aar.session._evidence import UnbackedNumberError

        if not code.strip() or not split_cells(code):
            raise ToolError("a follow-up needs code to run (cells split on '# %%' lines)")
        if not rationale.strip():
            raise ToolError("a follow-up needs a rationale a reviewer can judge")
        try:
            check_rationale(self.state, rationale, code)
        except (ClaimError, UnbackedNumberError) as exc:
            raise ToolError(str(exc)) from None
        follows = followed_experiment(self.state, rationale, code, hypothesis_id)
        try:
            proposal = new_proposal(
                self.id,
                self.round_number,
                rationale,
                code,
                estimated_evaluations=_estimated_evaluations(code, len(self.config.pairs)),
                estimated_tokens=estimated_tokens,
                follows=follows,
            )
        except ValueError as exc:
            raise ToolError(f"invalid follow-up: {_first_error(exc)}") from None
        path = write_proposal(self.root, proposal)
        self.emit(Proposed(id=proposal.id, sha256=proposal.sha256, path=str(path.name)))
        self.commit(f"proposal {proposal.id}")
        return proposal

    def finish_round(self, summary: str) -> None:
        """The agent ends the round; numbers in its summary must be backed by records."""
        self.check_round_summary(summary)
        self.end_round("finished by the agent", summary, outcome="completed")

    def end_round(
        self, why: str, summary: str | None = None, *, outcome: RoundOutcome = "failed"
    ) -> None:
        """Close the experiment, score the cited holdout once, store findings, write the
        report, and wait for review. `outcome` is "completed" only when the researcher
        finished the round; anything else is an early end the report leads with."""
        from aar.session._finalize import finalize_round

        self._experiments.close()
        finalize_round(self, why, summary, outcome)

    # -- model requests --------------------------------------------------------------------
    def before_request(self, input_tokens: int, usd: float | None) -> None:
        """Budgets checked before a model request (tokens counted with tiktoken)."""
        with self.budget_stops():
            self.guard.before_request(input_tokens, usd)

    def after_request(self, model: str, input_tokens: int, output_tokens: int, usd: float | None):
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

    # -- helpers -------------------------------------------------------------------------
    def _require_research_round(self, what: str) -> None:
        info = self.state.round
        if info is None or info.ended:
            raise ToolError(f"no round is running: cannot {what}")
        if info.kind == "followup":
            raise ToolError(
                f"cannot {what} in a follow-up round: only the approved follow-ups run; "
                "evaluate their results, record findings, propose follow-ups, finish the round"
            )

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


class _Experiments:
    """The current experiment: its sandbox (from the warm pool), cells, commits, evaluations."""

    def __init__(self, session: Session) -> None:
        self.s = session
        self._pool: Any = None
        self._sandbox: Any = None
        self._current: str | None = None

    def _policy(self) -> Any:
        from aar.bench import label_sources
        from aar.sandbox import load_policy

        return load_policy().with_label_sources(label_sources())

    def _start(
        self,
        hypothesis_id: str | None,
        proposal_id: str | None,
        *,
        confirms: str | None = None,
        task_dir: str = "public",
    ) -> Experiment:
        from aar.sandbox import KernelPool, SandboxUnavailableError

        s = self.s
        n = len(s.state.experiments) + 1
        exp = Experiment(
            id=f"e-{n:02d}-{hashlib.sha256(s.id.encode() + bytes([n % 256])).hexdigest()[:6]}",
            round=s.round_number,
            hypothesis_id=hypothesis_id,
            proposal_id=proposal_id,
            confirms=confirms,
            task_dir=task_dir,
        )
        try:
            if self._pool is None:
                pool_root = s.settings.runs_dir / ".pool"
                self._pool = KernelPool(1, root=pool_root, policy=self._policy()).start()
            self._sandbox = self._pool.acquire(s.root / exp.path, task_dir=s.root / task_dir)
        except SandboxUnavailableError as exc:
            s.emit(Note(message=f"sandbox unavailable: {exc}"))
            raise RoundOver(f"sandbox unavailable: {exc}") from None
        self._current = exp.id
        s.emit(ExperimentStarted(**exp.model_dump()))
        return exp

    def current(self) -> Experiment | None:
        return self.s.state.experiments.get(self._current) if self._current else None

    @property
    def current_id(self) -> str | None:
        return self._current

    def run_confirmation(self, original: Experiment, task_dir: str) -> Experiment:
        """Re-run `original`'s exact cells, in order, in a fresh sandbox on another export
        (fresh seeds). A cell that raises does not stop it (the researcher went on past errors
        too); a sandbox that died does. No budget is charged (the session's own run, like the
        holdout scoring). Raises RoundOver if no sandbox can start."""
        self.close()
        exp = self._start(None, None, confirms=original.id, task_dir=task_dir)
        for cell in original.cells:
            if self.run_cell(cell).status in ("timeout", "killed", "oom"):
                break
        self.close()
        return self.s.state.experiments[exp.id]

    def restart(self, old: Experiment) -> None:
        """A fresh experiment for `old`'s hypothesis, with `old`'s cells run again."""
        self.close()
        self._start(old.hypothesis_id, old.proposal_id)
        for cell in old.cells:
            self.run_cell(cell)

    def run_cell(self, code: str, *, hypothesis_id: str | None = None) -> CellOutcome:
        s = self.s
        exp = self.current()
        if exp is None:
            hyp = hypothesis_id or _latest_hypothesis(s.state, s.round_number)
            exp = self._start(hyp, None)
        s.progress.cell_started(exp.id, len(exp.cells) + 1)
        s.on_progress(s.progress)
        result = self._sandbox.run_cell(code)
        s.emit(
            CellRun(
                experiment=exp.id,
                index=len(exp.cells) + 1,
                code=code,
                status=result.status,
                duration_s=round(result.duration_s, 4),
                cpu_s=result.cpu_s,
                message=result.message,
            )
        )
        self._save(exp.id)
        s.commit(f"{exp.id}: cell {len(s.state.experiments[exp.id].cells)} ({result.status})")
        return CellOutcome.of(result)

    def run_script(
        self, code: str, hypothesis_id: str | None, proposal_id: str | None
    ) -> list[CellOutcome]:
        from aar.sandbox import split_cells

        self.close()
        self._start(hypothesis_id, proposal_id)
        outcomes: list[CellOutcome] = []
        for cell in split_cells(code):
            with self.s.budget_stops():
                self.s.guard.before_cell()
            outcomes.append(self.run_cell(cell))
            if outcomes[-1].status != "ok":
                break
        return outcomes

    def _save(self, exp_id: str) -> None:
        exp = self.s.state.experiments[exp_id]
        self.s.write(f"{exp.path}/cells.py", join_cells(exp.cells))
        if self._sandbox is not None:
            self._sandbox.save_notebook()

    def evaluate(self, method: str) -> EvaluationSummary:
        from aar.bench import InvalidPredictionsError
        from aar.sandbox import read_scratch_file

        s = self.s
        exp, found = self._predictions_of(method)
        commit = s.commit(f"{exp.id}: evaluate {method}")
        code_sha = cells_sha256(exp.cells)
        entries, invalid = [], []
        for (task, seed), rel in sorted(found.items()):
            raw = read_scratch_file(s.root / exp.path, rel, MAX_PREDICTION_BYTES)
            try:
                probs = np.load(io.BytesIO(raw), allow_pickle=False)
                with s.budget_stops():
                    record, hard = s.ledger.score_test(
                        task, seed, probs, method=method, code_sha256=code_sha, git_commit=commit
                    )
            except (InvalidPredictionsError, ValueError) as exc:
                invalid.append(f"{task} seed {seed}: {exc}")
                continue
            if s.state.record(record.id) is None:  # an identical resubmission is free
                s.emit(Evaluated(record=record, experiment=exp.id, round=s.round_number, hard=hard))
            entries.append(record)
        missing = [f"{t} seed {seed}" for t, seed in s.config.pairs if (t, seed) not in found]
        return evaluation_summary(method, entries, missing, invalid, s.ledger.remaining())

    def _predictions_of(self, method: str) -> tuple[Experiment, dict[tuple[str, int], str]]:
        """The round's latest experiment (the current one first) with test predictions of
        `method`, and their paths in its scratch."""
        from aar.sandbox import scratch_files

        s = self.s
        mine = [e for e in s.state.experiments.values() if e.round == s.round_number]
        current = self.current()
        ordered = ([current] if current else []) + [e for e in reversed(mine) if e is not current]
        saved: set[str] = set()
        for exp in ordered:
            files = scratch_files(s.root / exp.path)
            saved |= {p.split("/")[1] for p in files if p.startswith("predictions/")}
            found = {
                (t, seed): f"predictions/{method}/{t}/seed-{seed}.test.npy"
                for t, seed in s.config.pairs
                if f"predictions/{method}/{t}/seed-{seed}.test.npy" in files
            }
            if found:
                return exp, found
        raise ToolError(
            f"no test predictions saved under method {method!r} in this round's experiments "
            f"(saved methods: {', '.join(sorted(saved)) or 'none'}); use "
            f"aar_kernel.save_predictions(p, split='test', name={method!r}, task=..., seed=...)"
        )

    def close(self) -> None:
        """End the current experiment (its sandbox closes; files stay for the holdout)."""
        s = self.s
        exp = self.current()
        if self._sandbox is not None:
            with contextlib.suppress(Exception):
                self._sandbox.close()
            self._sandbox = None
        if exp is not None:
            self._save(exp.id)
            commit = s.commit(f"{exp.id}: done")
            s.emit(ExperimentEnded(experiment=exp.id, status="done", commit=commit))
        self._current = None

    def shutdown(self) -> None:
        self.close()
        if self._pool is not None:
            self._pool.close()
            self._pool = None


def _estimated_evaluations(code: str, pairs: int) -> int:
    """Pairs times the distinct method names the code saves test predictions under: a literal
    `name="..."`, or the `METHOD = "..."` the method library's scripts save under."""
    import re

    quoted = r"['\"]([A-Za-z0-9_.-]+)['\"]"
    names = set(re.findall(rf"name\s*=\s*{quoted}", code))
    names |= set(re.findall(rf"^METHOD\s*=\s*{quoted}", code, flags=re.MULTILINE))
    return pairs * max(len(names), 1)


def _latest_hypothesis(state: SessionState, round_number: int) -> str | None:
    ids = [h.id for h in state.hypotheses.values() if h.round == round_number]
    return ids[-1] if ids else None


def _short(args: dict[str, Any]) -> dict[str, Any]:
    def cut(value: Any) -> Any:
        return value[:500] + "…" if isinstance(value, str) and len(value) > 500 else value

    return {k: cut(v) for k, v in args.items()}


def _first_error(exc: Exception) -> str:
    errors = getattr(exc, "errors", None)
    if callable(errors):
        first = errors()[0]
        return f"{'.'.join(map(str, first['loc']))}: {first['msg']}"
    return str(exc)


def _isolation() -> str:
    from aar.sandbox import load_policy

    return load_policy().isolation


