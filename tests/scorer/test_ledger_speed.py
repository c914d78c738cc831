"""The scorer's answers do not depend on how its ledger is indexed.

A fixed sequence of a few hundred submissions (fresh ones, exact resubmissions, near
duplicates, the harness's naive predictions, request-id replays, invalid predictions, test and
holdout, two seeds, four accounts with budgets, a team total) goes through two `Scorer`s on one
ledger, as two processes would, one of them behind a service's `TeamLedgerStore`. Every answer
is compared with `ledger_speed_expected.jsonl`, which the scorer wrote before its ledger was
indexed (a per-request scan of every entry), so a faster ledger that changed any answer, any
budget count or any pool count fails here. Regenerate only on a deliberate change of the
mechanism: `AAR_REGEN_LEDGER_SPEED=1 pytest tests/scorer/test_ledger_speed.py`.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pytest

from aar.bench import BudgetExceededError, EvalRecord, InvalidPredictionsError
from aar.scorer import Policy, Prior, Scorer, ScoreRequest, ScoreResponse, TeamBudget, decide
from aar.scorer._mechanism import decide_on
from aar.scorer._store import LedgerEntry, PoolIndex, SeedIndex
from aar.scorer._team import TeamLedgerStore
from aar.scorer.attacks import split_targets

pytestmark = pytest.mark.slow

TASK = "breast-cancer"  # 86 test rows: small enough that two rows are a ladder step
SEEDS = (42, 43)
EXPECTED = Path(__file__).with_name("ledger_speed_expected.jsonl")
# eta = 0.01 (one row), radius 2, 10 informative answers per pool: every answer kind occurs
POLICY = Policy(ladder_step=0.01, ladder_scale=0.0, radius_min=2, pool_answers=10)
ACCOUNTS = {"a": None, "b": 40, "c": 1000, "team-x": 1000}
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
    level = max(0, 13 - i // 24)
    wrong = rng.choice(len(hard), size=int(rng.integers(level, level + 4)), replace=False)
    hard[wrong] = 1 - hard[wrong]
    return _soft(hard, rng)


def _near(probs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    out = probs.copy()
    rows = rng.choice(len(out), size=int(rng.integers(1, 5)), replace=False)
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
        elif kind < 0.50 and earlier[seed]:
            probs = _near(earlier[seed][int(rng.integers(len(earlier[seed])))], rng)
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
    """JSON-comparable: floats as repr (NaN equals NaN), record ids as submission numbers."""
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
    record = response.record
    ids.setdefault(record.id, i)
    out = response.model_dump(mode="python", exclude={"record": {"id", "timestamp"}})
    out["record_of"] = ids[record.id]
    out["hard"] = hashlib.sha256(response.hard.encode()).hexdigest()[:16]  # a short file
    out["record"]["predictions_sha256"] = record.predictions_sha256[:16]
    return _plain(out, ids)


def _run(ledger: Path) -> list[dict[str, Any]]:
    evaluators: dict[tuple[str, int], Any] = {}
    one = Scorer(ledger, policy=POLICY, fsync=False, evaluators=evaluators)
    two = Scorer(ledger, policy=POLICY, fsync=False, evaluators=evaluators)  # "another process"
    two.store = team = TeamLedgerStore(two.store, TeamBudget(total_evals=90, team="x"))
    ids: dict[str, int] = {}
    answers = []
    for i, (which, request) in enumerate(_sequence(one)):
        scorer = (one, two)[which]
        try:
            if request is None:
                bad = ScoreRequest(
                    task=TASK, seed=42, method="bad", code_sha256="x", account="a",
                    probs=[[0.5, 0.5]] * 3,
                )  # fmt: skip
                scorer.score(bad)
            else:
                answers.append(_answer(scorer.score(request), ids, i))
                continue
        except (BudgetExceededError, InvalidPredictionsError) as exc:
            answers.append({"error": type(exc).__name__, "message": _plain(str(exc), ids)})
            continue
        raise AssertionError("an invalid submission was scored")
    status = one.pool_status(TASK)
    with team.locked():
        team_used = team.team_used()
    answers.append({"pool": [status.submissions, status.answers_used], "team": team_used})
    answers.append({"used": {a: one.account_used(a) for a in ACCOUNTS}})
    answers.append({"charged": {a: sorted(ids[r] for r in one.charged(a)) for a in ACCOUNTS}})
    return answers


def test_every_answer_is_the_one_the_unindexed_ledger_gave(tmp_path: Path) -> None:
    answers = _run(tmp_path / "ledger")
    if os.environ.get("AAR_REGEN_LEDGER_SPEED"):
        EXPECTED.write_text("".join(json.dumps(a, sort_keys=True) + "\n" for a in answers))
    expected = [json.loads(line) for line in EXPECTED.read_text().splitlines()]
    kinds = {a["record"]["answer"] for a in expected if "record" in a}
    assert kinds >= {"improved", "not_better", "repeat", "exhausted", None}  # the mix is real
    assert any(a.get("error") == "BudgetExceededError" for a in expected)
    assert any(a.get("charged") is False for a in expected)
    assert len(answers) == len(expected)
    for i, (got, want) in enumerate(zip(answers, expected, strict=True)):
        assert json.loads(json.dumps(got, sort_keys=True)) == want, f"answer {i} differs"


@pytest.mark.parametrize(
    "policy", [POLICY, Policy(), Policy.classic_ladder(), Policy(radius_min=0, pool_answers=3)]
)
def test_the_indexed_decision_is_the_scan_over_every_prior(policy: Policy) -> None:
    """The pool's index (one matrix per seed, a running best) decides as `decide` does over
    the list of every earlier prior, ties and rows of another length included."""
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
            want = decide(policy, priors, used, acc, hard, reference=0.7)
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
