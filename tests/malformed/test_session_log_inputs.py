"""Issue 18's sweep cases on a session directory: a damaged log, report or finding is named by
`aar replay` (never "every number matches"), a torn last line is recovered by `aar resume`
with nothing lost, and a session whose creation was interrupted is listed, not hidden.

One real session (one task, two seeds, a scripted researcher that records a finding) is made
once per module and copied for each test.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from malformed_support import Outcome, assert_one_error_line, run_cli, snapshot

pytestmark = pytest.mark.slow


def _records_a_finding():  # type: ignore[no-untyped-def]
    """A scripted researcher that records one finding on the session's naive baseline (its
    records are the first of their pool, so the scorer shows their scores)."""
    tasks = yield ("list_tasks", {})
    naive = tasks["baselines"]["naive"]["digits-ge5"]
    hyp = yield (
        "propose_hypothesis",
        {"statement": "naive training recovers part of the gap", "method": "naive"},
    )
    yield (
        "record_finding",
        {
            "hypothesis_id": hyp["id"],
            "summary": "naive training recovered part of the gap",
            "verdict": "inconclusive",
            "eval_record_ids": naive["record_ids"],
        },
    )
    yield ("finish_round", {"summary": "one finding on the baseline"})


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A finished round-1 session (awaiting review) holding one finding."""
    from aar.agent import run_round, script_model, start_round
    from aar.config import get_settings
    from aar.session import Session, SessionConfig

    root = tmp_path_factory.mktemp("made")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AAR_RUNS_DIR", str(root / "runs"))
        mp.setenv("AAR_MEMORY_PATH", str(root / "memory"))
        mp.setenv("AAR_SCORER__DIR", str(root / "scorer"))  # a fresh ledger: baselines shown
        get_settings.cache_clear()
        config = SessionConfig(tasks=["digits-ge5"], seeds=[42, 43], hypotheses=1)
        session = Session.create(get_settings().runs_dir, config)
        try:
            start_round(session)
            run_round(session, model=script_model(_records_a_finding, session.round_number))
        finally:
            session.shutdown()
    get_settings.cache_clear()
    assert session.state.findings, "the scripted researcher recorded no finding"
    yield session.root


@pytest.fixture
def session(made: Path, workspace: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the made session under this test's runs directory."""
    runs = workspace / "runs"
    runs.mkdir()
    copy = runs / made.name
    shutil.copytree(made, copy, symlinks=True)
    monkeypatch.setenv("AAR_RUNS_DIR", str(runs))
    monkeypatch.setenv("AAR_MEMORY_PATH", str(workspace / "memory"))
    return copy


def _replay(session: Path, *extra: str) -> Outcome:
    return run_cli(("replay", session.name, *extra))


def _lines(session: Path) -> list[bytes]:
    return (session / "events.jsonl").read_bytes().splitlines(keepends=True)


def _assert_mismatch(outcome: Outcome, what: str) -> None:
    assert "Traceback" not in outcome.stderr, outcome.stderr
    assert outcome.exit_code == 1, outcome
    assert what in outcome.stderr, outcome.stderr
    assert "every number matches" not in outcome.stdout


def test_the_made_session_replays(session: Path) -> None:
    outcome = _replay(session, "--no-rescore")
    assert outcome.exit_code == 0, outcome
    assert "1 report(s) rebuilt" in outcome.stdout and "every number matches" in outcome.stdout
    assert list((session / "findings").glob("f-*.json"))


def test_replay_with_experiments_deleted_says_what_it_could_not_check(session: Path) -> None:
    """Was a FileNotFoundError traceback."""
    shutil.rmtree(session / "experiments")
    before = snapshot(session)
    outcome = _replay(session)
    assert "Traceback" not in outcome.stderr, outcome.stderr
    assert outcome.exit_code == 0, outcome
    assert "could not be scored again (their predictions are not on disk)" in outcome.stdout
    assert "every number matches" not in outcome.stdout
    assert snapshot(session) == before


def test_replay_without_rounds_cannot_say_every_number_matches(session: Path) -> None:
    shutil.rmtree(session / "rounds")
    _assert_mismatch(
        _replay(session, "--no-rescore"), "rounds/1/report.md is missing: round 1 ended"
    )


def test_a_truncated_report_json_is_a_mismatch(session: Path) -> None:
    path = session / "rounds" / "1" / "report.json"
    path.write_bytes(path.read_bytes()[:200])
    _assert_mismatch(_replay(session, "--no-rescore"), "rounds/1/report.json differs")


def test_a_truncated_finding_is_a_mismatch(session: Path) -> None:
    (path,) = (session / "findings").glob("f-*.json")
    path.write_bytes(path.read_bytes()[:100])
    _assert_mismatch(
        _replay(session, "--no-rescore"), f"findings/{path.name} is truncated or not a finding"
    )


def test_an_edited_finding_is_a_mismatch(session: Path) -> None:
    (path,) = (session / "findings").glob("f-*.json")
    data = json.loads(path.read_text())
    data["summary"] += " (and it was great)"
    path.write_text(json.dumps(data, indent=2) + "\n")
    _assert_mismatch(_replay(session, "--no-rescore"), "differs from the finding the log holds")


@pytest.mark.parametrize("where", ["deleted", "duplicated"])
def test_a_deleted_or_duplicated_event_is_refused(session: Path, where: str) -> None:
    lines = _lines(session)
    mid = len(lines) // 2
    if where == "deleted":
        del lines[mid]
    else:
        lines.insert(mid, lines[mid])
    (session / "events.jsonl").write_bytes(b"".join(lines))
    before = snapshot(session)
    for args in (("replay", session.name, "--no-rescore"), ("resume", session.name)):
        line = assert_one_error_line(
            run_cli(args), 1, "session log events.jsonl is damaged: event \\d+ "
        )
        assert ("is missing" if where == "deleted" else "appears again") in line
    listed = json.loads(run_cli(("sessions", "list", "--json")).stdout)
    assert [row["state"] for row in listed] == ["unreadable"]
    assert snapshot(session) == before


def test_a_deleted_last_event_is_a_mismatch(session: Path) -> None:
    """No gap in the numbers, but the copy committed at the last step has the line."""
    (session / "events.jsonl").write_bytes(b"".join(_lines(session)[:-1]))
    _assert_mismatch(_replay(session, "--no-rescore"), "does not begin with the copy committed")


def test_a_torn_last_line_is_recovered_by_resume(session: Path) -> None:
    """A crash mid-write of the round's last event left the session "running" for ever, and
    `aar resume` refused it. Resume now moves the torn bytes to events.jsonl.torn, notes it,
    and finishes the round's end; replay then passes."""
    lines = _lines(session)
    torn = lines[-1][:40]
    (session / "events.jsonl").write_bytes(b"".join(lines[:-1]) + torn)
    listed = json.loads(run_cli(("sessions", "list", "--json")).stdout)
    assert listed[0]["state"] == "interrupted"  # its log says "running"; no process runs it
    outcome = run_cli(("resume", session.name))
    assert outcome.exit_code == 0, outcome
    assert "Traceback" not in outcome.stderr
    assert "round 1 ended" in outcome.stdout
    assert (session / "events.jsonl.torn").read_bytes() == torn + b"\n"
    listed = json.loads(run_cli(("sessions", "list", "--json")).stdout)
    assert listed[0]["state"] == "closed"  # its round proposed nothing (issue 22)
    events = [json.loads(line) for line in _lines(session)[1:]]
    assert any("torn by a crash" in (e["data"].get("message") or "") for e in events)
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    replayed = _replay(session, "--no-rescore")
    assert replayed.exit_code == 0, replayed


def test_an_interrupted_creation_is_listed_as_incomplete(session: Path) -> None:
    """Ctrl-C during `aar run`'s creation left a directory no command showed."""
    half = session.parent / "s-20260101-000000-abcdef"
    half.mkdir()
    (half / "session.json").write_text("{}\n")
    begun = session.parent / "s-20260101-000001-abcdef"
    begun.mkdir()
    (begun / "events.jsonl").write_text('{"aar_log": "session-events", "version": 1}\n')
    listed = run_cli(("sessions", "list", "--json"))
    assert listed.exit_code == 0, listed
    states = {row["id"]: row["state"] for row in json.loads(listed.stdout)}
    assert states == {
        session.name: "closed",  # its round proposed nothing (issue 22)
        half.name: "incomplete",
        begun.name: "incomplete",
    }
    assert_one_error_line(run_cli(("sessions", "show", half.name)), 2, "is incomplete")


def test_a_finding_file_an_older_aar_left_still_replays(session: Path) -> None:
    """Older sessions kept each finding's file as it was recorded (the round's end did not
    rewrite it with holdout metrics): that file is the log's finding too."""
    from aar.memory import Finding

    (path,) = (session / "findings").glob("f-*.json")
    events = [json.loads(line) for line in _lines(session)[1:]]
    (recorded,) = [e["data"]["finding"] for e in events if e["kind"] == "finding"]
    as_recorded = Finding.model_validate(recorded)
    assert as_recorded != Finding.model_validate_json(path.read_text())  # the end changed it
    path.write_text(as_recorded.model_dump_json(indent=2) + "\n")
    outcome = _replay(session, "--no-rescore")
    assert outcome.exit_code == 0, outcome
