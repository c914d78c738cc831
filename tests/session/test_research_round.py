"""One real offline round end to end (scripted researcher, real kernels, evaluator, git,
memory), then the review gate: every bypass refused, the approved follow-up run byte for byte.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from session_support import PLANTED_KEY, all_text, tool_outcomes

from aar.agent import choose_families, run_round, start_round
from aar.config import get_settings
from aar.errors import AarError
from aar.hashing import cells_sha256
from aar.review import GateError, approve, read_proposal
from aar.sandbox import split_cells
from aar.session import MEMORY_NOTICE, Session, SessionConfig, ToolError, replay_session
from aar.session._finalize import BASELINES

pytestmark = pytest.mark.slow
TASKS = ["digits-ge5", "synthetic-gap-medium"]


@dataclass
class Round:
    session: Session
    root: Path
    why: str


@pytest.fixture(scope="module")
def first_round(module_workspace: Path) -> Iterator[Round]:
    """A scripted round of 2 hypotheses on 2 tasks x 2 seeds, with provider keys planted."""
    planted = {"OPENAI_API_KEY": PLANTED_KEY, "ANTHROPIC_API_KEY": PLANTED_KEY}
    old = {k: os.environ.get(k) for k in planted}
    os.environ.update(planted)
    config = SessionConfig(tasks=TASKS, seeds=[42, 43], hypotheses=2)
    session = Session.create(get_settings().runs_dir, config)
    try:
        start_round(session)
        why = run_round(session)
        yield Round(session, session.root, why)
    finally:
        session.shutdown()
        for k, v in old.items():
            os.environ.pop(k) if v is None else os.environ.__setitem__(k, v)


def test_round_ends_in_a_report_awaiting_review(first_round: Round) -> None:
    state = first_round.session.state
    assert first_round.why == "finished by the agent" and state.state == "awaiting_review"
    report = (first_round.root / "rounds/1/report.md").read_text()
    for heading in (
        "**Model:** scripted",
        "## Hypotheses tried",
        "## Results (holdout",
        "## What failed, and threats",
        "## Provenance",
        "## Proposed follow-ups",
    ):
        assert heading in report
    png = (first_round.root / "rounds/1/pgr.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000
    assert len(state.findings) >= 2 and state.proposals
    assert {e.record.method for e in state.holdout} >= {"naive", "logconf"}


def test_every_number_is_rebuilt_from_the_log(first_round: Round) -> None:
    result = replay_session(first_round.root)
    assert result.ok, result.mismatches
    assert result.reports_checked == ["rounds/1/report.md"] and result.records_rescored > 20


def test_records_cite_the_commit_holding_their_exact_cells(first_round: Round) -> None:
    state = first_round.session.state
    for entry in state.evaluations:
        exp = state.experiments[entry.experiment]
        shown = subprocess.run(
            [
                "git",
                "-C",
                str(first_round.root),
                "show",
                f"{entry.record.git_commit}:{exp.path}/cells.py",
            ],
            capture_output=True,
            check=True,
        ).stdout
        assert hashlib.sha256(shown).hexdigest() == entry.record.code_sha256
        assert entry.record.code_sha256 == cells_sha256(exp.cells)


def test_git_keeps_code_and_findings_not_arrays(first_round: Round) -> None:
    tracked = first_round.session.workspace.tracked()
    assert "rounds/1/report.md" in tracked and "events.jsonl" in tracked
    assert any(p.endswith("/cells.py") for p in tracked)
    assert any(p.endswith("/notebook.ipynb") for p in tracked)
    assert any(p.startswith("findings/") for p in tracked)
    assert any(p.startswith("proposals/") for p in tracked)
    assert not [p for p in tracked if p.endswith(".npy") or p.startswith("public/")]


def test_holdout_never_reaches_the_agent(first_round: Round) -> None:
    session = first_round.session
    holdout_ids = {e.record.id for e in session.state.holdout}
    seen = json.dumps(
        [e.data.model_dump(mode="json") for e in session.log.read() if e.kind == "tool"]
    )
    seen += (first_round.root / "rounds/1/messages.json").read_text()
    assert holdout_ids and not [i for i in holdout_ids if i in seen]
    assert "final_metrics" not in seen and '"split": "holdout"' not in seen
    results = tool_outcomes(session, "search_memory")
    assert results and all(r["notice"] == MEMORY_NOTICE for r in results)
    for r in results:
        assert all("final" not in json.dumps(h) for h in r["findings"])


def test_findings_are_in_the_memory_pending_with_holdout_numbers(first_round: Round) -> None:
    from aar.memory import FindingFilter, open_store

    stored = open_store(get_settings()).list_findings(
        FindingFilter(session_id=first_round.session.id)
    )
    assert {f.id for f in stored} == set(first_round.session.state.findings)
    assert all(f.review.status == "pending" and f.final_metrics is not None for f in stored)


def test_every_scored_method_and_task_has_a_finding_shown_or_withheld(first_round: Round):
    """The scripted researcher records a finding for each (method, task) it scored, whether or
    not the ladder showed a score; feedback metrics are None exactly when every cited score of
    the finding's method was withheld, and the report then says "withheld"."""
    import math

    state = first_round.session.state
    scored = {
        (e.record.method, e.record.task)
        for e in state.evaluations
        if e.round == 1 and state.experiments[e.experiment].hypothesis_id != BASELINES
    }
    found = {(f.method.split(" (")[0], t) for f in state.findings.values() for t in f.tasks}
    assert scored and scored <= found
    report = (first_round.root / "rounds/1/report.md").read_text()
    for f in state.findings.values():
        own = [state.record(i) for i in f.eval_record_ids]
        method = f.method.split(" (")[0]
        own = [e.record for e in own if e is not None and e.record.method == method]
        shown = [r.seed for r in own if math.isfinite(r.metrics.get("pgr_acc", math.nan))]
        if f.metrics is None:
            assert not shown and f.claimed_verdict == "inconclusive"
            assert f"{f.id}" in report and "test feedback withheld" in report
        else:
            assert f.metrics.seeds == sorted(set(shown))


def test_keys_are_never_logged_or_committed(first_round: Round) -> None:
    assert PLANTED_KEY not in all_text(first_round.root)


def test_a_second_session_picks_other_families(first_round: Round) -> None:
    first = {h.family for h in first_round.session.state.hypotheses.values()}
    second = Session.create(get_settings().runs_dir, SessionConfig(tasks=TASKS, seeds=[42, 43]))
    try:
        found = [second.views.search_memory("x", task=t, k=50) for t in TASKS]
        hits = [h.model_dump() for results in found for h in results.findings]
    finally:
        second.shutdown()
    assert not first & set(choose_families(hits, TASKS, 2))


def test_the_review_gate_refuses_every_bypass_then_runs_the_approval(first_round: Round):
    session, root, runs = first_round.session, first_round.root, get_settings().runs_dir
    proposal_id = session.state.proposals[0]
    path = root / "proposals" / f"{proposal_id}.json"
    proposal = read_proposal(path)

    with pytest.raises(AarError, match="waits for review"):  # resume while pending
        session.begin_followup_round()
    with pytest.raises(ToolError, match="no round is running"):  # the session API directly
        session.research.run_cell("print('not approved')")
    with pytest.raises(AarError, match="only in a follow-up round"):
        session.experiments.run_followup(proposal_id)

    approve(runs, proposal_id, "alice", "looks right")
    assert session.begin_followup_round() == [proposal_id]

    original = path.read_bytes()  # code edited after approval, hash recomputed to match
    edited = proposal.model_copy(update={"code": proposal.code + "\nprint('extra')\n"})
    edited = edited.model_copy(update={"sha256": hashlib.sha256(edited.code.encode()).hexdigest()})
    path.write_text(edited.model_dump_json())
    with pytest.raises(GateError, match=r"edited after approval|sha256"):
        run_round(session)
    path.write_bytes(original)

    audit = runs / "review-audit.jsonl"  # a forged approval line
    honest = audit.read_bytes()
    forged = json.loads(honest.splitlines()[-1])
    forged["seq"] += 1
    audit.write_bytes(honest + json.dumps(forged).encode() + b"\n")
    with pytest.raises(GateError):
        run_round(session)
    audit.write_bytes(honest)

    why = run_round(session)  # the approved follow-up, byte for byte
    assert why == "finished by the agent"
    ran = [e for e in session.state.experiments.values() if e.proposal_id == proposal_id]
    assert len(ran) == 1 and ran[0].cells == split_cells(proposal.code)
    round2 = [f for f in session.state.findings.values() if f.round == 2]
    assert round2 and replay_session(root).ok


def test_nothing_runs_once_the_session_is_closed(first_round: Round) -> None:
    """The follow-up round proposed nothing more, so its end closed the session for good
    (issue 22: a round without proposals leaves nothing a review could start)."""
    session = first_round.session
    assert not session.state.round.proposals and session.state.state == "closed"
    with pytest.raises(AarError, match="only in a follow-up round"):
        session.experiments.run_followup(session.state.proposals[0])
    with pytest.raises(ToolError):
        session.research.run_cell("print('after the end')")
    with pytest.raises(AarError, match="closed, not awaiting review"):
        session.begin_followup_round()
