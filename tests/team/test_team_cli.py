"""`aar team` refuses what it cannot run in one line, before a session or a cluster exists."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

CASES = [
    (["start", "-n", "0"], "--researchers must be between 1 and 64, got 0"),
    (
        ["start", "-n", "2", "-d", "label noise", "-d", "geometry", "-d", "ensemble"],
        "3 --direction options for 2 researcher(s)",
    ),
    (["start", "--budget-evals", "0"], "--budget-evals must be 1 or more, got 0"),
    (["start", "-d", "nonsense"], "names nothing the scripted researcher understands"),
    (["start", "-t", "nope"], "unknown task 'nope'"),
    (["status"], "no team under"),
    (["status", "t-bad"], "'t-bad' is not a team id"),
    (["resume", "t-20261207-000000-abcdef"], "no team t-20261207-000000-abcdef under"),
    (["stop", "../../etc"], "is not a team id"),
]


@pytest.mark.parametrize(("args", "message"), CASES)
def test_team_usage_errors_are_one_line(tmp_path: Path, args: list[str], message: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "aar", "team", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env=dict(os.environ) | {"AAR_RUNS_DIR": str(tmp_path / "runs"), "COLUMNS": "300"},
    )
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], done.stderr
    assert not (tmp_path / "runs" / "teams").exists()  # nothing was made
