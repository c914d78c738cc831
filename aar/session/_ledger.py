"""The session's one evaluation ledger, across all its (task, seed) evaluators and resumes.

Each `Evaluator` would count its own budget; a session has many (one per task and seed), so
the ledger is what counts: it refuses a submission once `budgets.evals` scored evaluations are
logged in `events.jsonl` (resumes included: the count comes from the log), and it flags a
submission whose hardened predictions differ from an earlier one of the session (same task,
seed and split) in at most `near_duplicate_max_diff` places — the signature of label probing.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Callable
from typing import Literal

import numpy as np

from aar.bench import EvalRecord, Evaluator, load_predictions
from aar.errors import AarError
from aar.session._models import EvalEntry, SessionState

Split = Literal["test", "holdout"]
MAX_PREDICTION_BYTES = 64 * 1024 * 1024
"""Largest prediction file read from a sandbox's scratch."""


class EvalBudgetExhausted(AarError):
    """The session has used every scored evaluation its budget allows."""

    exit_code = 1


class EvaluationLedger:
    """Scores submissions for a session and decides what each costs and how it is flagged."""

    def __init__(
        self,
        state: Callable[[], SessionState],
        *,
        near_duplicate_max_diff: int,
        device: str = "cpu",
    ) -> None:
        self._state = state
        self._max_diff = near_duplicate_max_diff
        self._device = device
        self._evaluators: dict[tuple[str, int, bool], Evaluator] = {}

    def evaluator(self, task: str, seed: int, *, session: bool = True) -> Evaluator:
        """The (cached) evaluator of a pair; `session=False` only for the end-of-round holdout."""
        key = (task, seed, session)
        if key not in self._evaluators:
            self._evaluators[key] = Evaluator(
                task, seed, session=session, budget=10**9, device=self._device
            )
        return self._evaluators[key]

    def remaining(self) -> int:
        state = self._state()
        return max(state.config.budgets.evals - state.usage.evals, 0)

    def score_test(
        self,
        task: str,
        seed: int,
        predictions: str | os.PathLike[str],
        *,
        method: str,
        code_sha256: str,
        git_commit: str | None,
    ) -> tuple[EvalRecord, str]:
        """A rounded, budgeted test score (the record and its hardened predictions, base64).

        Invalid predictions raise `InvalidPredictionsError` and cost nothing.
        """
        ev = self.evaluator(task, seed)
        probs = load_predictions(predictions, ev.ids("test"), ev.task.n_classes)
        state = self._state()
        again = self._already_scored(state, task, seed, method, ev.predictions_sha256(probs))
        if again is not None:
            return again
        if self.remaining() <= 0:
            raise EvalBudgetExhausted(
                f"evaluation budget of {state.config.budgets.evals} scored submissions used up"
            )
        record = ev.evaluate(probs, method=method, code_sha256=code_sha256, git_commit=git_commit)
        hard = probs.argmax(axis=1).astype(np.uint8)
        flags = [f for f in record.flags if "duplicate" not in f]
        flags += self._duplicate_flags(state.evaluations, task, seed, hard)
        used = state.usage.evals + 1
        record = record.model_copy(
            update={"flags": flags, "budget_used": used, "budget_total": state.config.budgets.evals}
        )
        return record, base64.b64encode(hard.tobytes()).decode()

    @staticmethod
    def _already_scored(
        state: SessionState, task: str, seed: int, method: str, sha: str
    ) -> tuple[EvalRecord, str] | None:
        """The same method's identical predictions scored before in this round (a call the
        process died in, re-issued on resume; or a plain resubmission): its record, free."""
        number = state.round.number if state.round else 0
        for entry in reversed(state.evaluations):
            r = entry.record
            if (entry.round, r.task, r.seed, r.method, r.predictions_sha256) == (
                number,
                task,
                seed,
                method,
                sha,
            ):
                return r, entry.hard
        return None

    def score_holdout(
        self,
        task: str,
        seed: int,
        predictions: str | os.PathLike[str],
        *,
        method: str,
        code_sha256: str,
        git_commit: str | None,
    ) -> EvalRecord:
        """The exact holdout score of a submission: for the round's report, never the agent."""
        ev = self.evaluator(task, seed, session=False)
        return ev.evaluate(
            predictions,
            method=method,
            code_sha256=code_sha256,
            split="holdout",
            git_commit=git_commit,
        )

    def _duplicate_flags(
        self, history: list[EvalEntry], task: str, seed: int, hard: np.ndarray
    ) -> list[str]:
        closest: tuple[int, str] | None = None
        for entry in history:
            rec = entry.record
            if rec.task != task or rec.seed != seed or not entry.hard:
                continue
            prev = np.frombuffer(base64.b64decode(entry.hard), dtype=np.uint8)
            if len(prev) == len(hard):
                diff = int((prev != hard).sum())
                if closest is None or diff < closest[0]:
                    closest = (diff, rec.id)
        if closest is None or closest[0] > self._max_diff:
            return []
        diff, rid = closest
        kind = "duplicate" if diff == 0 else "near_duplicate"
        return [f"{kind}: {diff} hardened predictions differ from record {rid}"]
