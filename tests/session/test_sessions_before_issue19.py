"""A session made by the aar before issue 19's refactor (typed events, the split `Session`)
still lists, shows, replays, takes a review decision and resumes under this aar.

The fixture is a real session directory written by commit 79137f5 (`aar run --task
digits-ge5 --seeds 2 --hypotheses 2`), its git history included; like a git copy of it, it
lacks what git ignores (the public export, each experiment's scratch and task files). Its
task key ships beside it: a key made for this fixture only, never a user's. Resuming rebuilds
the public export from that key and checks it against the hashes the session logged.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from session_support import run_aar, unpack_session

from aar.session import PROTOCOL, EventLog

DATA = Path(__file__).parent / "data"
SESSION = "s-20261207-143337-b8a10a"
PROPOSAL = "p-6f10761931ba"


@pytest.fixture
def old_session(workspace: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    key = workspace / "fixture-task-key"
    shutil.copyfile(DATA / "protocol2-session.key", key)
    key.chmod(0o600)
    monkeypatch.setenv("AAR_BENCH__KEY_FILE", str(key))  # inherited by the CLI below
    return unpack_session(DATA / "protocol2-session.tar.gz", SESSION, workspace / "runs")


def test_the_log_folds_under_this_protocol(old_session: Path) -> None:
    state = EventLog(old_session).state()
    assert state.protocol == PROTOCOL
    assert state.state == "awaiting_review" and len(state.rounds) == 1
    assert state.rounds[0].why_ended == "finished by the agent"
    assert state.evaluations and state.holdout and state.findings
    assert state.proposals == [PROPOSAL]


def test_it_lists_shows_and_replays(workspace: Path, old_session: Path) -> None:
    listed = run_aar("sessions", "list", "--json", cwd=workspace)
    assert listed.returncode == 0 and SESSION in listed.stdout, listed.stderr
    shown = run_aar("sessions", "show", SESSION, cwd=workspace)
    assert shown.returncode == 0 and "awaiting_review" in shown.stdout, shown.stderr
    replayed = run_aar("replay", SESSION, cwd=workspace)
    assert replayed.returncode == 0, replayed.stdout + replayed.stderr
    assert "every number that could be checked matches" in " ".join(replayed.stdout.split())


@pytest.mark.slow
def test_it_takes_a_decision_and_resumes(workspace: Path, old_session: Path) -> None:
    pending = run_aar("review", "list", "--session", SESSION, "--json", cwd=workspace)
    (item,) = json.loads(pending.stdout)["items"]
    assert item["id"] == PROPOSAL and item["status"] == "pending"
    approved = run_aar("review", "approve", PROPOSAL, "--sha256", item["sha256"], cwd=workspace)
    assert approved.returncode == 0, approved.stderr

    resumed = run_aar("resume", SESSION, cwd=workspace)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "round 2 ended" in resumed.stdout
    assert (old_session / "public" / "index.json").is_file()  # rebuilt, hashes checked
    state = EventLog(old_session).state()
    assert [r.number for r in state.rounds] == [1, 2]
    assert state.rounds[1].followups == [PROPOSAL]
    replayed = run_aar("replay", SESSION, cwd=workspace)
    assert replayed.returncode == 0, replayed.stdout + replayed.stderr


def test_a_public_export_rebuilt_from_another_key_is_refused(
    workspace: Path, old_session: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The session's key id is checked first; with a key that passes that check but an export
    that does not match the logged hashes (here: a logged hash changed), nothing runs."""
    events = old_session / "events.jsonl"
    lines = events.read_text().splitlines(keepends=True)
    created = json.loads(lines[1])  # line 0 is the log's header
    assert created["kind"] == "created"
    first = sorted(created["data"]["public"])[0]
    created["data"]["public"][first] = "0" * 64
    lines[1] = json.dumps(created, separators=(",", ":")) + "\n"
    events.write_text("".join(lines))
    before = events.read_bytes()

    resumed = run_aar("resume", SESSION, cwd=workspace)
    errors = [ln for ln in resumed.stderr.splitlines() if ln.strip()]
    assert resumed.returncode != 0 and "Traceback" not in resumed.stderr, resumed.stderr
    assert any("differs from the files it logged" in ln for ln in errors), errors
    assert not (old_session / "public").exists()
    assert events.read_bytes() == before
