"""Layout 5's answer names a best method only where test feedback orders it above every other
confirmed method; where the scorer's ladder withheld the edges that would decide (or the shown
edges tie), the answer lists the confirmed methods it cannot order and names none, in the
report and in `aar run`'s closing lines alike. Holdout never chooses.

States are built from evaluator-shaped records (no kernel), as `test_report_layout5.py` does:
one round, five seeds, naive plus two or three methods, each confirmed better than naive on
the holdout of the round's own seeds. A withheld test answer is what the scorer writes: no
accuracy or PGR, `answer="not_better"` and the bound `threshold_acc` on the exact accuracy.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from pathlib import Path

from records_support import NAIVE_PGR, SEEDS, TASK, entries

from aar._cli.round_answer import answer_lines
from aar.bench import EvalRecord
from aar.session import SessionConfig
from aar.session._finalize import BASELINES
from aar.session._models import EvalEntry, Experiment, Hypothesis, RoundInfo, SessionState
from aar.session._report import render_markdown, report_data
from aar.session._report_evidence import session_decided

STRONG = [0.38, 0.40, 0.37, 0.39, 0.36]
"""Holdout gains of the strongest method (what a holdout-chosen answer would pick)."""
WEAK = [0.12, 0.13, 0.11, 0.12, 0.12]
MIDDLE = [0.20, 0.21, 0.19, 0.22, 0.20]
Test = tuple[str, float]
"""A test answer on every seed: ("shown", accuracy) or ("withheld", threshold_acc)."""


def _test(method: str, experiment: str, answer: Test) -> list[EvalEntry]:
    """`method`'s test feedback on every seed as the scorer answers it."""
    kind, value = answer
    out = []
    for seed, base in zip(SEEDS, NAIVE_PGR, strict=True):
        shown = kind == "shown"
        acc, pgr = (value, base + (value - 0.7)) if shown else (math.nan, math.nan)
        record = EvalRecord(
            id=f"{method}-test-{seed}", task=TASK, seed=seed, split="test", method=method,
            metrics={"acc": acc, "auroc": acc, "pgr_acc": pgr, "pgr_auroc": pgr, "n": 269.0},
            code_sha256="c" * 64, timestamp=datetime.now(UTC), rounded=True, rounding=0.01,
            predictions_sha256="p", budget_used=1, budget_total=200,
            answer="improved" if shown else "not_better",
            threshold_acc=None if shown else value,
        )  # fmt: skip
        out.append(EvalEntry(record=record, experiment=experiment, round=1))
    return out


def _state(methods: dict[str, tuple[Test, list[float]]]) -> SessionState:
    """One ended round: naive, and each method with its test answers and holdout gains."""
    state = SessionState(id="s-order", config=SessionConfig(tasks=[TASK], seeds=SEEDS),
                         report_layout=5)  # fmt: skip
    info = RoundInfo(number=1, kind="research", started_at=datetime.now(UTC))
    state.rounds.append(info.model_copy(update={"ended": True}))
    state.experiments["e-00"] = Experiment(id="e-00", round=1, hypothesis_id=BASELINES,
                                           status="done")  # fmt: skip
    state.evaluations = entries("naive", "e-00", [0.0] * 5, "test")
    state.holdout = entries("naive", "e-00", [0.0] * 5, "holdout")
    for i, (method, (test, hold)) in enumerate(methods.items(), start=1):
        hid, exp = f"h1-{i}", f"e-{i:02d}"
        state.hypotheses[hid] = Hypothesis(id=hid, round=1, statement=f"{method} helps",
                                           method=method, family="f")  # fmt: skip
        state.experiments[exp] = Experiment(id=exp, round=1, hypothesis_id=hid, status="done")
        state.evaluations += _test(method, exp, test)
        state.holdout += entries(method, exp, hold, "holdout")
    return state


def _answer_of(state: SessionState, tmp_path: Path) -> tuple[str, list[str]]:
    """The answer table's row of the task, and the terminal's lines at 80 columns."""
    data = report_data(state, 1, [])
    line = next(x for x in render_markdown(data).splitlines() if x.startswith(f"| {TASK} |"))
    path = tmp_path / "report.json"
    path.write_text(data.model_dump_json(indent=2))
    return line, answer_lines(path, 80)


def _confirmed(state: SessionState) -> set[str]:
    return {d.method for d in session_decided(state, 1) if d.verdict == "supported"}


def test_two_withheld_edges_are_not_ordered_and_no_method_is_named(tmp_path: Path) -> None:
    """Both edges withheld: the old answer picked one by name; now both are listed, the
    stronger holdout effect first only by name order (holdout does not choose)."""
    state = _state({"logconf": (("withheld", 0.83), WEAK),
                    "propagation": (("withheld", 0.83), STRONG)})  # fmt: skip
    assert _confirmed(state) == {"logconf", "propagation"}
    (answer,) = report_data(state, 1, []).answer
    assert answer.method == "" and answer.unordered is not None
    assert [c.method for c in answer.unordered] == ["logconf", "propagation"]
    assert answer.unordered_why == "the scorer withheld their edges"
    strong = next(c for c in answer.unordered if c.method == "propagation")
    assert strong.effect is not None and abs(strong.effect[0] - sum(STRONG) / 5) < 1e-9
    line, terminal = _answer_of(state, tmp_path)
    assert f"| {TASK} | not ordered by test feedback (the scorer withheld their edges): " in line
    assert "propagation (round 1) +0.380 [" in line and "each confirmed better than naive" in line
    assert "none: test feedback cannot order these 2 of 2 confirmed |" in line
    assert "best of" not in line
    start = terminal.index("best method per task:")
    assert terminal[start + 1] == f"  {TASK}: not ordered by test feedback; each confirmed better:"
    assert terminal[start + 2].startswith("    logconf (round 1), PGR vs naive +0.120 [95% CI")
    assert terminal[start + 3].startswith("    propagation (round 1), PGR vs naive +0.380")
    assert terminal[start + 4] == "    (the scorer withheld their edges)"
    assert all(len(x) <= 80 for x in terminal)


def test_a_shown_edge_above_the_withheld_ones_bound_is_the_answer(tmp_path: Path) -> None:
    """`a` shown at 0.86 on every seed; `b`'s answers said its accuracy is below 0.83: `a`
    beat `b` on every seed, so `a` is named, though `b` is larger on holdout."""
    state = _state({"a": (("shown", 0.86), WEAK), "b": (("withheld", 0.83), STRONG)})
    (answer,) = report_data(state, 1, []).answer
    assert (answer.method, answer.candidates, answer.unordered) == ("a", 2, None)
    line, terminal = _answer_of(state, tmp_path)
    assert line.startswith(f"| {TASK} | a | 1 |") and "best of 2 confirmed |" in line
    assert any(x.startswith(f"  {TASK}: a (round 1), PGR vs naive +0.120") for x in terminal)


def test_a_shown_edge_below_the_withheld_ones_bound_orders_nothing(tmp_path: Path) -> None:
    """`b`'s answers bound it below 0.89 only (the best shown when it was submitted plus the
    ladder's step): it may have beaten `a`'s shown 0.86, so neither is named."""
    state = _state({"a": (("shown", 0.86), WEAK), "b": (("withheld", 0.89), STRONG)})
    (answer,) = report_data(state, 1, []).answer
    assert answer.unordered is not None and {c.method for c in answer.unordered} == {"a", "b"}
    assert (
        answer.unordered_why is not None and "withheld some of their edges" in answer.unordered_why
    )
    line, _ = _answer_of(state, tmp_path)
    assert "not ordered by test feedback (the scorer withheld some of their edges" in line


def test_equal_shown_edges_are_not_ordered_and_an_ordered_one_is_left_out(
    tmp_path: Path,
) -> None:
    """`a` and `b` shown with the same edge on every seed; `c` withheld below a bound both
    clear: the answer lists `a` and `b` (a tie), not `c` (test feedback orders it below)."""
    state = _state({"a": (("shown", 0.86), WEAK), "b": (("shown", 0.86), STRONG),
                    "c": (("withheld", 0.80), MIDDLE)})  # fmt: skip
    assert _confirmed(state) == {"a", "b", "c"}
    (answer,) = report_data(state, 1, []).answer
    assert answer.unordered is not None and [c.method for c in answer.unordered] == ["a", "b"]
    assert answer.unordered_why == "their test-feedback edges are equal"
    line, _ = _answer_of(state, tmp_path)
    assert "cannot order these 2 of 3 confirmed |" in line
    data = json.loads(report_data(state, 1, []).model_dump_json())
    assert data["answer"][0]["method"] == "" and len(data["answer"][0]["unordered"]) == 2


def test_layout_4_still_names_one_and_writes_no_new_fields(tmp_path: Path) -> None:
    """Earlier layouts keep their answer (the round's own, the old choice)."""
    state = _state({"logconf": (("withheld", 0.83), WEAK),
                    "propagation": (("withheld", 0.83), STRONG)})  # fmt: skip
    state.report_layout = 4
    data = report_data(state, 1, [])
    (answer,) = data.answer
    assert answer.method in {"logconf", "propagation"} and answer.unordered is None
    assert "unordered" not in data.model_dump_json()
    line = next(x for x in render_markdown(data).splitlines() if x.startswith(f"| {TASK} |"))
    assert "edge withheld by the scorer, best of 2 confirmed |" in line
