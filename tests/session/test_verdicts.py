"""Verdicts the session decides (screen on test, confirm on holdout, Holm), the report that never
contradicts its holdout table, and proposals that claim only what findings support.

These build a session state from evaluator-shaped records (no kernel): the decisions are pure
functions of the state, as `aar replay` needs them to be.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from records_support import SEEDS, TASK, entries

from aar.memory import Finding, Metrics, VerdictBasis
from aar.session import SessionConfig, UnbackedNumberError
from aar.session._claims import ClaimError, check_rationale, followed_experiment
from aar.session._finalize import BASELINES
from aar.session._models import Experiment, Hypothesis, RoundInfo, SessionState
from aar.session._report import render_markdown, report_data
from aar.session._verdicts import decide_finding, round_decisions


def _state(test_gain: list[float], holdout_gain: list[float]) -> SessionState:
    """Round 1: baselines (naive), label_smoothing (tested), then a control that ran last."""
    config = SessionConfig(tasks=[TASK], seeds=SEEDS, hypotheses=2)
    state = SessionState(id="s-test", config=config)
    state.rounds.append(RoundInfo(number=1, kind="research", started_at=datetime.now(UTC)))
    state.rounds[0].ended = True
    state.hypotheses = {
        "h1-1": Hypothesis(
            id="h1-1",
            round=1,
            statement="label smoothing helps",
            method="label_smoothing-epsilon-0.1",
            family="label_smoothing",
            params={"epsilon": 0.1},
        ),
        "h1-2": Hypothesis(
            id="h1-2",
            round=1,
            statement="a control",
            method="control_hard_labels",
            family="control_hard_labels",
        ),
    }
    for exp, hyp in (("e-01", BASELINES), ("e-02", "h1-1"), ("e-03", "h1-2")):
        state.experiments[exp] = Experiment(id=exp, round=1, hypothesis_id=hyp, status="done")
    zero = [0.0] * 5
    method = "label_smoothing-epsilon-0.1"
    state.evaluations = [
        *entries("naive", "e-01", zero, "test"),
        *entries(method, "e-02", test_gain, "test"),
        *entries("control_hard_labels", "e-03", [0.01, -0.02, 0.0, 0.02, -0.01], "test"),
    ]
    state.holdout = [*entries("naive", "e-01", zero, "holdout")]
    state.holdout += entries(method, "e-02", holdout_gain, "holdout")
    return state


def _finding(state: SessionState, **update: object) -> Finding:
    method = "label_smoothing-epsilon-0.1"
    ids = [e.record.id for e in state.evaluations if e.record.method in (method, "naive")]
    finding = Finding(
        id="f-1",
        session_id=state.id,
        round=1,
        summary="label smoothing vs naive",
        hypothesis="label smoothing helps",
        method=f"{method} (epsilon=0.1)",
        tasks=[TASK],
        metrics=Metrics(pgr_acc_mean=0.3, pgr_acc_se=0.01),
        eval_record_ids=ids,
        verdict="inconclusive",
        claimed_verdict="supported",
        tags=["family:label_smoothing"],
    ).model_copy(update=update)
    state.findings[finding.id] = finding
    return finding


def _decide(state: SessionState, finding: Finding) -> Finding:
    verdict, basis = decide_finding(state, finding, round_decisions(state, 1))
    decided = finding.model_copy(update={"verdict": verdict, "verdict_basis": basis})
    state.findings[finding.id] = decided
    return decided


STRONG = [0.10, 0.12, 0.11, 0.13, 0.10]


def test_a_gain_that_holds_on_holdout_is_supported_with_its_basis() -> None:
    state = _state(STRONG, [0.11, 0.10, 0.12, 0.12, 0.11])
    f = _decide(state, _finding(state))
    b = f.verdict_basis
    assert f.verdict == "supported" and f.claimed_verdict == "supported" and b is not None
    assert (b.split, b.seeds, b.fresh_seeds, b.correction) == ("holdout", SEEDS, False, "holm")
    assert b.test == "paired t-test (two-sided)" and b.level == 0.05
    # every (method, task) the round scored on test counts, the uncited control too
    assert b.family_size == 2 and b.adjusted_p is not None and b.adjusted_p <= 0.05
    assert b.mean_difference == pytest.approx(0.112)


def test_a_test_feedback_gain_that_vanishes_on_holdout_is_not_supported() -> None:
    """The measured failure: test feedback said "helps", holdout said otherwise."""
    state = _state(STRONG, [-0.03, 0.02, -0.05, 0.01, -0.04])
    f = _decide(state, _finding(state))
    assert f.verdict == "inconclusive" and f.claimed_verdict == "supported"
    assert f.verdict_basis is not None and "not confirmed on holdout" in f.verdict_basis.why


def test_the_report_never_states_a_verdict_its_holdout_table_contradicts() -> None:
    """A finding that says "supported" (an older log, a forged record) beside a holdout table
    whose paired difference is negative: the report states no verdict for it."""
    state = _state(STRONG, [-0.03, -0.02, -0.05, -0.01, -0.04])
    basis = VerdictBasis(
        split="holdout", seeds=SEEDS, test="paired t-test (two-sided)", level=0.05,
        correction="holm", family_size=1,
    )  # fmt: skip
    _finding(state, verdict="supported", verdict_basis=basis)
    data = report_data(state, 1, [])
    row = next(r for r in data.rows if r.method.startswith("label_smoothing"))
    assert row.vs_naive is not None and row.vs_naive[0] < 0
    (finding,) = data.findings
    assert finding["verdict"] == "inconclusive" and "does not show" in finding["basis"]
    text = render_markdown(data)
    assert "**supported**" not in text and "Holm" in text
    # the same finding, decided by the session on that holdout: not supported either
    decided = _decide(state, state.findings["f-1"])
    assert decided.verdict != "supported"
    assert report_data(state, 1, []).findings[0]["verdict"] == decided.verdict


def test_the_report_says_how_verdicts_were_decided() -> None:
    state = _state(STRONG, [0.11, 0.10, 0.12, 0.12, 0.11])
    _decide(state, _finding(state))
    text = render_markdown(report_data(state, 1, []))
    assert "**supported**" in text and "decided on holdout, seeds 42, 43, 44, 45, 46" in text
    assert "Holm's correction across every comparison of the round" in text
    # the verdicts table: every comparison the round scored, the uncited control too
    assert "| label_smoothing-epsilon-0.1 | digits-ge5 | **supported** |" in text
    assert "| control_hard_labels | digits-ge5 | **inconclusive** |" in text
    assert "(Holm over 2)" in text and "on 5 own seeds (42–46)" in text
    assert "the researcher claimed supported" in text and "no fresh seeds were run" in text


RATIONALE = (
    "label_smoothing (epsilon=0.1) beat naive on digits-ge5 (paired PGR difference +0.112). "
    "Sweep epsilon over 0.05, 0.2 to see whether the effect depends on it."
)
CODE = "# %%\nPARAMS = {'epsilon': 0.05}\n# %%\nPARAMS = {'epsilon': 0.2}\n"


def test_a_rationale_may_not_claim_a_win_its_finding_does_not_support() -> None:
    """The measured hole: "label_smoothing (epsilon=0.1) beat naive" when its finding was
    inconclusive."""
    state = _state(STRONG, [-0.03, 0.02, -0.05, 0.01, -0.04])
    _decide(state, _finding(state))
    with pytest.raises(ClaimError, match=r"label_smoothing beat .*verdicts: inconclusive"):
        check_rationale(state, RATIONALE, CODE)
    for dressed in (
        "No doubt, label_smoothing beat naive.",
        "Whether or not, it outperforms: label_smoothing outperforms naive.",
        "label_smoothing clearly improves on naive.",
    ):
        with pytest.raises(ClaimError):
            check_rationale(state, dressed, CODE)
    for honest in (
        RATIONALE.replace("beat naive", "did not beat naive"),
        RATIONALE.replace("beat naive", "had the largest gain over naive on test feedback"),
        "Sweep epsilon over 0.05, 0.2 to see whether label_smoothing beats naive at all.",
    ):
        check_rationale(state, honest, CODE)


def test_a_rationale_may_claim_a_win_once_it_is_decided_supported() -> None:
    state = _state(STRONG, [0.11, 0.10, 0.12, 0.12, 0.11])
    finding = _finding(state)
    with pytest.raises(ClaimError, match="undecided"):  # in the round: nothing is decided yet
        check_rationale(state, RATIONALE, CODE)
    _decide(state, finding)
    check_rationale(state, RATIONALE, CODE)


def test_a_rationale_s_numbers_are_checked_like_a_finding_s() -> None:
    state = _state(STRONG, [0.11, 0.10, 0.12, 0.12, 0.11])
    _decide(state, _finding(state))
    with pytest.raises(UnbackedNumberError, match=r"0\.91"):
        check_rationale(state, RATIONALE.replace("+0.112", "+0.91"), CODE)
    # a setting the code writes may be quoted as a setting, never as a result
    code = CODE.replace("0.2", "0.77")
    check_rationale(state, "Try epsilon 0.77 on digits-ge5.", code)
    with pytest.raises(UnbackedNumberError, match=r"0\.77"):
        check_rationale(state, "label_smoothing reached PGR 0.77 on digits-ge5.", code)
    with pytest.raises(UnbackedNumberError, match=r"0\.77"):
        check_rationale(state, "Try epsilon 0.77 on digits-ge5.", CODE)


def test_a_proposal_follows_the_hypothesis_it_names_not_the_last_experiment() -> None:
    """The measured hole: `follows` pointed at the control's experiment (it ran last)."""
    state = _state(STRONG, [0.11, 0.10, 0.12, 0.12, 0.11])
    assert followed_experiment(state, RATIONALE, CODE) == "e-02"  # not e-03, the control
    unlike = "Unlike control_hard_labels, label_smoothing moved PGR on test feedback."
    assert followed_experiment(state, unlike, CODE) == "e-02"
    assert followed_experiment(state, "as control_hard_labels did", CODE) == "e-03"
    assert followed_experiment(state, "something else", CODE, "h1-2") == "e-03"
    assert followed_experiment(state, "an idea naming no method", "x = 1") is None


def test_findings_written_before_verdicts_were_decided_still_read() -> None:
    """The memory's Finding gained `claimed_verdict` and `verdict_basis` with defaults: a
    finding stored by older aar (neither field) reads, with no basis, so no report calls its
    verdict confirmed."""
    old = {
        "schema_version": 1,
        "id": "f-old",
        "session_id": "s-old",
        "summary": "logconf vs naive",
        "hypothesis": "logconf helps",
        "method": "logconf",
        "tasks": [TASK],
        "metrics": {"pgr_acc_mean": 0.3, "pgr_acc_se": 0.01},
        "verdict": "supported",
    }
    f = Finding.model_validate(old)
    assert f.verdict == "supported" and f.verdict_basis is None and f.claimed_verdict is None
    state = _state(STRONG, [0.11, 0.10, 0.12, 0.12, 0.11])
    state.findings[f.id] = f.model_copy(update={"round": 1})
    (row,) = report_data(state, 1, []).findings
    assert row["verdict"] == "unconfirmed" and "no verdict was decided" in row["basis"]
