"""`aar run --base-url` with a USD budget: a local server is priced only by the price table."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

AAR = [sys.executable, "-m", "aar"]
DEAD = "http://127.0.0.1:9/v1"
"""Nothing listens there: a run that gets past the price check stops at the endpoint check."""


def _run(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("OPENAI_API_KEY", "OPENAI_BASE_URL")}
    return subprocess.run(
        [*AAR, "run", *args], capture_output=True, text=True, timeout=120, cwd=cwd, env=env
    )


def test_a_usd_budget_for_a_local_model_named_like_openais_is_refused(workspace: Path) -> None:
    done = _run(workspace, "--model", "openai:gpt-4o", "--base-url", DEAD, "--budget-usd", "1")
    lines = [ln for ln in done.stderr.splitlines() if ln.strip()]
    assert done.returncode == 2 and len(lines) == 1, done.stderr
    assert "--budget-usd needs a price for openai:gpt-4o" in lines[0]


def test_a_configured_price_lets_it_run(workspace: Path) -> None:
    (workspace / "aar.toml").write_text(
        '[agent.prices."openai:gpt-4o"]\ninput_usd_per_mtok = 0\noutput_usd_per_mtok = 0\n'
    )
    done = _run(workspace, "--model", "openai:gpt-4o", "--base-url", DEAD, "--budget-usd", "1")
    assert done.returncode == 2 and "cannot reach the model at " + DEAD in done.stderr
