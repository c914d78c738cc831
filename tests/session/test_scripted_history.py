"""The scripted researcher chooses each call by replaying every result it got, so its history
is never condensed: a 7-task round of 4 searched hypotheses outgrew the context limit, its old
cell outputs became placeholders, and the replay failed on one (`'str' object has no attribute
'get'`). A round under a tiny limit now completes."""

from __future__ import annotations

from pathlib import Path

import pytest
from session_support import run_aar

pytestmark = pytest.mark.slow


def test_a_scripted_round_completes_under_a_tiny_context_limit(tmp_path: Path) -> None:
    done = run_aar(
        "run",
        "-t",
        "digits-ge5",
        "--seeds",
        "2",
        "--hypotheses",
        "2",
        cwd=tmp_path,
        env={"AAR_AGENT__HISTORY__MAX_TOKENS": "1000", "AAR_AGENT__HISTORY__KEEP_TURNS": "1"},
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "finished by the agent" in done.stdout
