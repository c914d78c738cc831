"""Real processes deciding at the same moment: exactly one decision counts, every attempt is
audited, and the chain still verifies."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from review_support import SESSION_A, make_proposal

from aar.review import AuditLog, item_history, list_items

WORKER = """
import json, os, sys, time
from pathlib import Path
from aar.review import AlreadyDecidedError, approve, reject
runs, item, verdict, reviewer, go = sys.argv[1:6]
Path(f"{go}.ready.{reviewer}").touch()
while not os.path.exists(go):
    time.sleep(0.001)
try:
    if verdict == "approve":
        approve(Path(runs), item, reviewer, "concurrent")
    else:
        reject(Path(runs), item, reviewer, "concurrent")
    print(json.dumps({"won": True}))
except AlreadyDecidedError as exc:
    print(json.dumps({"won": False, "error": str(exc)}))
"""


def start(runs: Path, item: str, verdict: str, reviewer: str, go: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", WORKER, str(runs), item, verdict, reviewer, str(go)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ),
    )


def race(runs: Path, attempts: list[tuple[str, str, str]], go: Path) -> list[dict]:
    """Start every (item, verdict, reviewer) in its own process; release them at once."""
    procs = [start(runs, *attempt, go) for attempt in attempts]
    deadline = time.monotonic() + 60
    while len(list(go.parent.glob(f"{go.name}.ready.*"))) < len(procs):
        assert time.monotonic() < deadline, "workers did not start"
        time.sleep(0.01)  # every interpreter has imported aar.review and polls for `go`
    go.touch()
    outcomes = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        outcomes.append(json.loads(out))
    return outcomes


@pytest.mark.slow
def test_concurrent_approve_and_reject_of_one_proposal(runs, tmp_path, key_file) -> None:
    """Four reviewers, two approving and two rejecting, on a fresh installation (the key is
    made by whichever decision comes first): one wins, three are refused and audited."""
    p = make_proposal(runs)
    attempts = [
        (p.id, "approve", "ana"),
        (p.id, "reject", "bob"),
        (p.id, "approve", "cy"),
        (p.id, "reject", "dee"),
    ]
    outcomes = race(runs, attempts, tmp_path / "go")
    assert sum(o["won"] for o in outcomes) == 1, outcomes
    assert all("the first decision counts" in o["error"] for o in outcomes if not o["won"])
    history = item_history(runs, p.id)
    assert len(history) == 4
    assert [r.outcome for r in history] == ["recorded", "refused", "refused", "refused"]
    assert sorted(r.decision.reviewer for r in history) == ["ana", "bob", "cy", "dee"]
    winner = attempts[[o["won"] for o in outcomes].index(True)]
    assert history[0].decision.reviewer == winner[2]
    report = AuditLog(runs).verify()
    assert report.ok and report.records == 4
    assert key_file.exists()


@pytest.mark.slow
def test_concurrent_decisions_on_different_proposals_keep_one_chain(runs, tmp_path) -> None:
    proposals = [make_proposal(runs, code=f"# %%\nprint({n})\n") for n in range(4)]
    outcomes = race(
        runs, [(p.id, "approve", f"r{n}") for n, p in enumerate(proposals)], tmp_path / "go"
    )
    assert all(o["won"] for o in outcomes)
    report = AuditLog(runs).verify()
    assert report.ok and report.records == 4
    assert {i.status for i in list_items(runs, session_id=SESSION_A)} == {"approved"}
