"""A session made by the aar before issue 18 (protocol 1: rounded per-seed feedback, bootstrap
verdicts, kernel methods apart from the bench's) still lists, shows and replays what can be
checked; it cannot continue under this aar's evaluator, and says so in one line.

The fixture is a real session directory written by commit 5673391 (`aar run --task digits-ge5
--seeds 2 --hypotheses 2`), its git history included, its scratch and public export left out.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from session_support import run_aar, unpack_session

from aar.session import PROTOCOL, EventLog, replay_session

FIXTURE = Path(__file__).parent / "data" / "protocol1-session.tar.gz"
SESSION = "s-20261207-121425-d6ad70"


@pytest.fixture
def old_session(workspace: Path) -> Path:
    return unpack_session(FIXTURE, SESSION, workspace / "runs")


def test_the_log_of_an_old_session_folds_under_protocol_1(old_session: Path) -> None:
    state = EventLog(old_session).state()
    assert state.protocol == 1 != PROTOCOL
    assert state.state == "awaiting_review" and len(state.rounds) == 1
    assert state.evaluations and state.holdout and state.findings


def test_replay_checks_the_log_and_says_what_it_cannot_rebuild(old_session: Path) -> None:
    result = replay_session(old_session)
    assert result.ok, result.mismatches
    assert result.findings_checked == len(EventLog(old_session).state().findings)
    (line,) = result.not_checked
    assert "protocol 1" in line and f"protocol {PROTOCOL}" in line
    assert result.reports_checked == [] and result.records_rescored == 0


def test_replay_still_finds_a_damaged_old_finding(old_session: Path) -> None:
    finding = next((old_session / "findings").glob("*.json"))
    finding.write_text(finding.read_text()[:40])
    assert any("truncated" in m for m in replay_session(old_session).mismatches)


def test_old_sessions_list_show_and_replay_but_do_not_resume(workspace: Path, old_session) -> None:
    listed = run_aar("sessions", "list", "--json", cwd=workspace)
    assert listed.returncode == 0 and SESSION in listed.stdout, listed.stderr
    shown = run_aar("sessions", "show", SESSION, cwd=workspace)
    assert shown.returncode == 0 and "awaiting_review" in shown.stdout, shown.stderr
    replayed = run_aar("replay", SESSION, cwd=workspace)
    assert replayed.returncode == 0, replayed.stderr
    assert "not checked: the session ran under protocol 1" in replayed.stdout
    assert "every number matches" not in replayed.stdout
    before = (old_session / "events.jsonl").read_bytes()
    resumed = run_aar("resume", SESSION, cwd=workspace)
    lines = [ln for ln in resumed.stderr.splitlines() if ln.strip()]
    assert resumed.returncode == 2 and "Traceback" not in resumed.stderr, resumed.stderr
    assert len(lines) == 1 and "made under protocol 1" in lines[0], lines
    assert (old_session / "events.jsonl").read_bytes() == before
