"""The leaderboard over real sessions: one scripted round whose screened comparisons the session
re-ran on fresh seeds and decided on holdout, an archived session from before verdicts were
decided (its finding claims 'supported', no holdout test decided it), and a session whose log
is damaged. Only what a session decided on holdout is on the board, with the holdout records'
numbers; the damaged one is a note; nothing under the runs directory changes.

As in tests/session/test_confirmation.py, the screen is opened wide and the scorer's ladder
step made tiny (the test is about the machinery); 8 fresh seeds give the confirmation enough
power that the round decides some comparisons (asserted, not assumed).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from aar.bench import t_interval
from aar.config import get_settings
from aar.session import EventLog, SessionState
from aar.team import Leaderboard, LeaderboardEntry, leaderboard

pytestmark = pytest.mark.slow
DATA = Path(__file__).parents[1] / "session" / "data"
OLD = "s-20261207-121425-d6ad70"
"""protocol 1: its finding of logconf says 'supported' with no verdict basis (a claim)."""
DAMAGED = "s-20261207-235959-dead00"


def _unpack_old(runs: Path) -> None:
    with tarfile.open(DATA / "protocol1-session.tar.gz") as tar:
        members = tar.getmembers()
        assert all(m.name.startswith(OLD) and ".." not in m.name for m in members)
        assert all(m.isfile() or m.isdir() for m in members)
        tar.extractall(runs, members=members)  # names and kinds checked just above


def _damage(source: Path, runs: Path) -> None:
    """A session whose log lost a line's integrity in the middle (not a torn tail)."""
    lines = (source / "events.jsonl").read_text().splitlines(keepends=True)
    lines[3] = lines[3][: len(lines[3]) // 2] + "\n"
    (runs / DAMAGED).mkdir()
    (runs / DAMAGED / "events.jsonl").write_text("".join(lines))


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    import aar.session._confirm as confirm
    import aar.session._verdicts as verdicts
    from aar.agent import run_round, start_round
    from aar.session import Session, SessionConfig

    root = tmp_path_factory.mktemp("board")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AAR_RUNS_DIR", str(root / "runs"))
        mp.setenv("AAR_MEMORY_PATH", str(root / "memory"))
        mp.delenv("AAR_REVIEW__REVIEWERS", raising=False)
        mp.setenv("AAR_SCORER__LADDER_STEP", "0.000001")
        mp.setenv("AAR_SCORER__LADDER_SCALE", "0")
        get_settings.cache_clear()
        mp.setattr(confirm, "CONFIRM_SEEDS", 8)
        mp.setattr(verdicts, "RULE", verdicts.RULE.model_copy(update={"screen_level": 1.0}))
        config = SessionConfig(tasks=["digits-ge5"], seeds=[42, 43, 44], hypotheses=2)
        session = Session.create(get_settings().runs_dir, config)
        try:
            start_round(session)
            run_round(session)
        finally:
            session.shutdown()
        _unpack_old(root / "runs")
        _damage(session.root, root / "runs")
        yield root / "runs"
    get_settings.cache_clear()


def _fresh(runs: Path) -> tuple[SessionState, Path]:
    root = next(p for p in runs.glob("s-*") if p.name not in (OLD, DAMAGED))
    return EventLog(root).state(), root


def _report(root: Path) -> dict:
    return json.loads((root / "rounds" / "1" / "report.json").read_text())


def _tree(runs: Path) -> dict[str, str]:
    """Every file under the runs directory and its sha256 (git objects included)."""
    return {
        str(p.relative_to(runs)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(runs.rglob("*"))
        if p.is_file() and not p.is_symlink()
    }


def test_the_methods_the_session_confirmed_are_on_the_board_with_their_holdout(
    runs: Path,
) -> None:
    state, root = _fresh(runs)
    board = leaderboard(runs)
    mine = [e for e in board.entries() if e.session_id == state.id]
    supported = {v["method"] for v in _report(root)["verdicts"] if v["verdict"] == "supported"}
    assert supported, "the round decided nothing: the board has nothing to show"
    assert {e.method for e in mine} == supported
    confirm_rows = {r["method"]: r for r in _report(root)["rows"] if r["role"] == "confirmation"}
    for e in mine:
        holdout = [h for h in state.holdout if h.experiment == e.experiment]
        records = [h.record for h in holdout if h.record.method == e.method]
        pgr = [r.metrics["pgr_acc"] for r in records]
        assert e.n_seeds == len(records) == 8 and e.fresh_seeds
        assert e.seeds == sorted(r.seed for r in records)
        assert not set(e.seeds) & {x.record.seed for x in state.evaluations}  # never screened
        assert e.pgr_mean == pytest.approx(sum(pgr) / len(pgr))
        assert e.pgr_ci == pytest.approx(t_interval(pgr))
        assert e.pgr_ci[0] < e.pgr_mean < e.pgr_ci[1]
        assert e.vs_naive is not None and e.vs_naive.mean > 0
        assert [e.vs_naive.mean, *e.vs_naive.ci] == pytest.approx(
            confirm_rows[e.method]["vs_naive"]
        )
        assert e.code_sha256 == records[0].code_sha256 and e.record_ids == [r.id for r in records]
        assert (root / e.script).is_file() and e.round == 1
    # a finding of a confirmed method is linked, with the session's Holm-adjusted p and config
    linked = [e for e in mine if e.finding_id]
    assert linked
    for e in linked:
        f = state.findings[e.finding_id]  # type: ignore[index]
        assert f.verdict == "supported" and f.verdict_basis is not None
        assert e.vs_naive is not None and e.vs_naive.adjusted_p == f.verdict_basis.adjusted_p
        assert e.config == f.config
    # best first
    means = [e.pgr_mean for e in board.tasks[0].entries]
    assert means == sorted(means, reverse=True)


def test_unconfirmed_claims_and_test_only_results_are_not_on_the_board(runs: Path) -> None:
    state, root = _fresh(runs)
    board = leaderboard(runs)
    not_decided = {v["method"] for v in _report(root)["verdicts"] if v["verdict"] != "supported"}
    assert not_decided, "the round decided everything: no negative case to check"
    assert not not_decided & {e.method for e in board.entries()}
    # the old session's finding claims 'supported' (no holdout test decided it): not shown
    old = EventLog(runs / OLD).state()
    assert any(f.verdict == "supported" and f.verdict_basis is None for f in old.findings.values())
    assert OLD not in {e.session_id for e in board.entries()}
    assert board.sessions_read == 2
    # every number on the board is a holdout record's, never test feedback
    for e in board.entries():
        for rid in e.record_ids:
            entry = state.record(rid)
            assert entry is not None and entry.record.split == "holdout"


def test_a_damaged_log_is_a_note_and_nothing_is_modified(runs: Path) -> None:
    before = _tree(runs)
    board = leaderboard(runs)
    (note,) = board.skipped
    assert note.session_id == DAMAGED and "line" in note.reason and note.path.endswith(DAMAGED)
    assert board.entries()  # the other sessions are still on the board
    assert leaderboard(runs, task="no-such-task").tasks == []
    assert _tree(runs) == before


def test_the_cli_prints_the_model_as_json_and_a_table(runs: Path) -> None:
    before = _tree(runs)
    env = dict(os.environ) | {"COLUMNS": "200"}
    cmd = [sys.executable, "-m", "aar", "leaderboard", "--runs", str(runs)]
    got = subprocess.run([*cmd, "--json"], capture_output=True, text=True, env=env, timeout=120)
    assert got.returncode == 0, got.stderr
    parsed = Leaderboard.model_validate_json(got.stdout)
    assert parsed == leaderboard(runs)
    assert f"skipped session {DAMAGED}" in " ".join(got.stderr.split())
    table = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120)
    assert table.returncode == 0, table.stderr
    best = parsed.tasks[0].entries[0]
    assert best.method in table.stdout and best.session_id in table.stdout
    assert "confirmed on holdout" in table.stdout
    only = subprocess.run(
        [*cmd, "--json", "--task", "no-such-task"], capture_output=True, text=True, env=env
    )
    assert Leaderboard.model_validate_json(only.stdout).tasks == []
    assert _tree(runs) == before


HOSTILE = "<script>alert(1)</script>"


def _hostile(board: Leaderboard) -> Leaderboard:
    """The board with agent-written fields a hostile model could fill (a config it named, a
    method name another aar allowed, a finding id) set to markup."""
    board = board.model_copy(deep=True)
    first: LeaderboardEntry = board.tasks[0].entries[0]
    first.method = HOSTILE
    first.config_text = '<img src=x onerror="alert(2)">'
    first.finding_id = '"><script>alert(3)</script>'
    return board


def test_the_page_links_session_finding_and_code_and_escapes_agent_text(runs: Path) -> None:
    from fastapi.testclient import TestClient

    from aar.web import WebConfig, create_app

    before = _tree(runs)
    board = leaderboard(runs)
    client = TestClient(create_app(WebConfig(runs_dir=runs, leaderboard=leaderboard)))
    page = client.get("/leaderboard")
    assert page.status_code == 200
    assert 'href="/leaderboard"' in client.get("/").text  # in the nav
    for e in board.entries():
        session = f"/sessions/{e.session_id}"
        record = f"{session}/records/{e.record_ids[0]}"
        for link in (session, f"{session}/rounds/{e.round}", record):
            assert f'href="{link}"' in page.text
            assert client.get(link).status_code == 200
        assert f"{e.pgr_mean:.3f} [{e.pgr_ci[0]:.3f}, {e.pgr_ci[1]:.3f}]" in page.text
        if e.finding_id:
            assert f'href="/findings/{e.finding_id}"' in page.text
            assert client.get(f"/findings/{e.finding_id}").status_code == 200
    code = client.get(
        f"/sessions/{board.entries()[0].session_id}/records/{board.entries()[0].record_ids[0]}"
    )
    assert "aar_kernel" in code.text  # the record page shows the code that produced it
    assert DAMAGED in page.text  # the skip note
    bad = TestClient(create_app(WebConfig(runs_dir=runs, leaderboard=lambda r: _hostile(board))))
    text = bad.get("/leaderboard").text
    assert "<script>" not in text and "<img" not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text and "&lt;img src=x" in text
    assert 'href="/findings/%22%3E%3Cscript%3Ealert%283%29%3C/script%3E"' in text
    assert _tree(runs) == before
    assert not math.isnan(board.entries()[0].pgr_mean)
