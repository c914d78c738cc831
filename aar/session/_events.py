"""`events.jsonl`: the session's append-only log, and the fold that rebuilds its state.

One writer at a time: a session process holds `session.lock` for as long as it runs, so two
`aar resume` calls cannot interleave events. Reading needs no lock.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from aar.errors import AarError, validation_message
from aar.jsonl import JsonlLog
from aar.memory import Finding, Metrics, VerdictBasis
from aar.session._config import SessionConfig
from aar.session._models import (
    EvalEntry,
    Event,
    Experiment,
    Hypothesis,
    RoundInfo,
    SessionState,
)

EVENTS = "events.jsonl"
LOCK = "session.lock"


class SessionBusyError(AarError):
    """Another process is running this session."""


class SessionLogDamagedError(AarError):
    """The event log lost, repeated or reordered a line: its state cannot be trusted."""

    exit_code = 1


class EventLog:
    """Appends events with consecutive sequence numbers; `state()` folds them.

    `torn_tail` is the torn last line (bytes) the log held when opened: a crash mid-write.
    Reading skips it; the next append moves it to `events.jsonl.torn` (nothing is lost) and the
    session notes that it did (`mend_note`).
    """

    def __init__(self, session_dir: Path) -> None:
        self.path = session_dir / EVENTS
        self._log = JsonlLog(self.path, "session-events", Event, fsync=False)
        self._seq = max((e.seq for e in self._log.read()), default=0)
        self.torn_tail: bytes | None = self._log.torn_tail

    def mend_note(self) -> str | None:
        """What to log about a torn last line found at open (None if there was none)."""
        if not self.torn_tail:
            return None
        return (
            f"the log's last line was torn by a crash mid-write ({len(self.torn_tail)} bytes, "
            f"not a whole event); it was moved to {EVENTS}.torn and the session goes on from "
            f"event {self._seq}"
        )

    def read(self) -> list[Event]:
        return self._log.read()

    def append(self, kind: str, data: dict[str, Any], *, round: int = 0) -> Event:
        self._seq += 1
        event = Event(seq=self._seq, kind=kind, round=round, data=data)
        self._log.append(event)
        return event

    def state(self) -> SessionState:
        return replay(self.read())


class WriterLock:
    """The session's single-writer lock (released when the process ends, even by kill -9)."""

    def __init__(self, session_dir: Path) -> None:
        self._fd = os.open(session_dir / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._fd)
            raise SessionBusyError(
                f"session {session_dir.name} is being run by another process; wait for it "
                "to end (or stop it) before resuming"
            ) from None

    def release(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def replay(events: list[Event]) -> SessionState:
    """The state the events describe (the first must be `created`)."""
    if not events or events[0].kind != "created":
        raise AarError("the session log does not start with its creation; it is not usable")
    first = events[0]
    try:
        config = SessionConfig.model_validate(first.data["config"])
        state = SessionState(
            id=first.data["id"],
            config=config,
            protocol=first.data.get("protocol", 1),
            isolation=first.data.get("isolation", "bwrap"),
        )
    except (KeyError, TypeError, ValidationError) as exc:
        detail = validation_message(exc) if isinstance(exc, ValidationError) else repr(exc)
        raise AarError(
            f"the session log's creation event is not one this aar can read ({detail})"
        ) from None
    check_sequence(events)
    for event in events[1:]:
        apply(state, event)
    return state


def check_sequence(events: list[Event]) -> None:
    """Events are numbered 1, 2, 3, ... with no gap or repeat (every log aar ever wrote is:
    a torn line is not an event, and the next append reuses its number). A deleted line
    would drop an evaluation or a cost from every total, a duplicated one count it twice."""
    for expected, event in enumerate(events, 1):
        if event.seq == expected:
            continue
        if event.seq < expected:
            what = f"event {event.seq} appears again after event {expected - 1}"
        else:
            what = f"event {expected} is missing (event {event.seq} follows event {expected - 1})"
        raise SessionLogDamagedError(
            f"the session log {EVENTS} is damaged: {what}; a line was deleted, repeated or "
            "moved, so its state and totals cannot be trusted (the committed copy is in the "
            "session's git history: `git -C SESSION_DIR show HEAD:events.jsonl`)"
        )


def apply(state: SessionState, event: Event) -> None:
    """Fold one event into `state` (what both a live session and a replay do)."""
    handler = _HANDLERS.get(event.kind)
    if handler is None:
        raise AarError(
            f"the session log holds an event of unknown kind {event.kind!r} (seq "
            f"{event.seq}); it was written by a newer aar"
        )
    handler(state, event)
    state.last_seq = event.seq


def _round_started(s: SessionState, e: Event) -> None:
    s.rounds.append(
        RoundInfo(
            number=e.round,
            kind=e.data["round_kind"],
            started_at=e.at,
            followups=e.data.get("followups", []),
            plan=e.data.get("plan"),
        )
    )


def _round_ended(s: SessionState, e: Event) -> None:
    info = s.round
    if info is not None:
        info.ended, info.why_ended, info.summary = True, e.data["why"], e.data.get("summary")
        info.outcome = e.data.get("outcome")


def _usage(s: SessionState, e: Event) -> None:
    u = s.usage
    u.requests += 1
    u.input_tokens += int(e.data.get("input_tokens", 0))
    u.output_tokens += int(e.data.get("output_tokens", 0))
    u.usd += float(e.data.get("usd") or 0.0)


def _experiment(s: SessionState, e: Event) -> None:
    exp = Experiment.model_validate(e.data)
    s.experiments[exp.id] = exp


def _cell(s: SessionState, e: Event) -> None:
    s.experiments[e.data["experiment"]].cells.append(e.data["code"])
    s.usage.sandbox_cpu_s += float(e.data.get("cpu_s") or 0.0)


def _experiment_ended(s: SessionState, e: Event) -> None:
    exp = s.experiments[e.data["experiment"]]
    exp.status = e.data["status"]
    exp.commit = e.data.get("commit", exp.commit)


def _evaluation(s: SessionState, e: Event) -> None:
    s.evaluations.append(EvalEntry.model_validate(e.data))
    s.usage.evals += 1


def _holdout(s: SessionState, e: Event) -> None:
    s.holdout.append(EvalEntry.model_validate(e.data))


def _finding(s: SessionState, e: Event) -> None:
    finding = Finding.model_validate(e.data["finding"])
    s.findings[finding.id] = finding


def _finding_final(s: SessionState, e: Event) -> None:
    finding = s.findings[e.data["finding_id"]]
    update: dict[str, Any] = {}
    if e.data.get("final_metrics") is not None:
        update["final_metrics"] = Metrics.model_validate(e.data["final_metrics"])
    if e.data.get("verdict_basis") is not None:  # the session's decided verdict
        update["verdict"] = e.data["verdict"]
        update["verdict_basis"] = VerdictBasis.model_validate(e.data["verdict_basis"])
    s.findings[finding.id] = finding.model_copy(update=update)


def _proposal(s: SessionState, e: Event) -> None:
    s.proposals.append(e.data["id"])
    if s.round is not None:
        s.round.proposals.append(e.data["id"])


def _budget(s: SessionState, e: Event) -> None:
    if s.round is not None:
        s.round.budget_hits.append(e.data["message"])


def _state(s: SessionState, e: Event) -> None:
    s.state = e.data["state"]


def _ignore(s: SessionState, e: Event) -> None:
    """Events kept for the record only (tool calls, commits, reports, notes)."""


_HANDLERS: dict[str, Callable[[SessionState, Event], None]] = {
    "round_started": _round_started,
    "round_ended": _round_ended,
    "state": _state,
    "model_request": _usage,
    "hypothesis": lambda s, e: s.hypotheses.__setitem__(e.data["id"], Hypothesis(**e.data)),
    "experiment_started": _experiment,
    "cell": _cell,
    "experiment_ended": _experiment_ended,
    "evaluation": _evaluation,
    "holdout": _holdout,
    "finding": _finding,
    "finding_final": _finding_final,
    "proposal": _proposal,
    "budget_exhausted": _budget,
    "tool": _ignore,
    "commit": _ignore,
    "report": _ignore,
    "interrupted": _ignore,
    "note": _ignore,
}
