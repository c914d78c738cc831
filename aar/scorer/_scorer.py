"""`Scorer`: the one way to score a split a session may see (DESIGN.md "The scorer").

Every session, every `aar bench evaluate` and every process scores through a `Scorer` on the
installation's ledger (`settings.scorer.dir`). Test submissions get the feedback mechanism's
answer (`_mechanism.decide`); holdout submissions get exact numbers for trusted host code only
(the session's end-of-round scoring; `aar bench evaluate` refuses holdout) and are recorded too.
"""

from __future__ import annotations

import base64
import math
import os
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from aar.bench import (
    BudgetExceededError,
    EvalRecord,
    Evaluator,
    check_label,
    predictions_sha256,
)
from aar.scorer._mechanism import Decision, Policy, decide_on
from aar.scorer._models import PoolStatus, ScoreRequest, ScoreResponse
from aar.scorer._store import LedgerEntry, LedgerStore, PoolIndex, SeedIndex

_SHOWN = ("acc", "auroc", "pgr_acc", "pgr_auroc")
NAIVE = "harness-naive"
"""`repeat_of` of a submission that repeats the harness's naive student's predictions."""


def scorer_dir() -> Path:
    """The installation's ledger directory (`settings.scorer.dir`)."""
    from aar.config import get_settings

    return get_settings().scorer.dir


class Scorer:
    """Scores submissions on the installation's ledger (thread- and process-safe).

    Args:
        directory: the ledger (default `settings.scorer.dir`).
        policy: the feedback mechanism's parameters (default from settings).
        device: where an evaluator's ceiling student trains.
        evaluators: a shared cache of `Evaluator`s by (task, seed), e.g. across scorers.
        fsync: make every ledger line durable before answering (off only for throw-away
            ledgers, e.g. the attack battery's).
    """

    def __init__(
        self,
        directory: str | os.PathLike[str] | None = None,
        *,
        policy: Policy | None = None,
        device: str = "cpu",
        evaluators: dict[tuple[str, int], Evaluator] | None = None,
        fsync: bool = True,
    ) -> None:
        from aar.config import get_settings

        settings = get_settings().scorer
        self.store = LedgerStore(
            scorer_dir() if directory is None else directory,
            lock_timeout=settings.lock_timeout,
            fsync=fsync,
        )
        self.policy = Policy.from_settings() if policy is None else policy
        self.device = device
        self._evaluators = {} if evaluators is None else evaluators

    def evaluator(self, task: str, seed: int) -> Evaluator:
        """The (cached) exact scorer of a pair; it holds the labels and never answers itself."""
        key = (task, seed)
        if key not in self._evaluators:
            self._evaluators[key] = Evaluator(task, seed, budget=10**9, device=self.device)
        return self._evaluators[key]

    def score(self, request: ScoreRequest) -> ScoreResponse:
        """Score one submission. Invalid predictions raise `InvalidPredictionsError` and cost
        nothing; an account past its budget raises `BudgetExceededError`."""
        check_label(request.method)
        ev = self.evaluator(request.task, request.seed)
        probs = ev.load(np.asarray(request.probs, dtype=np.float64), request.split)
        # outside the lock (may train a ceiling); AUROC is computed only when it is shown
        exact = ev.exact_metrics(probs, request.split, with_auroc=request.split == "holdout")
        hard = probs.argmax(axis=1).astype(np.uint8)
        sha = predictions_sha256(probs)
        task = ev.task.name
        with self.store.locked():
            pool = self.store.pool(task)
            if request.request_id is not None:
                answered = pool.requests.get((request.account, request.request_id))
                if answered is not None:
                    return self._response(answered, charged=False, pool_used=pool.used)
            used = self.store.account_used(request.account)
            if request.budget is not None and used >= request.budget:
                raise BudgetExceededError(
                    f"evaluation budget of {request.budget} scored submissions used up "
                    f"(account {request.account})"
                )
            used += request.budget is not None
            record, informative = self._answer(request, ev, exact, probs, sha, pool, used)
            pool_used = pool.used + informative  # with this entry (`pool` is kept up to date)
            entry = LedgerEntry(
                record=record,
                account=request.account,
                request_id=request.request_id,
                hard=base64.b64encode(hard.tobytes()).decode(),
                exact_acc=exact["acc"],
                informative=informative,
            )
            self.store.append(entry, charge=request.budget is not None)
            return self._response(entry, charged=True, pool_used=pool_used)

    def _answer(
        self,
        request: ScoreRequest,
        ev: Evaluator,
        exact: dict[str, float],
        probs: np.ndarray,
        sha: str,
        pool: PoolIndex,
        used: int,
    ) -> tuple[EvalRecord, bool]:
        hard = probs.argmax(axis=1).astype(np.uint8)
        base = _record_fields(request, ev.task.name, sha, used)
        base["flags"] = flags = _gap_flags(exact, ev.min_gap)
        if request.split == "holdout":
            metrics = {**exact, "n": float(len(hard))}
            return EvalRecord(**base, metrics=metrics, rounded=False), False
        same = pool.seeds.get(request.seed, SeedIndex())
        reference = ev.reference_acc("test")
        nearest = same.nearest(hard)
        if self.policy.from_reference:  # the harness's naive submission, as if shown first
            naive = ev.reference_probs("test").argmax(axis=1).astype(np.uint8)
            if len(naive) == len(hard):  # first in the scan: an entry replaces it if nearer
                d_naive = int(np.count_nonzero(naive != hard))
                if nearest is None or d_naive <= nearest[0]:
                    nearest = (d_naive, NAIVE)
        decision = decide_on(
            self.policy, nearest, same.best_shown, pool.used, exact["acc"], len(hard), reference
        )
        flag = _closeness_flag(decision, same, sha, self.policy.radius_min)
        if flag is not None:
            base["flags"] = [flag, *flags]
        metrics = self._shown(
            exact,
            decision,
            same,
            probs,
            lambda p: ev.exact_auroc(p, "test"),
            sha,
            lambda: ev.load(ev.reference_probs("test"), "test"),
        )
        metrics["naive_acc"] = self.policy.floor(reference)
        record = EvalRecord(
            **base,
            metrics=metrics,
            rounded=True,
            rounding=self.policy.step,
            answer=decision.answer,
            threshold_acc=decision.threshold_acc,
            repeat_of=decision.repeat_of,
        )
        return record, decision.informative

    def _shown(
        self,
        exact: dict[str, float],
        decision: Decision,
        same: SeedIndex,
        probs: np.ndarray,
        auroc: Callable[[np.ndarray], float],
        sha: str,
        naive_probs: Callable[[], np.ndarray],
    ) -> dict[str, float]:
        """What a test answer shows: floored accuracies, PGR from the floored accuracies;
        acc, AUROC and PGR only for an improvement (or a repeat of identical predictions)."""
        f = self.policy.floor
        shown = {k: f(exact[k]) for k in ("weak_acc", "ceiling_acc", "weak_auroc", "ceiling_auroc")}
        if decision.answer == "improved":
            shown["acc"], shown["auroc"] = f(exact["acc"]), f(auroc(probs))
            shown["pgr_acc"] = _pgr(shown["acc"], shown["weak_acc"], shown["ceiling_acc"])
            shown["pgr_auroc"] = _pgr(shown["auroc"], shown["weak_auroc"], shown["ceiling_auroc"])
        elif decision.repeat_of == NAIVE and sha == predictions_sha256(naive_probs()):
            # the harness's own naive predictions: numbers every answer already implies
            shown["acc"], shown["auroc"] = f(exact["acc"]), f(auroc(probs))
            shown["pgr_acc"] = _pgr(shown["acc"], shown["weak_acc"], shown["ceiling_acc"])
            shown["pgr_auroc"] = _pgr(shown["auroc"], shown["weak_auroc"], shown["ceiling_auroc"])
        else:
            earlier = None if decision.repeat_of is None else same.records.get(decision.repeat_of)
            if earlier is not None and earlier.predictions_sha256 != sha:
                earlier = None  # only identical predictions show the earlier answer's numbers
            for k in _SHOWN:
                shown[k] = math.nan if earlier is None else earlier.metrics.get(k, math.nan)
        shown["n"] = float(len(probs))
        return shown

    def _response(self, entry: LedgerEntry, *, charged: bool, pool_used: int) -> ScoreResponse:
        return ScoreResponse(
            record=entry.record,
            hard=entry.hard,
            charged=charged,
            account_used=self.store.account_used(entry.account),
            pool_answers_left=max(self.policy.pool_answers - pool_used, 0),
        )

    def pool_status(self, task: str) -> PoolStatus:
        """What a task pool has revealed so far."""
        with self.store.locked():
            pool = self.store.pool(task)
            submissions, used = len(pool.entries), pool.used
        return PoolStatus(
            task=task,
            submissions=submissions,
            answers_used=used,
            answers_total=self.policy.pool_answers,
        )

    def account_used(self, account: str) -> int:
        with self.store.locked():
            return self.store.account_used(account)

    def charged(self, account: str) -> set[str]:
        """Ids of the records an account paid for (e.g. to tell an old log's own records)."""
        with self.store.locked():
            return self.store.charged(account)


def _pgr(student: float, weak: float, ceiling: float) -> float:
    gap = ceiling - weak
    if not math.isfinite(student) or gap == 0:
        return math.nan
    return round((student - weak) / gap, 10)


def _record_fields(request: ScoreRequest, task: str, sha: str, used: int) -> dict[str, Any]:
    """What every record says about where its predictions came from (its metrics aside)."""
    return {
        "id": uuid.uuid4().hex,
        "task": task,
        "seed": request.seed,
        "split": request.split,
        "method": request.method,
        "code_sha256": request.code_sha256,
        "git_commit": request.git_commit,
        "timestamp": datetime.now(UTC),
        "predictions_sha256": sha,
        "budget_used": used,
        "budget_total": request.budget if request.budget is not None else 0,
    }


REPEAT_FLAG = "repeat"
"""The kind of flag on a test submission whose probabilities are byte-identical to an earlier
entry's of the same (task, seed, split): an honest re-run (a later session's baselines, the
same method again), which reveals nothing new, so it is never a probe flag."""


def is_repeat_flag(flag: str) -> bool:
    """A `repeat` flag (identical predictions scored before), which is never a probe flag."""
    return flag.startswith(f"{REPEAT_FLAG}:")


def _closeness_flag(decision: Decision, same: SeedIndex, sha: str, radius_min: int) -> str | None:
    """The flag of a submission the ladder answered as a repeat of a close earlier one.

    Training is deterministic and the ledger installation-wide, so every later session's
    baselines resubmit the very predictions an earlier session scored: those get the calm
    `repeat` kind (same predictions, nothing new revealed). Only a submission that differs
    from the earlier one (`duplicate`: same hardened labels, other probabilities;
    `near_duplicate`: a few rows) keeps the label-probing signature reports flag. The flag
    never changes the answer, its numbers or what it is charged.
    """
    if decision.repeat_of in (None, NAIVE) or decision.distance is None:
        return None
    if decision.distance > radius_min:
        return None
    if decision.distance == 0:
        twin = _identical_record(same, decision.repeat_of, sha)
        if twin is not None:
            return (
                f"{REPEAT_FLAG}: predictions identical to record {twin} (an earlier evaluation "
                "of the same predictions; it reveals nothing new)"
            )
    kind = "duplicate" if decision.distance == 0 else "near_duplicate"
    return (
        f"{kind}: {decision.distance} hardened predictions differ from record {decision.repeat_of}"
    )


def _identical_record(same: SeedIndex, nearest: str | None, sha: str) -> str | None:
    """The earlier test entry of this (task, seed) with these very predictions: the repeated
    record when it has them, else the first in ledger order (None: no entry has them)."""
    record = None if nearest is None else same.records.get(nearest)
    if record is not None and record.predictions_sha256 == sha:
        return record.id
    return next((r.id for r in same.records.values() if r.predictions_sha256 == sha), None)


def _gap_flags(exact: dict[str, float], min_gap: float) -> list[str]:
    gap = exact["ceiling_acc"] - exact["weak_acc"]
    if not gap >= min_gap:
        return [f"small_gap: ceiling - weak accuracy {gap:.3f} < {min_gap}"]
    return []


def shown_metrics(
    record: EvalRecord, exact: dict[str, float], naive_acc: float | None = None
) -> dict[str, float]:
    """What a test answer of the scorer shows, given the exact metrics of its predictions:
    floors of the exact values (PGR from the floors), NaN where the answer shows none. A
    replay checks a logged answer against it (the answer's kind depends on the ledger's
    history, its numbers only on the predictions)."""
    step = record.rounding or 0.01
    policy = Policy(step=step)
    out = {
        k: policy.floor(exact[k])
        for k in ("weak_acc", "ceiling_acc", "weak_auroc", "ceiling_auroc")
    }
    for k in ("acc", "auroc"):
        shown = record.metrics.get(k, math.nan)
        out[k] = policy.floor(exact[k]) if math.isfinite(shown) else math.nan
    out["pgr_acc"] = _pgr(out["acc"], out["weak_acc"], out["ceiling_acc"])
    out["pgr_auroc"] = _pgr(out["auroc"], out["weak_auroc"], out["ceiling_auroc"])
    out["n"] = record.metrics.get("n", math.nan)
    if naive_acc is not None and "naive_acc" in record.metrics:
        out["naive_acc"] = policy.floor(naive_acc)
    return out
