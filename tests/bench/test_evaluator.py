"""The evaluator: formats, every invalid submission, budget, rounding, holdout, flags, log."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from aar.bench import (
    BudgetExceededError,
    EvalLog,
    Evaluator,
    HoldoutRefusedError,
    InvalidPredictionsError,
    setup_seed,
)
from aar.bench._runner import load_data


@pytest.fixture(scope="module")
def ev(tiny) -> Evaluator:
    return Evaluator(tiny, 42, budget=1000, device="cpu")


def _truth(task, split: str = "test") -> np.ndarray:
    """Ground truth in the exported order (the order submissions use)."""
    setup = setup_seed(task, load_data(task), 42)
    return setup.to_public(split, setup.labels(split))


def _weak_probs(ev: Evaluator, split: str = "test") -> np.ndarray:
    """The weak supervisor's soft labels in the exported order, as an experiment sees them."""
    return ev._setup.to_public(split, ev._setup.weak_probs[split])


def _weak(ev: Evaluator) -> np.ndarray:
    return _weak_probs(ev)[:, 1].astype(np.float64)


def test_scores_are_rounded_on_test_and_exact_on_holdout(ev: Evaluator) -> None:
    rec = ev.evaluate(_weak(ev), method="weak-copy", code_sha256="abc")
    assert rec.rounded and rec.split == "test"
    for name, value in rec.metrics.items():
        if name != "n":
            assert value == pytest.approx(round(value / 0.01) * 0.01, abs=1e-9), name
    assert rec.metrics["pgr_acc"] == pytest.approx(0.0)  # the weak model's own labels
    hold = _weak_probs(ev, "holdout")[:, 1]
    exact = ev.evaluate(hold, method="weak-copy", code_sha256="abc", split="holdout")
    y = _truth(ev.task, "holdout")
    assert not exact.rounded
    assert exact.metrics["acc"] == pytest.approx(((hold > 0.5) == y).mean())


def test_perfect_predictions_beat_the_ceiling(ev: Evaluator) -> None:
    rec = ev.evaluate(_truth(ev.task).astype(float), method="oracle", code_sha256="x")
    assert rec.metrics["acc"] == 1.0 and rec.metrics["pgr_acc"] > 1.0


def test_csv_json_and_npy_give_the_same_score(ev: Evaluator, tmp_path: Path) -> None:
    ids, p = ev.ids("test"), _weak(ev)
    order = np.random.default_rng(1).permutation(len(ids))  # any row order
    csv = tmp_path / "p.csv"
    csv.write_text("id,prob\n" + "".join(f"{ids[i]},{float(p[i])!r}\n" for i in order))
    js = tmp_path / "p.json"
    js.write_text(json.dumps({"ids": ids[order].tolist(), "probs": p[order].tolist()}))
    npy = tmp_path / "p.npy"
    np.save(npy, p)
    scores = [ev.evaluate(f, method="m", code_sha256="x").metrics for f in (csv, js, npy)]
    assert scores[0] == scores[1] == scores[2]


def test_multiclass_csv(tiny3, tmp_path: Path) -> None:
    ev3 = Evaluator(tiny3, 42, budget=10, device="cpu")
    ids, p = ev3.ids(), _weak_probs(ev3).astype(np.float64)
    f = tmp_path / "p.csv"
    f.write_text(
        "id,p0,p1,p2\n"
        + "".join(f"{i},{a},{b},{c}\n" for i, (a, b, c) in zip(ids, p.tolist(), strict=True))
    )
    rec = ev3.evaluate(f, method="m", code_sha256="x")
    assert rec.metrics["acc"] == pytest.approx(
        ev3.evaluate(p, method="m", code_sha256="x").metrics["acc"]
    )
    with pytest.raises(InvalidPredictionsError, match="sum to 1"):
        ev3.evaluate(p * 0.5, method="m", code_sha256="x")
    with pytest.raises(InvalidPredictionsError, match="shape"):
        ev3.evaluate(p[:, 1], method="m", code_sha256="x")


def _bad_files(ev: Evaluator, tmp: Path) -> dict[str, object]:
    ids, p = ev.ids(), _weak(ev)
    wrong_ids = ids.copy()
    wrong_ids[0] = 7
    (tmp / "garbage.npy").write_bytes(b"not a numpy file")
    (tmp / "header.csv").write_text("row,prob\n1,0.5\n")
    (tmp / "short.csv").write_text("id,prob\n" + "".join(f"{i},0.5\n" for i in ids[:-1]))
    (tmp / "ids.csv").write_text("id,prob\n" + "".join(f"{i},0.5\n" for i in wrong_ids))
    (tmp / "dup.json").write_text(
        json.dumps({"ids": [*ids[:-1].tolist(), int(ids[0])], "probs": p.tolist()})
    )
    (tmp / "keys.json").write_text(json.dumps({"predictions": p.tolist()}))
    (tmp / "text.json").write_text(json.dumps({"ids": ids.tolist(), "probs": ["high"] * len(ids)}))
    (tmp / "p.txt").write_text("0.5\n")
    np.save(tmp / "str.npy", np.array(["0.5"] * len(ids)))
    nan = p.copy()
    nan[3] = np.nan
    return {
        "wrong length": (p[:-1], "shape"),
        "NaN": (nan, "NaN"),
        "above one": (p + 1.0, r"outside \[0, 1\]"),
        "negative": (p - 1.0, r"outside \[0, 1\]"),
        "bool dtype": (p > 0.5, "dtype"),
        "object dtype": (np.array([0.5] * len(ids), dtype=object), "dtype"),
        "string npy": (tmp / "str.npy", "dtype"),
        "missing file": (tmp / "nope.npy", "does not exist"),
        "unreadable npy": (tmp / "garbage.npy", "not a .npy file"),
        "bad csv header": (tmp / "header.csv", "header"),
        "missing id": (tmp / "short.csv", "ids"),
        "wrong id": (tmp / "ids.csv", "missing"),
        "duplicate id": (tmp / "dup.json", "distinct"),
        "json keys": (tmp / "keys.json", "ids"),
        "json strings": (tmp / "text.json", "not a number"),
        "suffix": (tmp / "p.txt", ".npy, .csv or .json"),
        "binary rows": (np.stack([p, p], 1), "sum to 1"),
    }


def test_every_bad_submission_is_one_clear_error_and_costs_nothing(
    ev: Evaluator, tmp_path: Path
) -> None:
    used = ev.used
    for case, (pred, match) in _bad_files(ev, tmp_path).items():
        with pytest.raises(InvalidPredictionsError, match=match) as info:
            ev.evaluate(pred, method="m", code_sha256="x")
        assert "\n" not in str(info.value), case
    assert ev.used == used


def test_budget_is_enforced(tiny) -> None:
    ev = Evaluator(tiny, 42, budget=2, device="cpu")
    p = _weak_probs(ev)
    with pytest.raises(InvalidPredictionsError):
        ev.evaluate(p[:-1], method="m", code_sha256="x")  # invalid: not counted
    ev.evaluate(p, method="m", code_sha256="x")
    ev.evaluate(p, method="m", code_sha256="x")
    assert ev.remaining == 0
    with pytest.raises(BudgetExceededError, match="budget of 2"):
        ev.evaluate(p, method="m", code_sha256="x")


def test_session_refuses_holdout(tiny) -> None:
    ev = Evaluator(tiny, 42, session=True, device="cpu")
    with pytest.raises(HoldoutRefusedError):
        ev.evaluate(_weak_probs(ev, "holdout"), method="m", code_sha256="x", split="holdout")
    assert ev.used == 0


def test_near_duplicates_are_flagged_and_logged_across_instances(tiny, tmp_path: Path) -> None:
    log = tmp_path / "evals.jsonl"
    ev = Evaluator(tiny, 42, budget=5, log_path=log, device="cpu")
    p = _weak(ev)
    first = ev.evaluate(p, method="a", code_sha256="x", git_commit="c0ffee")
    assert not any("duplicate" in f for f in first.flags)
    probe = p.copy()
    probe[:3] = 1 - probe[:3]  # flip three predictions: label probing
    rec = ev.evaluate(probe, method="b", code_sha256="x")
    assert any(f.startswith("near_duplicate: 3 ") and first.id in f for f in rec.flags)
    far = p.copy()
    far[:60] = 1 - far[:60]
    assert not any("duplicate" in f for f in ev.evaluate(far, method="c", code_sha256="x").flags)
    # a resumed session (new evaluator, same log) keeps the budget count and the history
    again = Evaluator(tiny, 42, budget=5, log_path=log, device="cpu")
    assert again.used == 3
    assert any(
        f.startswith("duplicate: 0") for f in again.evaluate(p, method="d", code_sha256="x").flags
    )
    with pytest.raises(BudgetExceededError):
        again.evaluate(p, method="e", code_sha256="x")
        again.evaluate(p, method="e", code_sha256="x")
    records = EvalLog(log).records
    assert [r.method for r in records] == ["a", "b", "c", "d", "e"]
    assert records[0].git_commit == "c0ffee" and records[0].code_sha256 == "x"
    assert "near_duplicate" in records[1].flags[0]


def test_exact_metrics_and_the_naive_reference(ev: Evaluator) -> None:
    """What the scorer builds its answers from: exact metrics, AUROC only when asked, and
    the harness's naive student's accuracy (where the scorer's ladder starts)."""
    p = _weak_probs(ev).astype(np.float64)
    exact = ev.exact_metrics(p, "test")
    y = _truth(ev.task)
    assert exact["acc"] == pytest.approx((p.argmax(1) == y).mean())
    assert exact["weak_acc"] == exact["acc"] and exact["pgr_acc"] == pytest.approx(0.0)
    assert np.isnan(ev.exact_metrics(p, "test", with_auroc=False)["auroc"])
    assert ev.exact_auroc(p, "test") == pytest.approx(exact["auroc"])
    assert exact["weak_acc"] <= ev.reference_acc("test") <= 1.0
