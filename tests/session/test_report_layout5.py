"""The round report's layout 5: the answer is the session's so far, and each proposal carries
the session's own holdout evidence on what it builds on.

- The answer of round N's report is the best confirmed method per task over rounds 1..N (still
  chosen on test feedback among the confirmed), with the round that confirmed it.
- Under each proposal, for the reviewer: what the session's holdout confirmation found for the
  method the proposal follows (`Proposal.follows` -> experiment -> hypothesis) and for the rest
  of its family, per task. What the researcher proposed is not changed.
- Layouts before 5 keep their reports (the same state in layout 4 gives the round's own answer
  and no evidence; an archived layout-2 session replays byte for byte).

Built from evaluator-shaped records (no kernel), as `test_report_layout.py` does: the report is
a pure function of the session state. `test_a_real_session...` runs the scripted researcher.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import pytest
from records_support import SEEDS, TASK, entries
from session_support import run_aar, unpack_session

from aar.session import REPORT_LAYOUT, EventLog, SessionConfig, replay_session
from aar.session._finalize import BASELINES
from aar.session._models import EvalEntry, Experiment, Hypothesis, RoundInfo, SessionState
from aar.session._report import render_markdown, report_data
from aar.session._report_evidence import EVIDENCE_LEAD, session_decided

DATA = Path(__file__).parent / "data"
LAYOUT2 = "s-20261207-210611-b323ce"
GOOD = [0.20, 0.22, 0.21, 0.23, 0.20]
"""`bagged`'s gains over naive on test feedback (the largest edge of the session)."""


def _in_round(es: list[EvalEntry], number: int) -> list[EvalEntry]:
    return [e.model_copy(update={"round": number}) for e in es]


def _hyp(hid: str, number: int, method: str, family: str) -> Hypothesis:
    return Hypothesis(id=hid, round=number, statement=f"{method} helps", method=method,
                      family=family)  # fmt: skip


def _state(layout: int) -> SessionState:
    """Round 1: `bagged` (family ensemble) confirmed better, `smooth` (family smoothing)
    confirmed harmful. Round 2 (a follow-up): `bagged-members-9` confirmed better with a smaller
    test-feedback edge than `bagged`, `smooth-width-3` not confirmed (screened in, holdout
    undecided), `smooth-width-5` not tested on holdout (not screened in). The session's answer
    after round 2 is `bagged`, from round 1; round 2's own answer is `bagged-members-9`."""
    state = SessionState(
        id="s-test", config=SessionConfig(tasks=[TASK], seeds=SEEDS), report_layout=layout
    )
    kinds: list[tuple[int, Literal["research", "followup"]]] = [(1, "research"), (2, "followup")]
    for number, kind in kinds:
        info = RoundInfo(number=number, kind=kind, started_at=datetime.now(UTC))
        state.rounds.append(info.model_copy(update={"ended": True}))
    state.hypotheses = {
        "h1-1": _hyp("h1-1", 1, "bagged", "ensemble"),
        "h1-2": _hyp("h1-2", 1, "smooth", "smoothing"),
        "h2-1": _hyp("h2-1", 2, "bagged-members-9", "ensemble"),
        "h2-2": _hyp("h2-2", 2, "smooth-width-3", "smoothing"),
        "h2-3": _hyp("h2-3", 2, "smooth-width-5", "smoothing"),
    }
    for exp, hyp, number in (
        ("e-01", BASELINES, 1),
        ("e-02", "h1-1", 1),
        ("e-03", "h1-2", 1),
        ("e-04", "h2-1", 2),
        ("e-05", "h2-2", 2),
        ("e-06", "h2-3", 2),
    ):
        state.experiments[exp] = Experiment(id=exp, round=number, hypothesis_id=hyp, status="done")
    zero = [0.0] * 5
    round2 = {  # method: (experiment, test-feedback gains, holdout gains)
        "bagged-members-9": ("e-04", [0.10, 0.12, 0.11, 0.13, 0.10], [0.31, 0.30, 0.32, 0.3, 0.31]),
        "smooth-width-3": ("e-05", [-0.03, -0.05, -0.02, -0.04, -0.03], [0.02, -0.03, 0.01, 0, 0]),
        "smooth-width-5": ("e-06", [0.01, -0.02, 0.02, -0.01, 0.0], [0.0] * 5),
    }
    state.evaluations = [
        *entries("naive", "e-01", zero, "test"),
        *entries("bagged", "e-02", GOOD, "test"),
        *entries("smooth", "e-03", [-0.10, -0.12, -0.11, -0.13, -0.10], "test"),
        *(
            e
            for m, (x, test, _) in round2.items()
            for e in _in_round(entries(m, x, test, "test"), 2)
        ),
    ]
    state.holdout = [
        *entries("naive", "e-01", zero, "holdout"),
        *entries("bagged", "e-02", [0.11, 0.10, 0.12, 0.12, 0.11], "holdout"),
        *entries("smooth", "e-03", [-0.08, -0.09, -0.07, -0.08, -0.09], "holdout"),
        *(e for m, (x, _, h) in round2.items() for e in _in_round(entries(m, x, h, "holdout"), 2)),
    ]
    return state


def _proposal(pid: str, follows: str, rationale: str) -> dict[str, str]:
    return {"id": pid, "rationale": rationale, "sha256": "a" * 64, "evals": "10",
            "expires": "2026-12-31", "follows": follows}  # fmt: skip


ROUND1 = [_proposal("p-1", "e-03", "No family showed a gain over naive on test feedback.")]
ROUND2 = [
    _proposal("p-2", "e-05", "Sweep smooth's width further."),
    _proposal("p-3", "", "x"),
    _proposal("p-4", "e-06", "Widen smooth-width-5."),
]


def test_new_sessions_write_layout_5() -> None:
    assert REPORT_LAYOUT == 5


def test_the_verdicts_the_evidence_rests_on() -> None:
    """The fixture decides what its docstring says (else the tests below prove nothing)."""
    found = {(d.method, d.round): d.verdict for d in session_decided(_state(5), 2)}
    assert found == {
        ("bagged", 1): "supported",
        ("smooth", 1): "refuted",
        ("bagged-members-9", 2): "supported",
        ("smooth-width-3", 2): "inconclusive",
        ("smooth-width-5", 2): "inconclusive",
    }


def test_round_2s_answer_is_the_best_confirmed_method_of_the_session_so_far() -> None:
    state = _state(5)
    data = report_data(state, 2, ROUND2)
    (answer,) = data.answer
    assert (answer.method, answer.round, answer.candidates) == ("bagged", 1, 2)
    # chosen on test feedback: bagged-members-9 is larger on holdout, bagged on test feedback
    round1 = report_data(state, 1, ROUND1)
    (row,) = [r for r in round1.rows if r.method == "bagged"]
    assert answer.effect == row.vs_naive and answer.experiment == "e-02"
    assert answer.screen_mean == pytest.approx(sum(GOOD) / 5, abs=0.01)
    assert answer.tested == 5 and answer.confirmations == 4  # smooth-width-5: not screened
    md = render_markdown(data)
    assert "The best method per task in the session so far (rounds 1–2)" in md
    assert "| task | best method | round | configuration |" in md
    line = next(x for x in md.splitlines() if x.startswith(f"| {TASK} | bagged |"))
    assert line.startswith(f"| {TASK} | bagged | 1 | family ensemble |")
    assert "best of 2 confirmed |" in line and "in any round of the session so far" in md
    (first,) = round1.answer  # round 1's report: the session so far is round 1
    assert (first.method, first.round, first.candidates) == ("bagged", 1, 1)


def test_each_proposal_shows_the_holdout_evidence_on_what_it_builds_on() -> None:
    data = report_data(_state(5), 1, ROUND1)
    md = render_markdown(data)
    (ev,) = data.evidence
    assert (ev.method, ev.family, ev.hypothesis) == ("smooth", "smoothing", "h1-2")
    (task,) = ev.tasks
    assert task.status == "confirmed harmful" and task.round == 1
    row = next(r for r in data.rows if r.method == "smooth")
    assert task.effect == row.vs_naive and task.effect is not None and task.effect[2] < 0
    mean, low, high = task.effect
    lines = md.splitlines()
    i = lines.index("- `p-1` No family showed a gain over naive on test feedback.")
    assert lines[i + 1] == (
        f"  - {EVIDENCE_LEAD}, for what it builds on, smooth (hypothesis h1-2, family smoothing):"
    )
    assert lines[i + 2] == (
        f"    - {TASK}: smooth confirmed harmful (worse than naive) in round 1: holdout PGR vs "
        f"naive {mean:.3f} [{low:.3f}, {high:.3f}] on 5 seeds, adjusted p "
        f"{task.adjusted_p:.3g}; the family's other methods: none decided."
    )
    assert EVIDENCE_LEAD.startswith("For the reviewer: the session's holdout confirmation")
    assert md.count(lines[i + 2]) == 2  # under "What to try next" and "Proposed follow-ups"
    proposed = md.split("## Proposed follow-ups")[1]
    assert "(sha256 `aaaaaaaaaaaaaaaa…`" in proposed and lines[i + 2] in proposed


def test_the_family_and_a_proposal_that_follows_nothing() -> None:
    data = report_data(_state(5), 2, ROUND2)
    md = render_markdown(data).split("## Proposed follow-ups")[1]
    lines = md.splitlines()
    i = lines.index(next(x for x in lines if x.startswith("- `p-2` Sweep smooth's width")))
    (task,) = data.evidence[0].tasks
    assert task.status == "not confirmed" and task.effect is not None
    mean, low, high = task.effect
    assert lines[i + 2] == (
        f"    - {TASK}: smooth-width-3 not confirmed (the holdout test ran and decided neither "
        f"way) in round 2: holdout PGR vs naive {mean:.3f} [{low:.3f}, {high:.3f}] on 5 seeds, "
        f"adjusted p {task.adjusted_p:.3g}; the family's other methods: confirmed harmful: "
        "smooth (round 1); 1 not tested on holdout."
    )
    j = lines.index(next(x for x in lines if x.startswith("- `p-3` x")))
    k = lines.index(
        "- `p-4` Widen smooth-width-5. (sha256 `aaaaaaaaaaaaaaaa…`, ~10 evaluations, "
        "expires 2026-12-31; `aar review show p-4`)"
    )
    assert lines[k + 2] == (
        f"    - {TASK}: smooth-width-5 not tested on holdout in round 2: the test feedback did "
        "not screen it in; the family's other methods: confirmed harmful: smooth (round 1); "
        "1 not confirmed."
    )
    nothing = "none to show; the proposal follows no method of this session."
    assert lines[j + 1] == f"  - {EVIDENCE_LEAD}: {nothing}"


def test_layout_4_keeps_the_rounds_own_answer_and_no_evidence() -> None:
    older = [{k: v for k, v in p.items() if k != "follows"} for p in ROUND2]
    data = report_data(_state(4), 2, older)
    (answer,) = data.answer
    assert answer.method == "bagged-members-9" and answer.round is None and answer.candidates == 1
    dumped = json.loads(data.model_dump_json())
    assert "evidence" not in dumped and "round" not in dumped["answer"][0]
    md = render_markdown(data)
    assert "session so far" not in md and EVIDENCE_LEAD not in md
    assert "| task | best method | configuration |" in md


def test_a_layout_2_session_still_replays_byte_for_byte(workspace: Path) -> None:
    root = unpack_session(DATA / "layout2-session.tar.gz", LAYOUT2, workspace / "runs")
    assert EventLog(root).state().report_layout == 2
    result = replay_session(root, rescore=False)
    assert result.ok, result.mismatches
    assert result.reports_checked == ["rounds/1/report.md", "rounds/2/report.md"]


@pytest.mark.slow
def test_a_real_session_shows_the_evidence_and_the_session_answer(workspace: Path) -> None:
    """The scripted researcher: `aar run`, approve its follow-up, `aar resume`. Each report
    lists, under the proposal, the hypothesis of the experiment it follows (from the proposal
    file), one line per task; round 2 answers for rounds 1-2; replay rebuilds both."""
    args = ("run", "-t", TASK, "--seeds", "2", "--hypotheses", "3", "-d", "confidence")
    out = run_aar(*args, cwd=workspace, timeout=600)
    assert out.returncode == 0, out.stdout + out.stderr
    (root,) = (workspace / "runs").glob("s-*")
    (pid,) = EventLog(root).state().proposals
    proposal = json.loads((root / "proposals" / f"{pid}.json").read_text())
    decided = run_aar("review", "approve", pid, "--sha256", proposal["sha256"], cwd=workspace)
    assert decided.returncode == 0, decided.stdout + decided.stderr
    resumed = run_aar("resume", root.name, cwd=workspace, timeout=600)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    state = EventLog(root).state()
    assert state.report_layout == 5 and proposal["follows"]
    report = json.loads((root / "rounds/1/report.json").read_text())
    (ev,) = report["evidence"]
    assert ev["proposal_id"] == pid and ev["follows"] == proposal["follows"]
    # the method the followed experiment scored and the rationale names (logconf's experiment
    # is the session's baseline run, which a hypothesis tests too)
    scored = {e.record.method for e in state.evaluations if e.experiment == ev["follows"]}
    assert ev["method"] in scored and ev["method"] in proposal["rationale"]
    assert state.hypotheses[ev["hypothesis"]].method == ev["method"]
    assert [t["task"] for t in ev["tasks"]] == [TASK]
    md = (root / "rounds/1/report.md").read_text().splitlines()
    i = md.index(next(x for x in md if x.startswith(f"- `{pid}` ")))
    assert md[i + 1].startswith(f"  - {EVIDENCE_LEAD}, for what it builds on, ")
    assert md[i + 2].startswith(f"    - {TASK}: ")
    second = (root / "rounds/2/report.md").read_text()
    assert "The best method per task in the session so far (rounds 1–2)" in second
    (answer,) = json.loads((root / "rounds/2/report.json").read_text())["answer"]
    tested = {d.method for d in session_decided(state, 2)}
    assert answer["tested"] == len(tested) > len({d.method for d in session_decided(state, 1)})
    result = replay_session(root, rescore=False)
    assert result.ok, result.mismatches
    assert result.reports_checked == ["rounds/1/report.md", "rounds/2/report.md"]
