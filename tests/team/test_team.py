"""A real team: a LocalCluster with 2 workers, the lead's scorer service and Chroma server, and
two scripted researchers, end to end to a team report and a leaderboard (offline)."""

from __future__ import annotations

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
    TeamConfig,
    drive_team,
    leaderboard,
    open_team,
    start_team,
    team_status,
)
from aar.text import markdown_inline

pytestmark = pytest.mark.slow


def _config(researchers: int = 2, directions: list[str] | None = None) -> TeamConfig:
    session = SessionConfig(tasks=["digits-ge5"], seeds=[42, 43], hypotheses=2)
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


def test_two_researchers_run_a_round_each_to_a_team_report(team_workspace: Path) -> None:
    runs = team_workspace / "runs"
    team = start_team(runs, _config(directions=["geometry: label propagation"]))
    ticks = []
    drive_team(team, runs, on_tick=lambda: ticks.append(time.monotonic()))

    status = team_status(team, runs)
    assert status.finished
    assert [r.state for r in status.researchers] == ["awaiting_review", "awaiting_review"]
    assert [r.outcome for r in status.researchers] == ["round_ended", "round_ended"]
    # directed seeding: the given direction first, then a region no one has
    directions = [r.direction for r in team.record.researchers]
    assert directions[0] == "geometry: label propagation"
    assert not team.record.researchers[1].direction_given
    families = []
    for r in team.record.researchers:
        state = EventLog(runs / r.session_id).state()
        families.append({h.family for h in state.hypotheses.values()} - {"control_hard_labels"})
        # every submission went through the team's scorer, charged once to its session
        assert state.usage.evals == _charged(f"session:{r.session_id}") > 0
        assert (runs / r.session_id / "rounds" / "1" / "report.md").is_file()
    assert families[0] and families[1] and not families[0] & families[1]
    report = team.report_path.read_text()
    for r in team.record.researchers:
        assert f"../../{r.session_id}/rounds/1/report.md" in report
    assert "distinct method families" in report
    assert "No session was moved" in report
    assert ticks  # the live view was refreshed while researchers ran
    # the leaderboard reads the same sessions; the report shows the team's confirmed rows
    board = leaderboard(runs)
    assert board.sessions_read == 2 and not board.skipped
    assert "## Leaderboard" in report
    for entry in board.entries():
        assert f"| {entry.task} | {markdown_inline(entry.method)} |" in report


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


def test_a_worker_killed_mid_experiment_moves_its_researcher(team_workspace: Path) -> None:
    runs = team_workspace / "runs"
    team = start_team(runs, _config())
    lead = threading.Thread(target=drive_team, args=(team, runs), daemon=True)
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

    events = team.events()
    assert [e.researcher for e in events if e.kind == "moved"] == [1]
    status = team_status(team, runs)
    assert [r.state for r in status.researchers] == ["awaiting_review", "awaiting_review"]
    assert status.researchers[0].moves == 1
    # the session resumed on another worker and finished its round, nothing charged twice
    for r in team.record.researchers:
        state = EventLog(runs / r.session_id).state()
        assert state.rounds[-1].ended
        assert state.usage.evals == _charged(f"session:{r.session_id}")
    assert not child.is_running()
    report = team.report_path.read_text()
    assert "## Moved sessions" in report and "- researcher 1," in report


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
    lead = _aar("team", "start", "-n", "2", "-t", "digits-ge5", "--seeds", "2", "--hypotheses", "2")
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
