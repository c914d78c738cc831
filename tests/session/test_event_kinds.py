"""The typed event log keeps the on-disk format: every line of a session written before events
had types reads as its kind's model and dumps back with the same data keys, in the same order
(a key an older aar did not write stays absent), and a line this aar cannot read is one clear
error naming the event."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import pytest

from aar.errors import AarError
from aar.session import (
    KINDS,
    Created,
    EventLog,
    ExperimentEnded,
    RoundStarted,
    SessionConfig,
)

DATA = Path(__file__).parent / "data"
FIXTURES = {  # archive -> the session inside it
    "protocol1-session.tar.gz": "s-20261207-121425-d6ad70",
    "protocol2-session.tar.gz": "s-20261207-143337-b8a10a",
}


def _events_file(tmp_path: Path, archive: str) -> Path:
    """Only the fixture's events.jsonl, unpacked (reading a log needs nothing else)."""
    name = f"{FIXTURES[archive]}/events.jsonl"
    with tarfile.open(DATA / archive) as tar:
        member = tar.getmember(name)
        assert member.isfile()
        tar.extractall(tmp_path, members=[member])  # one regular file, its name checked
    return tmp_path / name


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()[1:]]  # after the header


@pytest.mark.parametrize("archive", sorted(FIXTURES))
def test_every_logged_event_dumps_back_with_its_keys(tmp_path: Path, archive: str) -> None:
    path = _events_file(tmp_path, archive)
    written = _lines(path)
    events = EventLog(path.parent).read()
    assert {e.kind for e in events} <= set(KINDS)
    assert len(events) == len(written)
    for line, event in zip(written, events, strict=True):
        dumped = json.loads(event.model_dump_json())
        assert list(dumped) == list(line)
        assert list(dumped["data"]) == list(line["data"]), (event.seq, event.kind)
        nested = {"record", "finding"}  # newer fields of these records take their defaults
        assert {k: v for k, v in dumped["data"].items() if k not in nested} == {
            k: v for k, v in line["data"].items() if k not in nested
        }


def test_a_session_of_the_last_untyped_aar_dumps_back_byte_for_byte(tmp_path: Path) -> None:
    path = _events_file(tmp_path, "protocol2-session.tar.gz")
    lines = path.read_text().splitlines()[1:]
    assert [e.model_dump_json() for e in EventLog(path.parent).read()] == lines


def test_an_omitted_key_stays_omitted(tmp_path: Path) -> None:
    log = EventLog(tmp_path)
    log.append(Created(id="s-test", protocol=2, config=SessionConfig()))
    log.append(RoundStarted(round_kind="followup", followups=["p-1"]), round=1)
    log.append(ExperimentEnded(experiment="e-01", status="interrupted"), round=1)
    data = [line["data"] for line in _lines(log.path)]
    assert list(data[0]) == ["id", "protocol", "config"]
    assert data[1:] == [
        {"round_kind": "followup", "followups": ["p-1"]},
        {"experiment": "e-01", "status": "interrupted"},
    ]


def test_a_known_kind_with_unreadable_data_is_a_clear_error(tmp_path: Path) -> None:
    log = EventLog(tmp_path)
    log.append(Created(id="s-test", config=SessionConfig()))
    line = {"seq": 2, "at": "2026-01-01T00:00:00Z", "kind": "cell", "round": 1, "data": {}}
    with log.path.open("a") as fh:
        fh.write(json.dumps(line) + "\n")
    what = r"event 2 \(cell\) is not one this aar can read \(experiment: Field required"
    with pytest.raises(AarError, match=what):
        EventLog(tmp_path).state()
