"""The event log (fold, torn tail, one writer) and the budget checks."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from aar.errors import AarError
from aar.session import (
    BudgetExhausted,
    BudgetGuard,
    Budgets,
    Created,
    EventLog,
    ModelUsage,
    Note,
    RoundStarted,
    SessionBusyError,
    StateChanged,
    Usage,
)
from aar.session._config import SessionConfig
from aar.session._events import WriterLock


def _log(root: Path) -> EventLog:
    log = EventLog(root)
    log.append(Created(id="s-test", config=SessionConfig()))
    return log


def _append_line(root: Path, seq: int, kind: str, data: dict[str, object]) -> None:
    """A line no model of this aar would write (a newer aar's kind, unreadable data)."""
    path = root / "events.jsonl"
    if not path.exists():
        path.write_text('{"aar_log": "session-events", "version": 1}\n')
    line = {"seq": seq, "at": "2026-01-01T00:00:00Z", "kind": kind, "round": 0, "data": data}
    with path.open("a") as fh:
        fh.write(json.dumps(line) + "\n")


def test_fold_rebuilds_state_and_tolerates_a_torn_tail(tmp_path: Path) -> None:
    log = _log(tmp_path)
    log.append(RoundStarted(round_kind="research", followups=[]), round=1)
    log.append(ModelUsage(model="test", input_tokens=100, output_tokens=7, usd=0.01), round=1)
    log.append(StateChanged(state="awaiting_review", why="test"), round=1)
    with log.path.open("ab") as fh:
        fh.write(b'{"seq": 5, "kind": "mod')  # a crash mid-write
    state = EventLog(tmp_path).state()
    assert state.state == "awaiting_review" and state.round.kind == "research"
    assert (state.usage.requests, state.usage.tokens, state.usage.usd) == (1, 107, 0.01)
    again = EventLog(tmp_path)
    again.append(Note(message="after the crash"), round=1)
    assert [e.seq for e in again.read()] == [1, 2, 3, 4, 5]


def test_unknown_event_kind_is_a_clear_error(tmp_path: Path) -> None:
    _log(tmp_path)
    _append_line(tmp_path, 2, "teleport", {})
    with pytest.raises(AarError, match=r"unknown kind 'teleport' \(seq 2\)"):
        EventLog(tmp_path).state()


def test_a_creation_event_this_aar_cannot_read_is_a_clear_error(tmp_path: Path) -> None:
    config = SessionConfig().model_dump(mode="json") | {"hypotheses": 0}
    _append_line(tmp_path, 1, "created", {"id": "s-test", "config": config})
    with pytest.raises(AarError, match=r"creation event is not one this aar can read .*hypotheses"):
        EventLog(tmp_path).state()


def test_sessions_list_shows_a_damaged_session_beside_the_others(tmp_path: Path) -> None:
    import json
    import os

    runs = tmp_path / "runs"
    for name in ("s-20260101-000000-aaaaaa", "s-20260101-000001-bbbbbb"):
        (runs / name).mkdir(parents=True)
        log = _log(runs / name)
        log.append(Note(message="fine"))
    damaged = runs / "s-20260101-000001-bbbbbb" / "events.jsonl"
    lines = damaged.read_text().splitlines()
    damaged.write_text("\n".join([lines[0], "garbage", *lines[2:]]) + "\n")
    env = dict(os.environ, AAR_RUNS_DIR=str(runs))
    done = subprocess.run(
        [sys.executable, "-m", "aar", "sessions", "list", "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    listed = {row["id"]: row["state"] for row in json.loads(done.stdout)}
    # the readable one's log says running, and no process holds its writer lock: interrupted
    assert listed == {"s-test": "interrupted", "s-20260101-000001-bbbbbb": "unreadable"}
    assert done.stderr.count("warning: skipped session s-20260101-000001-bbbbbb") == 1


def test_one_writer_per_session(tmp_path: Path) -> None:
    lock = WriterLock(tmp_path)
    code = (
        "import sys; from pathlib import Path\n"
        "from aar.session._events import WriterLock\n"
        "from aar.session import SessionBusyError\n"
        "try:\n    WriterLock(Path(sys.argv[1]))\nexcept SessionBusyError as e:\n    print(e)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, timeout=60
    )
    assert "being run by another process" in out.stdout, out
    lock.release()
    WriterLock(tmp_path).release()
    assert issubclass(SessionBusyError, AarError)


@pytest.mark.parametrize(
    ("budgets", "usage", "check", "name"),
    [
        (Budgets(requests=3), Usage(requests=3), lambda g: g.before_request(10, None), "requests"),
        (
            Budgets(tokens=100),
            Usage(input_tokens=95),
            lambda g: g.before_request(10, None),
            "tokens",
        ),
        (Budgets(usd=1.0), Usage(usd=0.99), lambda g: g.before_request(10, 0.02), "usd"),
        (Budgets(tokens=100), Usage(input_tokens=101), lambda g: g.after_request(), "tokens"),
        (
            Budgets(sandbox_cpu_s=5),
            Usage(sandbox_cpu_s=5.0),
            lambda g: g.before_cell(),
            "sandbox_cpu_s",
        ),
    ],
)
def test_each_budget_raises_one_error(budgets, usage, check, name) -> None:
    with pytest.raises(BudgetExhausted) as info:
        check(BudgetGuard(budgets, usage))
    assert info.value.budget == name and info.value.exit_code == 1


def test_a_budget_stop_says_how_much_and_ends_the_round_as_a_budget_end() -> None:
    """One error for every budget (as Inspect AI's LimitExceededError): which budget, what
    was counted against it, and its limit; it is a `RoundOver` whose outcome is "budget"."""
    from aar.session import RoundOver

    with pytest.raises(BudgetExhausted) as info:
        BudgetGuard(Budgets(requests=4), Usage(requests=4)).before_request(10, None)
    stop = info.value
    assert (stop.budget, stop.used, stop.limit) == ("requests", 5, 4)
    assert isinstance(stop, RoundOver) and stop.outcome == "budget"
    assert stop.why == str(stop) == "request budget of 4 reached"


def test_wall_clock_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    guard = BudgetGuard(Budgets(minutes=1), Usage())
    guard.check_time()
    monkeypatch.setattr(guard, "_round_start", guard._round_start - 61)
    with pytest.raises(BudgetExhausted, match="1 minutes"):
        guard.check_time()


def test_opening_a_session_clears_the_index_lock_a_killed_git_left(workspace: Path) -> None:
    """`kill -9` of a run (its process group, git included) mid-commit leaves
    `.git/index.lock`; the writer lock proves nobody else commits, so open removes it and the
    resumed session can commit again (CI once failed `aar resume` on exactly this)."""
    from aar.config import get_settings
    from aar.session import Session

    runs = get_settings().runs_dir
    session = Session.create(runs, SessionConfig(tasks=["digits-ge5"], seeds=[42]))
    session_id = session.id
    session.shutdown()
    (runs / session_id / ".git" / "index.lock").write_text("")
    reopened = Session.open(runs, session_id)
    try:
        assert not (runs / session_id / ".git" / "index.lock").exists()
        (runs / session_id / "note.md").write_text("after the kill\n")
        assert reopened.commit("a commit after the kill") == reopened.workspace.head
    finally:
        reopened.shutdown()
