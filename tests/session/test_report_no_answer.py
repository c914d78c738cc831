"""Layout 2's report says what happened where no method won: a task nothing was tested on has
no answer (not a negative one), a comparison whose confirmation never ran states no adjusted p
(the 1 Holm counts it with is a placeholder), and a PGR shown on one seed states no SE. A
layout-1 session keeps its old wording, so `aar replay` still matches its report byte for byte.

Built from evaluator-shaped records (no kernel), as `test_verdicts.py` does.
"""

from __future__ import annotations

from datetime import UTC, datetime

from records_support import SEEDS, TASK, entries

from aar.session import SessionConfig
from aar.session._finalize import BASELINES
from aar.session._models import Experiment, Hypothesis, RoundInfo, SessionState
from aar.session._report import render_markdown, report_data

METHOD = "logconf"


def _state(layout: int, tested: bool) -> SessionState:
    """Naive's baselines; with `tested`, logconf scored on test with no gain (not screened in,
    so never confirmed: it has no holdout records)."""
    config = SessionConfig(tasks=[TASK], seeds=SEEDS, hypotheses=1)
    state = SessionState(id="s-test", config=config, report_layout=layout)
    state.rounds.append(RoundInfo(number=1, kind="research", started_at=datetime.now(UTC)))
    state.rounds[0].ended = True
    zero = [0.0] * 5
    state.experiments["e-01"] = Experiment(
        id="e-01", round=1, hypothesis_id=BASELINES, status="done"
    )
    state.evaluations = [*entries("naive", "e-01", zero, "test")]
    state.holdout = [*entries("naive", "e-01", zero, "holdout")]
    if tested:
        state.hypotheses["h1-1"] = Hypothesis(
            id="h1-1", round=1, statement="logconf helps", method=METHOD
        )
        state.experiments["e-02"] = Experiment(
            id="e-02", round=1, hypothesis_id="h1-1", status="done"
        )
        state.evaluations += entries(METHOD, "e-02", [0.01, -0.02, 0.0, 0.02, -0.01], "test")
    return state


def _line(md: str, start: str) -> str:
    return next(x for x in md.splitlines() if x.startswith(start))


def test_a_task_nothing_was_tested_on_has_no_answer() -> None:
    md = render_markdown(report_data(_state(2, tested=False), 1, []))
    answer = _line(md, f"| {TASK} |")
    assert "no method was tested" in answer
    assert "confirmed better" not in answer  # it would read as a negative result


def test_a_confirmation_that_did_not_run_states_no_adjusted_p() -> None:
    md = render_markdown(report_data(_state(2, tested=True), 1, []))
    verdict = _line(md, f"| {METHOD} | {TASK} |")
    confirmation, adjusted = (cell.strip() for cell in verdict.split("|")[-3:-1])
    assert (confirmation, adjusted) == ("not run", "— (not run)")  # not "1.000 (Holm over 1)"
    answer = _line(md, f"| {TASK} |")
    assert "1 method tested" in answer and "no confirmation test was run" in answer


def test_a_layout_1_report_keeps_its_wording() -> None:
    md = render_markdown(report_data(_state(1, tested=True), 1, []))
    assert _line(md, f"| {METHOD} | {TASK} |").endswith("| not run | 1.000 (Holm over 1) |")
    assert "## The answer" not in md


def _with_one_seed_finding(layout: int) -> SessionState:
    from aar.memory import Finding, Metrics

    state = _state(layout, tested=True)
    state.findings["f-1"] = Finding(
        id="f-1",
        session_id=state.id,
        round=1,
        summary="logconf vs naive",
        hypothesis="logconf helps",
        method=METHOD,
        tasks=[TASK],
        metrics=Metrics(pgr_acc_mean=0.5, pgr_acc_se=0.0, seeds=[45]),
        eval_record_ids=[e.record.id for e in state.evaluations if e.record.seed == 45],
        verdict="inconclusive",
    )
    return state


def test_a_finding_shown_on_one_seed_states_no_standard_error() -> None:
    md = render_markdown(report_data(_with_one_seed_finding(2), 1, []))
    finding = _line(md, "- `f-1`")
    assert "test feedback 0.500 on 1 seed, no SE;" in finding and "± 0.000" not in finding
    old = render_markdown(report_data(_with_one_seed_finding(1), 1, []))
    assert "test feedback 0.500 ± 0.000;" in _line(old, "- `f-1`")  # layout 1 as it was
