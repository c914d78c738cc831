"""The scorer's answers do not depend on how its ledger is indexed.

A fixed sequence of a few hundred submissions (fresh ones, exact resubmissions, near
duplicates, the harness's naive predictions, request-id replays, invalid predictions, test and
holdout, two seeds, four accounts with budgets, a team total) goes through two `Scorer`s on one
ledger, as two processes would, one of them behind a service's `TeamLedgerStore`. The same
sequence goes through `_Reference`, the scorer as it was before its ledger was indexed (commit
b575bc6, and the team total of c820a56^): every decision a scan over plain lists of every
earlier entry and charge. Both run live on the same evaluators (the same trained naive, weak and
ceiling students on whatever machine runs the test), so any answer, budget count or pool count
that the indexed ledger changed fails here, while students that train a little differently on
another machine change both sides alike.
"""

from __future__ import annotations

import base64
import math
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pytest

from aar.bench import (
    BudgetExceededError,
    EvalRecord,
    Evaluator,
    InvalidPredictionsError,
    predictions_sha256,
)
from aar.scorer import Policy, Prior, Scorer, ScoreRequest, ScoreResponse, TeamBudget, decide
from aar.scorer._mechanism import Decision, decide_on
from aar.scorer._store import LedgerEntry, PoolIndex, SeedIndex
from aar.scorer._team import TeamLedgerStore
from aar.scorer.attacks import split_targets

pytestmark = pytest.mark.slow

TASK = "breast-cancer"  # 86 test rows: small enough that two rows are a ladder step
SEEDS = (42, 43)
# eta = 0.01 (one row), radius 2, 8 informative answers per pool (the sequence earns 13 with
# this machine's students: a margin for students that train a little differently elsewhere),
# so every answer kind occurs
POLICY = Policy(ladder_step=0.01, ladder_scale=0.0, radius_min=2, pool_answers=8)
ACCOUNTS = {"a": None, "b": 40, "c": 1000, "team-x": 1000}
TEAM_TOTAL = 90
_HEX_ID = re.compile(r"\b[0-9a-f]{32}\b")


def _soft(hard: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Probabilities whose argmax is `hard`, with random confidences (so equal hardened
    predictions can still be different submissions)."""
    conf = rng.uniform(0.55, 0.99, size=len(hard))
    probs = np.empty((len(hard), 2))
    probs[np.arange(len(hard)), hard] = conf
    probs[np.arange(len(hard)), 1 - hard] = 1 - conf
    return probs


def _fresh(truth: np.ndarray, rng: np.random.Generator, i: int) -> np.ndarray:
    """Fewer wrong rows as the sequence goes on, so the ladder climbs all the way."""
    hard = truth.copy()
    level = max(0, 12 - i // 16)
    wrong = rng.choice(len(hard), size=int(rng.integers(level, level + 4)), replace=False)
    hard[wrong] = 1 - hard[wrong]
    return _soft(hard, rng)


def _near(probs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    out = probs.copy()
    rows = rng.choice(len(out), size=int(rng.integers(1, 5)), replace=False)
    out[rows] = out[rows, ::-1]
    return out


def _right(probs: np.ndarray, truth: np.ndarray) -> int:
    return int(np.count_nonzero(probs.argmax(axis=1) == truth))


def _mend(probs: np.ndarray, truth: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A near duplicate with one or two wrong rows set right: a repeat, never shown, more
    accurate than what it repeats (of the best so far: a ladder whose best counted it
    would be too high)."""
    out = probs.copy()
    wrong = np.flatnonzero(out.argmax(axis=1) != truth)
    rows = rng.choice(wrong, size=min(len(wrong), int(rng.integers(1, 3))), replace=False)
    out[rows] = out[rows, ::-1]
    return out


def _sequence(scorer: Scorer) -> list[tuple[int, ScoreRequest | None]]:
    """(which scorer, request) pairs; None: an invalid submission (wrong row count)."""
    rng = np.random.default_rng(21)
    truth = {(s, sp): split_targets(TASK, s)[sp].truth for s in SEEDS for sp in ("test", "holdout")}
    naive = {s: scorer.evaluator(TASK, s).reference_probs("test") for s in SEEDS}
    earlier: dict[int, list[np.ndarray]] = {s: [] for s in SEEDS}
    sent: list[ScoreRequest] = []
    out: list[tuple[int, ScoreRequest | None]] = []
    for i in range(320):
        seed, kind = SEEDS[int(rng.integers(2))], rng.random()
        split: Literal["test", "holdout"] = "test"
        if kind < 0.08 and sent:  # a request id replayed, by its account or another
            old = sent[int(rng.integers(len(sent)))]
            other = rng.random() < 0.3
            account = "c" if other else old.account
            out.append((int(rng.integers(2)), old.model_copy(update={"account": account})))
            continue
        if kind < 0.10:
            out.append((int(rng.integers(2)), None))
            continue
        if kind < 0.20:
            split, probs = "holdout", _fresh(truth[seed, "holdout"], rng, i)
        elif kind < 0.33 and earlier[seed]:
            probs = earlier[seed][int(rng.integers(len(earlier[seed])))]
        elif kind < 0.42 and earlier[seed]:
            probs = _near(earlier[seed][int(rng.integers(len(earlier[seed])))], rng)
        elif kind < 0.50 and earlier[seed]:  # the best so far, mended
            probs = _mend(
                max(earlier[seed], key=lambda p: _right(p, truth[seed, "test"])),
                truth[seed, "test"],
                rng,
            )
        elif kind < 0.55:
            probs = naive[seed] if rng.random() < 0.5 else _near(naive[seed], rng)
        else:
            probs = _fresh(truth[seed, "test"], rng, i)
        if split == "test":
            earlier[seed].append(probs)
        account = list(ACCOUNTS)[int(rng.integers(len(ACCOUNTS)))]
        request = ScoreRequest(
            task=TASK,
            seed=seed,
            split=split,
            method=f"m{i}",
            code_sha256="x",
            account=account,
            budget=ACCOUNTS[account],
            request_id=f"r{i}" if rng.random() < 0.4 else None,
            probs=probs.tolist(),
        )
        sent += [request] if request.request_id else []
        out.append((int(rng.integers(2)), request))
    return out


def _plain(value: Any, ids: dict[str, int]) -> Any:
    """Comparable: floats as repr (NaN equals NaN), record ids as submission numbers."""
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, str):
        return _HEX_ID.sub(lambda m: f"#{ids.get(m.group(0), -1)}", value)
    if isinstance(value, dict):
        return {k: _plain(v, ids) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v, ids) for v in value]
    return value


def _answer(response: ScoreResponse, ids: dict[str, int], i: int) -> dict[str, Any]:
    """An answer with its record named by the submission that created it (either side makes
    its own record ids)."""
    record = response.record
    ids.setdefault(record.id, i)
    out = response.model_dump(mode="python", exclude={"record": {"id", "timestamp"}})
    out["record_of"] = ids[record.id]
    return _plain(out, ids)


def _outcome(
    score: Callable[[ScoreRequest], ScoreResponse],
    request: ScoreRequest,
    ids: dict[str, int],
    i: int,
) -> dict[str, Any]:
    """The answer to one submission, or the refusal (its kind and message)."""
    try:
        return _answer(score(request), ids, i)
    except (BudgetExceededError, InvalidPredictionsError) as exc:
        return {"error": type(exc).__name__, "message": _plain(str(exc), ids)}


# ---------------------------------------------------------------- the unindexed scorer

NAIVE = "harness-naive"


@dataclass
class _Entry:
    """A ledger line as the unindexed scorer read it back."""

    record: EvalRecord
    account: str
    request_id: str | None
    hard: np.ndarray
    exact_acc: float
    informative: bool


def _scan_decide(
    policy: Policy,
    priors: list[Prior],
    pool_used: int,
    exact_acc: float,
    hard: np.ndarray,
    reference: float,
) -> Decision:
    """`decide` as it was before the index (b575bc6): a scan of every prior, the first
    nearest one wins a tie."""
    n = len(hard)
    nearest: tuple[int, Prior] | None = None
    for prior in priors:
        if len(prior.hard) == n:
            d = int((prior.hard != hard).sum())
            if nearest is None or d < nearest[0]:
                nearest = (d, prior)
    if nearest is not None and nearest[0] <= policy.radius(n):
        return Decision("repeat", False, repeat_of=nearest[1].record_id, distance=nearest[0])
    if pool_used >= policy.pool_answers:
        return Decision("exhausted", False)
    shown = [p.exact_acc for p in priors if p.informative]
    step, eta = policy.step, policy.eta(n)
    if not shown and not policy.from_reference:
        return Decision("improved", True)
    best = max([reference, *shown]) if policy.from_reference else max(shown)
    if exact_acc < best + eta - 1e-12:
        return Decision(
            "not_better", False, threshold_acc=policy.ceil(policy.floor(best) + step + eta)
        )
    return Decision("improved", True, threshold_acc=policy.ceil(policy.floor(best) + eta))


def _pgr(student: float, weak: float, ceiling: float) -> float:
    gap = ceiling - weak
    if not math.isfinite(student) or gap == 0:
        return math.nan
    return round((student - weak) / gap, 10)


class _Reference:
    """The scorer as it was before its ledger was indexed (b575bc6; the team's total as in
    c820a56^), on plain lists: every request scans every entry and every charge. It shares the
    real scorer's evaluators, so only the bookkeeping and the decision are its own."""

    def __init__(
        self, policy: Policy, evaluator: Callable[[str, int], Evaluator], team_total: int
    ) -> None:
        self.policy, self.evaluator, self.team_total = policy, evaluator, team_total
        self.entries: list[_Entry] = []
        self.charges: list[tuple[str, str]] = []
        """(account, record id) in ledger order."""
        self.members: set[str] = set()
        """Accounts charged for a test submission through the team's store."""

    def account_used(self, account: str) -> int:
        return sum(1 for a, _ in self.charges if a == account)

    def charged(self, account: str) -> set[str]:
        return {r for a, r in self.charges if a == account}

    def team_used(self) -> int:
        test = {e.record.id for e in self.entries if e.record.split == "test"}
        return sum(1 for a, r in self.charges if a in self.members and r in test)

    def pool(self, task: str) -> list[_Entry]:
        return [e for e in self.entries if e.record.task == task]

    def score(self, request: ScoreRequest, *, team: bool) -> ScoreResponse:
        """`Scorer.score`; `team`: through the service's `TeamLedgerStore`."""
        ev = self.evaluator(request.task, request.seed)
        probs = ev.load(np.asarray(request.probs, dtype=np.float64), request.split)
        for e in self.pool(ev.task.name):
            same_request = (e.request_id, e.account) == (request.request_id, request.account)
            if request.request_id is not None and same_request:
                return self._response(e, charged=False)
        used = self.account_used(request.account)
        if request.budget is not None and used >= request.budget:
            raise BudgetExceededError(
                f"evaluation budget of {request.budget} scored submissions used up "
                f"(account {request.account})"
            )
        charge = request.budget is not None
        exact = ev.exact_metrics(probs, request.split, with_auroc=request.split == "holdout")
        record, informative = self._record(request, ev, exact, probs, used + charge)
        hard = probs.argmax(axis=1).astype(np.uint8)
        entry = _Entry(record, request.account, request.request_id, hard, exact["acc"], informative)
        if team and charge and request.split == "test":
            if self.team_used() >= self.team_total:
                raise BudgetExceededError(
                    f"the team's evaluation budget of {self.team_total} scored submissions is "
                    "used up"
                )
            self.members.add(request.account)
        self.entries.append(entry)
        if charge:
            self.charges.append((request.account, record.id))
        return self._response(entry, charged=True)

    def _response(self, entry: _Entry, *, charged: bool) -> ScoreResponse:
        used = sum(e.informative for e in self.pool(entry.record.task))
        return ScoreResponse(
            record=entry.record,
            hard=base64.b64encode(entry.hard.tobytes()).decode(),
            charged=charged,
            account_used=self.account_used(entry.account),
            pool_answers_left=max(self.policy.pool_answers - used, 0),
        )

    def _record(
        self,
        request: ScoreRequest,
        ev: Evaluator,
        exact: dict[str, float],
        probs: np.ndarray,
        used: int,
    ) -> tuple[EvalRecord, bool]:
        hard, sha = probs.argmax(axis=1).astype(np.uint8), predictions_sha256(probs)
        gap = exact["ceiling_acc"] - exact["weak_acc"]
        flags = (
            []
            if gap >= ev.min_gap
            else [f"small_gap: ceiling - weak accuracy {gap:.3f} < {ev.min_gap}"]
        )
        base: dict[str, Any] = dict(
            id=uuid.uuid4().hex, task=ev.task.name, seed=request.seed, split=request.split,
            method=request.method, code_sha256=request.code_sha256, git_commit=request.git_commit,
            timestamp=datetime.now(UTC), predictions_sha256=sha, budget_used=used,
            budget_total=request.budget or 0, flags=flags,
        )  # fmt: skip
        if request.split == "holdout":
            metrics = {**exact, "n": float(len(hard))}
            return EvalRecord(**base, metrics=metrics, rounded=False), False
        pool = self.pool(ev.task.name)
        same = [e for e in pool if e.record.seed == request.seed and e.record.split == "test"]
        priors = [Prior(e.record.id, e.hard, e.exact_acc, e.informative) for e in same]
        reference = ev.reference_acc("test")
        if self.policy.from_reference:
            naive = ev.reference_probs("test").argmax(axis=1).astype(np.uint8)
            priors.insert(0, Prior(NAIVE, naive, reference, False))
        used_pool = sum(e.informative for e in pool)
        d = _scan_decide(self.policy, priors, used_pool, exact["acc"], hard, reference)
        small = d.distance is not None and d.distance <= self.policy.radius_min
        twins = [e.record.id for e in same if e.record.predictions_sha256 == sha]
        twins.sort(key=lambda rid: rid != d.repeat_of)  # the repeated record first, if a twin
        if d.repeat_of not in (None, NAIVE) and small and d.distance == 0 and twins:
            base["flags"] = [
                f"repeat: predictions identical to record {twins[0]} (an earlier evaluation of "
                "the same predictions; it reveals nothing new)",
                *flags,
            ]
        elif d.repeat_of not in (None, NAIVE) and small:
            kind = "duplicate" if d.distance == 0 else "near_duplicate"
            base["flags"] = [
                f"{kind}: {d.distance} hardened predictions differ from record {d.repeat_of}",
                *flags,
            ]
        metrics = self._shown(ev, exact, d, same, probs)
        metrics["naive_acc"] = self.policy.floor(reference)
        record = EvalRecord(
            **base, metrics=metrics, rounded=True, rounding=self.policy.step, answer=d.answer,
            threshold_acc=d.threshold_acc, repeat_of=d.repeat_of,
        )  # fmt: skip
        return record, d.informative

    def _shown(
        self,
        ev: Evaluator,
        exact: dict[str, float],
        d: Decision,
        same: list[_Entry],
        probs: np.ndarray,
    ) -> dict[str, float]:
        f, sha = self.policy.floor, predictions_sha256(probs)
        shown = {k: f(exact[k]) for k in ("weak_acc", "ceiling_acc", "weak_auroc", "ceiling_auroc")}
        naive_sha = predictions_sha256(ev.load(ev.reference_probs("test"), "test"))
        if d.answer == "improved" or (d.repeat_of == NAIVE and sha == naive_sha):
            shown["acc"], shown["auroc"] = f(exact["acc"]), f(ev.exact_auroc(probs, "test"))
            for k in ("acc", "auroc"):
                shown[f"pgr_{k}"] = _pgr(shown[k], shown[f"weak_{k}"], shown[f"ceiling_{k}"])
        else:
            earlier = next((e.record for e in same if e.record.id == d.repeat_of), None)
            if earlier is not None and earlier.predictions_sha256 != sha:
                earlier = None
            for k in ("acc", "auroc", "pgr_acc", "pgr_auroc"):
                shown[k] = math.nan if earlier is None else earlier.metrics.get(k, math.nan)
        shown["n"] = float(len(probs))
        return shown


# ---------------------------------------------------------------- the run


def _summary(scorer: Scorer | _Reference, team_used: int, ids: dict[str, int]) -> dict[str, Any]:
    """What the ledger holds once the sequence is through."""
    if isinstance(scorer, Scorer):
        status = scorer.pool_status(TASK)
        pool = [status.submissions, status.answers_used]
    else:
        entries = scorer.pool(TASK)
        pool = [len(entries), sum(e.informative for e in entries)]
    return {
        "pool": pool,
        "team": team_used,
        "used": {a: scorer.account_used(a) for a in ACCOUNTS},
        "charged": {a: sorted(ids.get(r, -1) for r in scorer.charged(a)) for a in ACCOUNTS},
    }


def _run(ledger: Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]], int]:
    """The indexed scorers' answers, the reference's, and how many submissions were invalid."""
    evaluators: dict[tuple[str, int], Evaluator] = {}
    one = Scorer(ledger, policy=POLICY, fsync=False, evaluators=evaluators)
    two = Scorer(ledger, policy=POLICY, fsync=False, evaluators=evaluators)  # "another process"
    two.store = team = TeamLedgerStore(two.store, TeamBudget(total_evals=TEAM_TOTAL, team="x"))
    reference = _Reference(POLICY, one.evaluator, TEAM_TOTAL)
    bad = ScoreRequest(
        task=TASK, seed=42, method="bad", code_sha256="x", account="a", probs=[[0.5, 0.5]] * 3
    )
    got_ids: dict[str, int] = {}
    want_ids: dict[str, int] = {}
    got, want = [], []
    sequence = _sequence(one)
    for i, (which, request) in enumerate(sequence):
        sent = bad if request is None else request
        got.append(_outcome((one, two)[which].score, sent, got_ids, i))
        want.append(_outcome(partial(reference.score, team=which == 1), sent, want_ids, i))
    with team.locked():
        team_used = team.team_used()
    got.append(_summary(one, team_used, got_ids))
    want.append(_summary(reference, reference.team_used(), want_ids))
    return got, want, sum(request is None for _, request in sequence)


def test_every_answer_is_the_one_the_unindexed_ledger_gives(tmp_path: Path) -> None:
    got, want, invalid = _run(tmp_path / "ledger")
    kinds = {a["record"]["answer"] for a in want if "record" in a}
    assert kinds >= {"improved", "not_better", "repeat", "exhausted", None}  # the mix is real
    refused = [a["message"] for a in want if a.get("error") == "BudgetExceededError"]
    assert any("(account b)" in m for m in refused) and any("team's" in m for m in refused)
    assert sum(a.get("error") == "InvalidPredictionsError" for a in want) == invalid > 0
    assert any(a.get("charged") is False for a in want)  # a replay
    flags = [f for a in want if "record" in a for f in a["record"]["flags"]]
    assert any(f.startswith("near_duplicate") for f in flags)
    assert any(f.startswith("duplicate") for f in flags)
    assert any(f.startswith("repeat: predictions identical") for f in flags)
    assert len(got) == len(want)
    for i, (g, w) in enumerate(zip(got, want, strict=True)):
        assert g == w, f"answer {i} differs"


@pytest.mark.parametrize(
    "policy", [POLICY, Policy(), Policy.classic_ladder(), Policy(radius_min=0, pool_answers=3)]
)
def test_the_indexed_decision_is_the_scan_over_every_prior(policy: Policy) -> None:
    """The pool's index (one matrix per seed, a running best) decides as the scan over the
    list of every earlier prior did before the index (and as `decide` does), ties and rows of
    another length included."""
    rng = np.random.default_rng(5)
    base = rng.integers(0, 2, size=40).astype(np.uint8)
    pool, priors = PoolIndex(), list[Prior]()
    for i in range(300):
        n = 40 if rng.random() < 0.9 else 39  # a few priors of another length never count
        hard = base[:n].copy()
        flips = rng.choice(n, size=int(rng.integers(0, 8)), replace=False)
        hard[flips] ^= 1
        acc = float(rng.integers(20, 41)) / 40
        used = pool.used
        if n == 40:
            want = _scan_decide(policy, priors, used, acc, hard, reference=0.7)
            assert decide(policy, priors, used, acc, hard, reference=0.7) == want
            same = pool.seeds.get(1, SeedIndex())
            got = decide_on(policy, same.nearest(hard), same.best_shown, used, acc, 40, 0.7)
            assert got == want, f"decision {i}"
        informative = bool(rng.random() < 0.2)
        record = EvalRecord(
            id=uuid.uuid4().hex, task="t", seed=1, split="test", method="m", code_sha256="x",
            timestamp=datetime.now(UTC), rounded=True, predictions_sha256="p", budget_used=0,
            budget_total=0, metrics={},
        )  # fmt: skip
        pool.add(
            LedgerEntry(
                record=record, account="a", hard=base64.b64encode(hard.tobytes()).decode(),
                exact_acc=acc, informative=informative,
            )
        )  # fmt: skip
        priors.append(Prior(record.id, hard, acc, informative))
