"""A real team: a LocalCluster with 2 workers, the lead's scorer service and Chroma server, and
two scripted researchers, end to end to a team report and a leaderboard (offline)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest

from aar.config import get_settings
from aar.scorer import LedgerStore
from aar.session import EventLog, SessionConfig
from aar.team import (
    Team,
    TeamConfig,
    drive_team,
    leaderboard,
    open_team,
    resumable,
    start_team,
    team_status,
)
from aar.text import markdown_inline

pytestmark = pytest.mark.slow


def _config(researchers: int = 2, directions: list[str] | None = None) -> TeamConfig:
    session = SessionConfig(tasks=["digits-ge5"], seeds=[42, 43], hypotheses=1)
    return TeamConfig(researchers=researchers, directions=directions or [], session=session)


def _charged(account: str) -> int:
    """Charged test submissions of one account in the installation's ledger."""
    store = LedgerStore(get_settings().scorer.dir)
    return sum(
        1
        for task in ("digits-ge5",)
        for e in store.entries(task)
        if e.account == account and e.record.split == "test"
    )


def _researcher_process(session_id: str) -> psutil.Process | None:
    """The `aar resume SESSION` process a worker runs, if it runs now."""
    for proc in psutil.process_iter(["cmdline"]):
        cmd = proc.info["cmdline"] or []
        if "resume" in cmd and session_id in cmd:
            return proc
    return None


def _wait_for(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def test_a_team_on_a_local_cluster_survives_a_killed_worker(team_workspace: Path) -> None:
    """Two researchers on two workers; researcher 1's worker is killed (`kill -9`) during its
    first experiment. Its session is moved, resumes, and both rounds end: a team report, a
    leaderboard, each evaluation charged once, and one review list for the team."""
    runs = team_workspace / "runs"
    team = start_team(runs, _config(directions=["geometry: label propagation"]))
    ticks: list[float] = []
    lead = threading.Thread(
        target=drive_team,
        args=(team, runs),
        kwargs={"on_tick": lambda status: ticks.append(time.monotonic())},
        daemon=True,
    )
    lead.start()
    first = team.record.researchers[0].session_id

    def running_experiment() -> bool:
        state = EventLog(runs / first).state()
        return any(e.status == "running" for e in state.experiments.values())

    _wait_for(running_experiment, 300, "researcher 1's first experiment")
    child = _wait_for(lambda: _researcher_process(first), 30, "researcher 1's process")
    worker = child.parent()
    assert worker is not None and "python" in worker.name()
    os.kill(worker.pid, signal.SIGKILL)
    lead.join(timeout=600)
    assert not lead.is_alive()
    assert not child.is_running()

    events = team.events()
    assert [e.researcher for e in events if e.kind == "moved"] == [1]
    status = team_status(team, runs)
    assert status.finished and ticks
    assert [r.state for r in status.researchers] == ["awaiting_review", "awaiting_review"]
    assert [r.outcome for r in status.researchers] == ["round_ended", "round_ended"]
    assert [r.moves for r in status.researchers] == [1, 0]
    _check_sessions(team, runs)
    _check_report(team, runs)
    _review_the_team(team, runs)


def _check_sessions(team: Team, runs: Path) -> None:
    """Directed seeding, and every submission charged once by the team's scorer."""
    assert team.record.researchers[0].direction == "geometry: label propagation"
    assert not team.record.researchers[1].direction_given
    families = []
    for r in team.record.researchers:
        state = EventLog(runs / r.session_id).state()
        assert len(state.rounds) == 1 and state.rounds[0].ended
        families.append({h.family for h in state.hypotheses.values()} - {"control_hard_labels"})
        assert state.usage.evals == _charged(f"session:{r.session_id}") > 0
    assert families[0] and families[1] and not families[0] & families[1]


def _check_report(team: Team, runs: Path) -> None:
    report = team.report_path.read_text()
    for r in team.record.researchers:
        assert f"../../{r.session_id}/rounds/1/report.md" in report
    assert "## Moved sessions" in report and "- researcher 1," in report
    assert "distinct method families" in report
    board = leaderboard(runs)
    assert board.sessions_read == 2 and not board.skipped
    assert "## Leaderboard" in report
    for entry in board.entries():
        assert f"| {entry.task} | {markdown_inline(entry.method)} |" in report


def _review_the_team(team: Team, runs: Path) -> None:
    """One list holds the whole team's pending proposals; approving researcher 1's (bound to
    the exact code it shows) and rejecting researcher 2's makes only researcher 1 resumable."""
    listed = _aar("review", "list", "--team", team.id, "--status", "pending", "--json")
    out, _ = listed.communicate(timeout=120)
    items = json.loads(out)["items"]
    sessions = [r.session_id for r in team.record.researchers]
    assert {i["session_id"] for i in items} == set(sessions)
    for item in items:
        verdict = "approve" if item["session_id"] == sessions[0] else "reject"
        decided = _aar("review", verdict, item["id"], "--sha256", item["sha256"], "-m", "ok")
        assert decided.wait(timeout=120) == 0
    assert resumable(team, runs) == [1]


def _aar(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "aar", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=dict(os.environ) | {"COLUMNS": "200"},
    )


def _experiments_running(runs: Path, team_id: str) -> bool:
    team = open_team(runs, team_id)
    return all(
        any(
            e.status == "running"
            for e in EventLog(runs / r.session_id).state().experiments.values()
        )
        for r in team.record.researchers
    )


def test_the_lead_killed_then_stopped_then_resumed(team_workspace: Path) -> None:
    """`kill -9` of `aar team start` itself, `aar team resume`, `aar team stop` while it runs,
    and a last `aar team resume`: every session ends its round, each evaluation charged once."""
    runs = team_workspace / "runs"
    lead = _aar("team", "start", "-n", "2", "-t", "digits-ge5", "--seeds", "2", "--hypotheses", "1")
    team_dir = _wait_for(lambda: list((runs / "teams").glob("t-*")), 120, "the team directory")[0]
    _wait_for(
        lambda: _experiments_running(runs, team_dir.name), 300, "both researchers' experiments"
    )
    lead.kill()
    lead.wait()

    resumed = _aar("team", "resume", team_dir.name)
    team = open_team(runs, team_dir.name)
    _wait_for(lambda: len([e for e in team.events() if e.kind == "started"]) == 2, 120, "a resume")
    stop = _aar("team", "stop")
    assert stop.wait(timeout=60) == 0, stop.stdout.read() if stop.stdout else ""
    out, _ = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, out
    status = team_status(team, runs)
    stopped = [r for r in status.researchers if r.outcome == "interrupted"]
    assert stopped, status  # the stop came while they ran: resumable, not failed

    last = _aar("team", "resume")
    out, _ = last.communicate(timeout=600)
    assert last.returncode == 0, out
    status = team_status(team, runs)
    assert [r.state for r in status.researchers] == ["awaiting_review", "awaiting_review"], out
    assert status.finished and team.report_path.is_file()
    for r in team.record.researchers:
        state = EventLog(runs / r.session_id).state()
        assert len(state.rounds) == 1 and state.rounds[0].ended
        assert state.usage.evals == _charged(f"session:{r.session_id}")
