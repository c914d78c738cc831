"""Confirmation on fresh seeds, end to end: a scripted round on 1 task x 3 seeds whose screened
comparisons the session re-runs, byte for byte, on 3 fresh seeds in real sandboxes, scores on
holdout once, and decides on; the report and the memory say so, and replay agrees.

The screen is opened wide (p <= 1) so that every cited comparison is confirmed whatever the
test feedback says, and the scorer's ladder step is made tiny so that a method better than the
best shown gets a shown score (a finding needs one): the test is about the machinery, the
simulation (tools/bench/bench_verdicts.py) about the error rates.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from aar.agent import run_round, start_round
from aar.config import get_settings
from aar.hashing import cells_sha256
from aar.session import Session, SessionConfig, ToolError, replay_session
from aar.session._confirm import confirmation_seeds

pytestmark = pytest.mark.slow
SEEDS = [42, 43, 44]
FRESH = [1000, 1001, 1002]


@pytest.fixture(scope="module")
def confirmed(module_workspace: Path) -> Iterator[Session]:
    import aar.session._confirm as confirm
    import aar.session._verdicts as verdicts

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AAR_SCORER__LADDER_STEP", "0.000001")
        mp.setenv("AAR_SCORER__LADDER_SCALE", "0")
        get_settings.cache_clear()
        mp.setattr(confirm, "CONFIRM_SEEDS", 3)
        mp.setattr(verdicts, "RULE", verdicts.RULE.model_copy(update={"screen_level": 1.0}))
        config = SessionConfig(tasks=["digits-ge5"], seeds=SEEDS, hypotheses=2)
        session = Session.create(get_settings().runs_dir, config)
        try:
            start_round(session)
            run_round(session)
            yield session
        finally:
            session.shutdown()
    get_settings.cache_clear()


def test_confirmation_seeds_are_fresh_and_differ_by_round() -> None:
    assert confirmation_seeds([42, 43], 1, 3) == FRESH
    assert confirmation_seeds([1001], 1, 3) == [1000, 1002, 1003]
    assert confirmation_seeds([42], 2, 3) == [1003, 1004, 1005]


def test_the_cited_code_is_rerun_byte_for_byte_on_fresh_seeds(confirmed: Session) -> None:
    state = confirmed.state
    reruns = [e for e in state.experiments.values() if e.confirms]
    assert reruns and all(e.task_dir == "confirm/round-1" and e.status == "done" for e in reruns)
    for rerun in reruns:
        original = state.experiments[rerun.confirms]  # type: ignore[index]
        assert rerun.cells == original.cells
        records = [h.record for h in state.holdout if h.experiment == rerun.id]
        assert records and {r.seed for r in records} == set(FRESH)
        assert {r.code_sha256 for r in records} == {cells_sha256(original.cells)}
    # the baselines were re-run too: naive on the fresh seeds is what the methods are paired with
    naive = [h for h in state.holdout if h.record.method == "naive" and h.record.seed in FRESH]
    assert len(naive) == 3
    # and the fresh seeds were never scored on test, nor shown to the researcher
    assert not any(e.record.seed in FRESH for e in state.evaluations)


def test_findings_carry_the_verdict_decided_on_fresh_seeds(confirmed: Session) -> None:
    from aar.memory import open_store

    findings = list(confirmed.state.findings.values())
    assert findings
    state = confirmed.state
    scored = {
        (e.record.method, e.record.task)
        for e in state.evaluations
        if e.round == 1 and e.record.method != "naive"
    }
    for f in findings:
        b = f.verdict_basis
        assert b is not None and b.fresh_seeds and b.seeds == FRESH and b.split == "holdout"
        # every comparison the round scored (the searched configurations, the control and
        # the logconf baseline), whether a finding cites it or not
        assert b.correction == "holm" and b.family_size == len(scored) >= 6
        assert f.claimed_verdict in ("supported", "refuted", "inconclusive")
        stored = open_store(get_settings()).get(f.id)
        assert (stored.verdict, stored.verdict_basis) == (f.verdict, b)
    report = (confirmed.root / "rounds/1/report.md").read_text()
    assert "confirmed on the holdout of fresh seeds" in report
    assert "decided on holdout, seeds 1000, 1001, 1002:" in report
    assert "| confirmation |" in report and "## Verdicts (decided by the session" in report
    assert (
        "| control_hard_labels | digits-ge5 |" in report and "3 fresh seeds (1000–1002)" in report
    )


def test_replay_rebuilds_the_verdicts_and_the_exports_stay_out_of_git(confirmed: Session) -> None:
    result = replay_session(confirmed.root)
    assert result.ok, result.mismatches
    tracked = subprocess.run(
        ["git", "-C", str(confirmed.root), "ls-files"], capture_output=True, text=True, check=True
    ).stdout
    assert "confirm/" not in tracked and (confirmed.root / "confirm/round-1/index.json").is_file()


def test_a_proposal_follows_its_hypothesis_and_may_not_claim_an_unsupported_win(
    confirmed: Session,
) -> None:
    state = confirmed.state
    for pid in state.proposals:  # the scripted sweep names its family first
        from aar.review import read_proposal

        p = read_proposal(confirmed.root / "proposals" / f"{pid}.json")
        named = next(h for h in state.hypotheses.values() if h.family and h.family in p.rationale)
        exp = state.experiments[p.follows]  # type: ignore[index]
        assert exp.hypothesis_id in (named.id, "baselines") and not exp.confirms
    # the control ran last, so the old rule (the current experiment) pointed at its code
    from aar.session._claims import followed_experiment

    control = next(e for e in state.experiments.values() if e.hypothesis_id == "h1-2")
    searched = next(e for e in state.experiments.values() if e.hypothesis_id == "h1-1")
    assert state.hypotheses["h1-2"].family == "control_hard_labels"
    rationale = "propagation_self_training had the largest gain over naive on test feedback."
    assert followed_experiment(state, rationale, "# %%\n") == searched.id != control.id
    supported = {
        f.method.split(" (")[0] for f in state.findings.values() if f.verdict == "supported"
    }
    method = "control_hard_labels"  # tried this round; no finding of it is decided supported
    assert method in {h.method for h in state.hypotheses.values()} and method not in supported
    code = "# %%\nprint('sweep')\n"
    before = len(state.proposals)
    with pytest.raises(ToolError, match=r"no finding of .* is decided supported"):
        confirmed.research.propose_followup(f"{method} beat naive on digits-ge5.", code)
    assert len(confirmed.state.proposals) == before


def test_an_approved_follow_up_is_confirmed_through_the_gate(confirmed: Session) -> None:
    """The follow-up's approved code is re-run on the follow-up round's own fresh seeds, and
    only through the review gate (bound to exactly those cells)."""
    from aar.review import approve

    (pid,) = confirmed.state.rounds[0].proposals
    approve(get_settings().runs_dir, pid, "alice", "sweep it")
    assert confirmed.begin_followup_round() == [pid]
    run_round(confirmed)
    state = confirmed.state
    followup = next(e for e in state.experiments.values() if e.proposal_id == pid)
    reruns = [e for e in state.experiments.values() if e.confirms == followup.id]
    assert len(reruns) == 1 and reruns[0].round == 2 and reruns[0].cells == followup.cells
    seeds = {h.record.seed for h in state.holdout if h.experiment == reruns[0].id}
    assert seeds == set(confirmation_seeds(SEEDS, 2, 3)) == {1003, 1004, 1005}
    assert replay_session(confirmed.root).ok
