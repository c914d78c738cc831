"""The installation's scorer on a real task: what an answer shows, what it costs, and that
concurrent processes never overshoot an account's budget or a task pool's answers."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from aar.bench import BudgetExceededError, InvalidPredictionsError
from aar.scorer import Policy, Scorer, ScoreRequest
from aar.scorer.attacks import split_targets

TASK = "breast-cancer"  # the smallest built-in task: 86 test rows
WIDE = "synthetic-gap-large"  # 600 test rows, naive about 0.82: perfect predictions are shown


@pytest.fixture(scope="module")
def honest() -> dict[str, np.ndarray]:
    return split_targets(TASK, 42)["test"].honest


def _request(probs: np.ndarray, **kw: object) -> ScoreRequest:
    fields = {"task": TASK, "seed": 42, "method": "m", "code_sha256": "x", "account": "a"}
    return ScoreRequest(**(fields | kw), probs=probs.tolist())


def _perfect(seed: int = 42, wrong: int = 0, task: str = TASK) -> np.ndarray:
    """Ground truth as predictions, `wrong` rows off: what a label-reading cheat submits."""
    truth = split_targets(task, seed)["test"].truth
    probs = np.eye(2)[truth]
    probs[:wrong] = probs[:wrong, ::-1]
    return probs


def test_naive_is_shown_in_every_answer_and_an_improvement_is_floored(
    tmp_path: Path, honest: dict[str, np.ndarray]
) -> None:
    scorer = Scorer(tmp_path)
    target = split_targets(TASK, 42)["test"]
    naive = scorer.score(_request(honest["naive"])).record
    exact_naive = target.accuracy(honest["naive"])
    assert naive.answer == "repeat" and naive.repeat_of == "harness-naive"  # the harness's
    assert naive.metrics["naive_acc"] == math.floor(exact_naive * 100) / 100
    best = scorer.score(_request(_perfect(wrong=1), method="cheat")).record
    m = best.metrics
    assert best.answer == "improved" and best.rounded
    assert m["acc"] == math.floor((1 - 1 / 86) * 100) / 100 <= 1 - 1 / 86
    assert m["pgr_acc"] == pytest.approx(
        (m["acc"] - m["weak_acc"]) / (m["ceiling_acc"] - m["weak_acc"])
    )
    logconf = scorer.score(_request(honest["logconf"], method="logconf")).record
    assert logconf.answer in ("repeat", "not_better") and math.isnan(logconf.metrics["acc"])
    # an identical resubmission repeats the answer with its numbers; a small change, without
    again = scorer.score(_request(_perfect(wrong=1), method="again")).record
    assert again.answer == "repeat" and again.metrics["acc"] == m["acc"]
    flip = scorer.score(_request(_perfect(wrong=0), method="flip")).record
    assert flip.answer == "repeat" and flip.repeat_of == best.id
    assert math.isnan(flip.metrics["acc"]) and math.isnan(flip.metrics["pgr_acc"])
    assert any(f.startswith("near_duplicate: 1 ") for f in flip.flags)


def test_a_request_id_is_answered_once_and_charged_once(
    tmp_path: Path, honest: dict[str, np.ndarray]
) -> None:
    scorer = Scorer(tmp_path)
    first = scorer.score(_request(honest["naive"], budget=5, request_id="r-1"))
    second = scorer.score(_request(honest["naive"], budget=5, request_id="r-1"))
    assert first.charged and not second.charged
    assert second.record.id == first.record.id and scorer.account_used("a") == 1


def test_an_account_budget_is_enforced_and_bad_input_costs_nothing(
    tmp_path: Path, honest: dict[str, np.ndarray]
) -> None:
    scorer = Scorer(tmp_path)
    with pytest.raises(InvalidPredictionsError):
        scorer.score(_request(honest["naive"][:-1], budget=2))
    scorer.score(_request(honest["naive"], budget=2))
    scorer.score(_request(honest["logconf"], budget=2))
    with pytest.raises(BudgetExceededError, match="budget of 2"):
        scorer.score(_request(honest["naive"], budget=2))
    assert scorer.account_used("a") == 2
    assert scorer.score(_request(honest["naive"], account="b", budget=2)).charged


def test_the_pool_budget_spans_seeds_and_accounts(tmp_path: Path) -> None:
    """Every seed splits the same pool, so the informative answers are counted per task."""
    policy = Policy(pool_answers=2)
    scorer = Scorer(tmp_path, policy=policy)
    answers = []
    for i, seed in enumerate((42, 43, 44)):
        req = _request(_perfect(seed, task=WIDE), task=WIDE, seed=seed, account=f"acct-{i}")
        answers.append(scorer.score(req).record.answer)
    assert answers == ["improved", "improved", "exhausted"]
    status = scorer.pool_status(WIDE)
    assert status.answers_used == 2 and status.submissions == 3


def test_holdout_is_exact_and_recorded(tmp_path: Path) -> None:
    scorer = Scorer(tmp_path)
    target = split_targets(TASK, 42)["holdout"]
    record = scorer.score(_request(target.honest["naive"], split="holdout")).record
    assert not record.rounded and record.answer is None
    assert record.metrics["acc"] == pytest.approx(target.accuracy(target.honest["naive"]))
    assert scorer.pool_status(TASK).submissions == 1


_WORKER = """
import json, sys
import numpy as np
from aar.bench import BudgetExceededError
from aar.scorer import Scorer, ScoreRequest
from aar.scorer.attacks import split_targets

seed, tries = int(sys.argv[1]), int(sys.argv[2])
perfect = np.eye(2)[split_targets("synthetic-gap-large", seed)["test"].truth]
scorer = Scorer()
scorer.evaluator("synthetic-gap-large", seed).reference_acc("test")  # train before the race
print("ready", flush=True)
sys.stdin.readline()
out = []
for i in range(tries):
    probs = perfect if i == 0 else np.roll(perfect, 11 * i, axis=0)
    req = ScoreRequest(task="synthetic-gap-large", seed=seed, method=f"w{i}", code_sha256="x",
                       account="shared", budget=6, probs=probs.tolist())
    try:
        out.append(scorer.score(req).record.answer)
    except BudgetExceededError:
        out.append("refused")
print(json.dumps(out), flush=True)
"""


@pytest.mark.slow
def test_concurrent_processes_never_overshoot(tmp_path: Path) -> None:
    """Four processes on four seeds race for one account (budget 6) and one task pool (2
    informative answers): exactly 6 scored, exactly 2 shown, whatever the interleaving."""
    env = os.environ | {
        "AAR_SCORER__DIR": str(tmp_path / "ledger"),
        "AAR_SCORER__POOL_ANSWERS": "2",
    }
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _WORKER, str(seed), "3"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        for seed in (42, 43, 44, 45)
    ]
    for p in procs:
        assert p.stdout is not None and p.stdout.readline().strip() == "ready"
    for p in procs:  # release them together
        assert p.stdin is not None
        p.stdin.write("go\n")
        p.stdin.flush()
    answers = []
    for p in procs:
        out, _ = p.communicate(timeout=120)
        assert p.returncode == 0
        answers += json.loads(out.strip().splitlines()[-1])
    assert len(answers) == 12
    assert sum(a != "refused" for a in answers) == 6
    assert answers.count("improved") == 2
    charges = (tmp_path / "ledger" / "accounts.jsonl").read_text().splitlines()[1:]
    assert len(charges) == 6


def test_the_harness_naive_submission_is_shown_and_starts_the_ladder(tmp_path: Path) -> None:
    """The naive predictions `aar bench run` and a session's baseline submit get their own
    (floored) numbers, which every answer implies anyway; a near copy of them gets none."""
    scorer = Scorer(tmp_path)
    ev = scorer.evaluator(TASK, 42)
    naive = ev.reference_probs("test")
    record = scorer.score(_request(naive)).record
    assert record.answer == "repeat" and record.repeat_of == "harness-naive"
    assert not any("duplicate" in f for f in record.flags)  # an honest baseline, no probe
    assert record.metrics["acc"] == record.metrics["naive_acc"]
    assert record.metrics["acc"] == math.floor(ev.reference_acc("test") * 100) / 100
    near = naive.copy()
    near[0] = near[0, ::-1]
    assert math.isnan(scorer.score(_request(near, method="near")).record.metrics["acc"])
    assert scorer.pool_status(TASK).answers_used == 0


def test_the_sandbox_always_hides_the_ledger(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The ledger holds every submission's exact accuracy: wherever it is configured, the
    kernel's view masks it like the installation's keys (fail closed)."""
    from aar.config import get_settings
    from aar.sandbox._pyenv import _host_secrets

    monkeypatch.setenv("AAR_SCORER__DIR", str(tmp_path / "ledger"))
    get_settings.cache_clear()
    try:
        hidden = [rule.path for rule in _host_secrets()]
    finally:
        get_settings.cache_clear()
    assert str((tmp_path / "ledger").resolve()) in hidden
