"""`ExperimentRunner`: the session's experiments, one at a time, each in its own sandbox.

An experiment is the cells run for one hypothesis (or one approved follow-up, the session's
baselines, a confirmation on fresh seeds) in a fresh sandbox from the warm kernel pool. Each
cell is logged and committed with its notebook; its test predictions are scored through the
session's evaluation ledger. The runner also holds the round's steps the session runs itself,
before the agent: its baselines, the approved follow-ups, and the restart after a kill.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
from typing import TYPE_CHECKING

import numpy as np

from aar.errors import AarError
from aar.hashing import cells_sha256, join_cells
from aar.session._errors import RoundOver, ToolError
from aar.session._event_kinds import (
    CellRun,
    Evaluated,
    ExperimentEnded,
    ExperimentStarted,
    Note,
)
from aar.session._finalize import BASELINES
from aar.session._ledger import MAX_PREDICTION_BYTES
from aar.session._models import Experiment, SessionState
from aar.session._public import PUBLIC
from aar.session._views import CellOutcome, EvaluationSummary, evaluation_summary

if TYPE_CHECKING:
    from aar.sandbox import KernelPool, KernelSandbox, SandboxPolicy
    from aar.session._session import Session


class ExperimentRunner:
    """The current experiment: its sandbox (from the warm pool), cells, commits, evaluations."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self._pool: KernelPool | None = None
        self._sandbox: KernelSandbox | None = None
        self._current: str | None = None

    # -- the current experiment ------------------------------------------------------------
    def current(self) -> Experiment | None:
        return self.session.state.experiments.get(self._current) if self._current else None

    @property
    def current_id(self) -> str | None:
        return self._current

    def run_cell(self, code: str, *, hypothesis_id: str | None = None) -> CellOutcome:
        """Run one cell in the current experiment, started (for `hypothesis_id`, else the
        round's latest hypothesis) when there is none."""
        session = self.session
        exp = self.current()
        if exp is None:
            hyp = hypothesis_id or _latest_hypothesis(session.state, session.round_number)
            exp = self._start(hyp, None)
        session.progress.cell_started(exp.id, len(exp.cells) + 1)
        session.on_progress(session.progress)
        result = self._running().run_cell(code)
        cell = CellRun(
            experiment=exp.id,
            index=len(exp.cells) + 1,
            code=code,
            status=result.status,
            duration_s=round(result.duration_s, 4),
            cpu_s=result.cpu_s,
            message=result.message,
        )
        if result.error is not None:  # given only when it raised: an ok cell's line is as it was
            cell.error = f"{result.error.ename}: {result.error.evalue}"[:500]
        session.emit(cell)
        self._save(exp.id)
        cells = len(session.state.experiments[exp.id].cells)
        session.commit(f"{exp.id}: cell {cells} ({result.status})")
        return CellOutcome.of(result)

    def evaluate(self, method: str, seeds: list[int] | None = None) -> EvaluationSummary:
        """Score every saved test prediction of `method` in the round's latest experiment that
        saved some (only those of `seeds`, when given: a search screens on a few seeds and
        promotes the best to all); an identical resubmission is answered again without a
        charge."""
        from aar.bench import InvalidPredictionsError
        from aar.sandbox import read_scratch_file

        session = self.session
        exp, found = self._predictions_of(method)
        if seeds is not None:
            unknown = sorted(set(seeds) - set(session.config.seeds))
            if unknown or not seeds:
                raise ToolError(
                    f"seeds must be some of the session's seeds {session.config.seeds}, got {seeds}"
                )
            found = {pair: rel for pair, rel in found.items() if pair[1] in seeds}
        commit = session.commit(f"{exp.id}: evaluate {method}")
        code_sha = cells_sha256(exp.cells)
        entries, invalid = [], []
        for (task, seed), rel in sorted(found.items()):
            raw = read_scratch_file(session.root / exp.path, rel, MAX_PREDICTION_BYTES)
            try:
                probs = np.load(io.BytesIO(raw), allow_pickle=False)
                with session.budget_stops():
                    record, hard = session.ledger.score_test(
                        task, seed, probs, method=method, code_sha256=code_sha, git_commit=commit
                    )
            except (InvalidPredictionsError, ValueError) as exc:
                invalid.append(f"{task} seed {seed}: {exc}")
                continue
            if session.state.record(record.id) is None:  # an identical resubmission is free
                session.emit(
                    Evaluated(
                        record=record, experiment=exp.id, round=session.round_number, hard=hard
                    )
                )
            entries.append(record)
        pairs = [p for p in session.config.pairs if seeds is None or p[1] in seeds]
        missing = [f"{task} seed {seed}" for task, seed in pairs if (task, seed) not in found]
        return evaluation_summary(method, entries, missing, invalid, session.ledger.remaining())

    def close(self) -> None:
        """End the current experiment (its sandbox closes; files stay for the holdout)."""
        session = self.session
        exp = self.current()
        if self._sandbox is not None:
            with contextlib.suppress(Exception):
                self._sandbox.close()
            self._sandbox = None
        if exp is not None:
            self._save(exp.id)
            commit = session.commit(f"{exp.id}: done")
            session.emit(ExperimentEnded(experiment=exp.id, status="done", commit=commit))
        self._current = None

    def shutdown(self) -> None:
        """End the current experiment and close the kernel pool."""
        self.close()
        if self._pool is not None:
            self._pool.close()
            self._pool = None

    # -- whole experiments -----------------------------------------------------------------
    def run_script(
        self, code: str, hypothesis_id: str | None, proposal_id: str | None
    ) -> list[CellOutcome]:
        """A new experiment running `code`'s cells in order, up to the first that fails; the
        CPU and time budgets are checked before each."""
        from aar.sandbox import split_cells

        self.close()
        self._start(hypothesis_id, proposal_id)
        outcomes: list[CellOutcome] = []
        for cell in split_cells(code):
            with self.session.budget_stops():
                self.session.guard.before_cell()
            outcomes.append(self.run_cell(cell))
            if outcomes[-1].status != "ok":
                break
        return outcomes

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
        return self.session.state.experiments[exp.id]

    def run_baselines(self, code: str, methods: list[str]) -> None:
        """The session's own baselines (naive, logconf) on every (task, seed), scored on test:
        once, in the first round, before the agent starts."""
        info = self.session.state.round
        if info is None or info.number != 1 or info.kind != "research" or info.ended:
            raise AarError("baselines run only at the start of the first research round")
        if self.has_baselines():
            return
        self.run_script(code, BASELINES, None)
        for method in methods:
            self.evaluate(method)
        self.close()
        if not self.has_baselines():
            raise RoundOver("the session's baselines failed to run (see the notebook)")

    def has_baselines(self) -> bool:
        """True once a finished baselines experiment has been scored."""
        state = self.session.state
        done = {
            e.id
            for e in state.experiments.values()
            if e.hypothesis_id == BASELINES and e.status == "done"
        }
        return any(e.experiment in done for e in state.evaluations)

    def run_followup(self, proposal_id: str) -> list[CellOutcome]:
        """Run an approved follow-up, byte for byte: the review gate checks, right here, that a
        verified approval of this session is bound to the sha256 of the code about to run."""
        from aar.review import authorize, read_proposal

        session = self.session
        info = session.state.round
        if info is None or info.kind != "followup" or info.ended:
            raise AarError("follow-ups run only in a follow-up round (aar resume after review)")
        if proposal_id not in info.followups:
            raise AarError(f"proposal {proposal_id} is not one of this round's approved follow-ups")
        proposal = read_proposal(session.root / "proposals" / f"{proposal_id}.json")
        authorize(session.settings.runs_dir, session.id, proposal, proposal.code)
        outcomes = self.run_script(proposal.code, None, proposal_id)
        self.close()
        return outcomes

    def followup_done(self, proposal_id: str) -> bool:
        return any(
            e.proposal_id == proposal_id and e.status == "done"
            for e in self.session.state.experiments.values()
        )

    def recover_interrupted(self) -> None:
        """After a kill: experiments the log shows running are marked interrupted; one of the
        current round's hypotheses is restarted (its completed cells re-run in a fresh
        sandbox), so the agent continues with the kernel state it had. Evaluations already
        logged stand and are never charged again."""
        session = self.session
        for exp in list(session.state.experiments.values()):
            if exp.status != "running" or exp.id == self._current:
                continue
            session.emit(ExperimentEnded(experiment=exp.id, status="interrupted"))
            if exp.round == session.round_number and exp.hypothesis_id in session.state.hypotheses:
                session.emit(
                    Note(
                        message=f"restarting {exp.id}: re-running its {len(exp.cells)} "
                        "completed cells in a fresh sandbox",
                    )
                )
                self.close()
                self._start(exp.hypothesis_id, exp.proposal_id)
                for cell in exp.cells:
                    self.run_cell(cell)

    # -- helpers ---------------------------------------------------------------------------
    def _start(
        self,
        hypothesis_id: str | None,
        proposal_id: str | None,
        *,
        confirms: str | None = None,
        task_dir: str = PUBLIC,
    ) -> Experiment:
        from aar.sandbox import KernelPool, SandboxUnavailableError

        session = self.session
        n = len(session.state.experiments) + 1
        suffix = hashlib.sha256(session.id.encode() + bytes([n % 256])).hexdigest()[:6]
        exp = Experiment(
            id=f"e-{n:02d}-{suffix}",
            round=session.round_number,
            hypothesis_id=hypothesis_id,
            proposal_id=proposal_id,
            confirms=confirms,
            task_dir=task_dir,
        )
        try:
            if self._pool is None:
                pool_root = session.settings.runs_dir / ".pool"
                self._pool = KernelPool(1, root=pool_root, policy=_policy()).start()
            self._sandbox = self._pool.acquire(
                session.root / exp.path, task_dir=session.root / task_dir
            )
        except SandboxUnavailableError as exc:
            session.emit(Note(message=f"sandbox unavailable: {exc}"))
            raise RoundOver(f"sandbox unavailable: {exc}") from None
        self._current = exp.id
        session.emit(ExperimentStarted(**exp.model_dump()))
        return exp

    def _running(self) -> KernelSandbox:
        if self._sandbox is None:
            raise RuntimeError("no experiment's sandbox is running")
        return self._sandbox

    def _save(self, exp_id: str) -> None:
        exp = self.session.state.experiments[exp_id]
        self.session.write(f"{exp.path}/cells.py", join_cells(exp.cells))
        if self._sandbox is not None:
            self._sandbox.save_notebook()

    def _predictions_of(self, method: str) -> tuple[Experiment, dict[tuple[str, int], str]]:
        """The round's latest experiment (the current one first) with test predictions of
        `method`, and their paths in its scratch."""
        from aar.sandbox import scratch_files

        session = self.session
        mine = [e for e in session.state.experiments.values() if e.round == session.round_number]
        current = self.current()
        ordered = ([current] if current else []) + [e for e in reversed(mine) if e is not current]
        saved: set[str] = set()
        for exp in ordered:
            files = scratch_files(session.root / exp.path)
            saved |= {p.split("/")[1] for p in files if p.startswith("predictions/")}
            found = {
                (t, seed): f"predictions/{method}/{t}/seed-{seed}.test.npy"
                for t, seed in session.config.pairs
                if f"predictions/{method}/{t}/seed-{seed}.test.npy" in files
            }
            if found:
                return exp, found
        raise ToolError(
            f"no test predictions saved under method {method!r} in this round's experiments "
            f"(saved methods: {', '.join(sorted(saved)) or 'none'}); use "
            f"aar_kernel.save_predictions(p, split='test', name={method!r}, task=..., seed=...)"
        )


def _policy() -> SandboxPolicy:
    """The sandbox policy, with the label sources the kernel must hide."""
    from aar.bench import label_sources
    from aar.sandbox import load_policy

    return load_policy().with_label_sources(label_sources())


def _latest_hypothesis(state: SessionState, round_number: int) -> str | None:
    ids = [h.id for h in state.hypotheses.values() if h.round == round_number]
    return ids[-1] if ids else None
