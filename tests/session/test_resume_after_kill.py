"""`aar resume` after `kill -9` in the middle of an experiment: nothing lost, nothing charged
twice, the interrupted experiment restarted (its completed cells run again)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from aar.session import EventLog, replay_session

pytestmark = pytest.mark.slow
AAR = [sys.executable, "-m", "aar"]


def _events(root: Path) -> list[dict]:
    path = root / "events.jsonl"
    if not path.exists():
        return []
    out = []
    for line in path.read_text().splitlines()[1:]:
        try:
            out.append(json.loads(line))
        except ValueError:
            break  # a line being written
    return out


def _in_second_experiment_cell(root: Path) -> bool:
    """A hypothesis experiment (not the baselines) has run a cell and evaluated nothing yet."""
    events = _events(root)
    started = [e["data"]["id"] for e in events if e["kind"] == "experiment_started"]
    if len(started) < 2:
        return False
    cells = [e for e in events if e["kind"] == "cell" and e["data"]["experiment"] == started[1]]
    return len(cells) >= 2


def test_kill_then_resume_loses_nothing(workspace: Path) -> None:
    env = dict(os.environ)
    run = subprocess.Popen(
        [*AAR, "run", "--task", "digits-ge5", "--seeds", "2", "--hypotheses", "2"],
        cwd=workspace,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    runs = workspace / "runs"
    deadline = time.monotonic() + 240
    root = None
    while time.monotonic() < deadline and run.poll() is None:
        found = [p for p in runs.glob("s-*") if p.is_dir()] if runs.exists() else []
        if found and _in_second_experiment_cell(found[0]):
            root = found[0]
            break
        time.sleep(0.05)
    assert root is not None, run.communicate(timeout=30)
    os.killpg(run.pid, signal.SIGKILL)
    run.wait(timeout=30)
    listed = subprocess.run(
        [*AAR, "sessions", "list", "--json"],
        cwd=workspace,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert json.loads(listed.stdout)[0]["state"] == "interrupted", listed  # not "running"
    before = EventLog(root).state()
    charged = before.usage.evals
    running = [e.id for e in before.experiments.values() if e.status == "running"]

    resumed = subprocess.run(
        [*AAR, "resume", root.name],
        cwd=workspace,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    state = EventLog(root).state()
    assert state.state == "awaiting_review" and state.rounds[0].why_ended == "finished by the agent"
    scored = Counter((e.record.method, e.record.task, e.record.seed) for e in state.evaluations)
    assert max(scored.values()) == 1, scored  # no evaluation charged twice
    assert state.usage.evals >= charged and state.usage.evals == len(state.evaluations)
    # Whatever the kill interrupted (almost always the hypothesis's experiment mid-cell) is
    # marked and restarted; nothing else is.
    interrupted = [e.id for e in state.experiments.values() if e.status == "interrupted"]
    assert interrupted == running and len(running) <= 1, (interrupted, running)
    notes = [e["data"]["message"] for e in _events(root) if e["kind"] == "note"]
    assert len([n for n in notes if n.startswith("restarting")]) == len(running)
    assert replay_session(root).ok
