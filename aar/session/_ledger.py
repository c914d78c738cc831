"""The session's evaluation ledger: its own budget, on the installation's one scorer.

Every score a session asks for goes through `aar.scorer.Scorer`, the installation-wide
ledger shared with every other session, `aar bench evaluate` and process, so the feedback
mechanism's bound holds per task pool across all of them. On top, the session keeps its own
budget: it refuses a submission once `budgets.evals` scored evaluations are logged in
`events.jsonl` (resumes included: the count comes from the log). A call re-issued after a
crash carries the same request id, so the scorer answers it again without charging twice.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from typing import Literal

import numpy as np

from aar.bench import EvalRecord, load_predictions, predictions_sha256
from aar.scorer import ScorerClient, ScoreRequest, installation_scorer
from aar.session._budget import BudgetExhausted
from aar.session._models import SessionState

Split = Literal["test", "holdout"]
MAX_PREDICTION_BYTES = 64 * 1024 * 1024
"""Largest prediction file read from a sandbox's scratch."""


class EvaluationLedger:
    """Scores submissions for a session through the installation's scorer."""

    def __init__(
        self,
        state: Callable[[], SessionState],
        public_ids: Callable[[str, int, Split], tuple[np.ndarray, int]],
        *,
        near_duplicate_max_diff: int,
        device: str = "cpu",
        scorer: ScorerClient | None = None,
    ) -> None:
        self._state = state
        self._public_ids = public_ids
        self._max_diff = near_duplicate_max_diff  # the scorer's repeat radius starts here
        self._scorer = installation_scorer(device) if scorer is None else scorer

    def load(
        self, task: str, seed: int, predictions: np.ndarray | str | os.PathLike[str], split: Split
    ) -> np.ndarray:
        """Validated probabilities aligned with the pair's public ids (no labels here)."""
        ids, n_classes = self._public_ids(task, seed, split)
        return load_predictions(predictions, ids, n_classes)

    def remaining(self) -> int:
        state = self._state()
        return max(state.config.budgets.evals - state.usage.evals, 0)

    def score_test(
        self,
        task: str,
        seed: int,
        predictions: np.ndarray | str | os.PathLike[str],
        *,
        method: str,
        code_sha256: str,
        git_commit: str | None,
    ) -> tuple[EvalRecord, str]:
        """The scorer's answer to a test submission (the record and its hardened predictions,
        base64). Invalid predictions raise `InvalidPredictionsError` and cost nothing."""
        probs = self.load(task, seed, predictions, "test")
        sha = predictions_sha256(probs)
        state = self._state()
        again = self._already_scored(state, task, seed, method, sha)
        if again is not None:
            return again
        if self.remaining() <= 0:
            limit = state.config.budgets.evals
            raise BudgetExhausted(
                "evals",
                state.usage.evals,
                limit,
                f"evaluation budget of {limit} scored submissions used up",
            )
        number = state.round.number if state.round else 0
        request_id = hashlib.sha256(
            f"{state.id}|{number}|{task}|{seed}|{method}|{sha}".encode()
        ).hexdigest()
        response = self._scorer.score(
            ScoreRequest(
                task=task,
                seed=seed,
                split="test",
                method=method,
                code_sha256=code_sha256,
                git_commit=git_commit,
                account=f"session:{state.id}",
                budget=state.config.budgets.evals,
                request_id=request_id,
                probs=probs.tolist(),
            )
        )
        record = response.record.model_copy(
            update={
                "budget_used": state.usage.evals + 1,
                "budget_total": state.config.budgets.evals,
            }
        )
        return record, response.hard

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
        predictions: np.ndarray | str | os.PathLike[str],
        *,
        method: str,
        code_sha256: str,
        git_commit: str | None,
    ) -> EvalRecord:
        """The exact holdout score of a submission: for the round's report, never the agent.
        Recorded in the installation's ledger like every score."""
        probs = self.load(task, seed, predictions, "holdout")
        state = self._state()
        return self._scorer.score(
            ScoreRequest(
                task=task,
                seed=seed,
                split="holdout",
                method=method,
                code_sha256=code_sha256,
                git_commit=git_commit,
                account=f"session:{state.id}",
                probs=probs.tolist(),
            )
        ).record
