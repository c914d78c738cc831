"""A session no process runs is listed as stopped, not "running" for ever; SIGTERM stops
`aar run` the way Ctrl-C does (logged, saved, resumable); the end-of-run hint says what is
true and prints each command whole.

Measured before: a run stopped by `timeout` (SIGTERM) or kill -9 listed as `running` for ever,
a round with no proposal still said "review it", and the hint wrapped mid-command at 80
columns.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from session_support import run_aar
from typer.testing import CliRunner

from aar.cli import app
from aar.config import get_settings
from aar.session import EventLog, Interrupted, Session, SessionConfig, writer_running

NARROW = {"COLUMNS": "80"}
SMALL = ("--task", "digits-ge5", "--seeds", "2", "--hypotheses", "1")


def _listed_state(workspace: Path, session_id: str) -> str:
    done = run_aar("sessions", "list", "--json", cwd=workspace)
    assert done.returncode == 0, done.stderr
    return next(s["state"] for s in json.loads(done.stdout) if s["id"] == session_id)


def test_a_running_session_whose_writer_is_gone_lists_as_interrupted(workspace: Path) -> None:
    session = Session.create(get_settings().runs_dir, SessionConfig(tasks=["digits-ge5"]))
    root = session.root
    lock_bytes = (root / "session.lock").read_bytes()
    assert writer_running(root)  # this process holds it: a live session stays "running"
    assert _listed_state(workspace, session.id) == "running"
    session.shutdown()  # what a kill does to the lock

    assert not writer_running(root)
    assert _listed_state(workspace, session.id) == "interrupted"
    shown = CliRunner().invoke(app, ["sessions", "show", session.id], env=NARROW)
    assert shown.exit_code == 0, shown.output
    assert f"aar resume {session.id}" in shown.stdout.splitlines()[1]
    assert EventLog(root).state().state == "running"  # the log itself is left as it was
    assert (root / "session.lock").read_bytes() == lock_bytes


def _in_a_cell(root: Path) -> bool:
    path = root / "events.jsonl"
    return path.exists() and '"kind":"cell"' in path.read_text().replace(" ", "")


def test_sigterm_stops_a_run_resumably(workspace: Path) -> None:
    run = subprocess.Popen(
        [sys.executable, "-m", "aar", "run", *SMALL],
        cwd=workspace,
        env=dict(os.environ) | NARROW,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    runs = workspace / "runs"
    deadline = time.monotonic() + 240
    root = None
    while time.monotonic() < deadline and run.poll() is None:
        found = [p for p in runs.glob("s-*") if p.is_dir()] if runs.exists() else []
        if found and _in_a_cell(found[0]):
            root = found[0]
            break
        time.sleep(0.05)
    assert root is not None, run.communicate(timeout=30)
    run.send_signal(signal.SIGTERM)  # what `timeout` and `kill` send, to aar alone
    _, err = run.communicate(timeout=120)
    assert run.returncode == 143, err
    assert f"aar resume {root.name}" in err
    stops = [e.data for e in EventLog(root).read() if isinstance(e.data, Interrupted)]
    assert [stop.where for stop in stops] == ["SIGTERM"]
    assert _listed_state(workspace, root.name) == "interrupted"

    resumed = run_aar("resume", root.name, cwd=workspace, env=NARROW, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert _listed_state(workspace, root.name) == "awaiting_review"
    lines = resumed.stdout.splitlines()
    assert f"review it:  aar review list --session {root.name}" in lines, lines
    assert f"then:       aar resume {root.name}" in lines, lines

    refused = run_aar("resume", root.name, cwd=workspace)  # its proposal is not decided yet
    err_lines = [ln for ln in refused.stderr.splitlines() if ln.strip()]
    assert refused.returncode != 0 and len(err_lines) == 1, refused.stderr
    assert err_lines[0].startswith("error: "), err_lines


@pytest.mark.parametrize("columns", ["80", "300"])
def test_a_round_with_no_proposal_closes_the_session(workspace: Path, columns: str) -> None:
    """Nothing can follow a round that proposed nothing: the session closes, and the end of
    the run offers no `aar resume` (issue 22)."""
    done = run_aar(
        "run",
        "--task",
        "digits-ge5",
        "--seeds",
        "2",
        "--budget-evals",
        "0",
        cwd=workspace,
        env={"COLUMNS": columns},
    )
    assert done.returncode == 3, done.stderr[-3000:]
    session_id = next(p.name for p in (workspace / "runs").glob("s-*"))
    lines = done.stdout.splitlines()
    assert not [ln for ln in lines if "review it" in ln], lines
    assert "round 1 proposed no follow-up; the session is closed" in lines, lines
    assert not [ln for ln in lines if "aar resume" in ln], lines
    shown = run_aar("sessions", "show", session_id, "--json", cwd=workspace)
    assert json.loads(shown.stdout)["state"] == "closed", shown.stderr


pytestmark = pytest.mark.slow
