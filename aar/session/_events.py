"""`events.jsonl`: the session's append-only log, and the fold that rebuilds its state.

One writer at a time: a session process holds `session.lock` for as long as it runs, so two
`aar resume` calls cannot interleave events. Reading needs no lock.
"""

from __future__ import annotations

import fcntl
import os
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from aar.errors import AarError, validation_message
from aar.jsonl import JsonlLog
from aar.session._event_kinds import (
    KINDS,
    AnyEventData,
    BudgetHit,
    CellRun,
    Created,
    Evaluated,
    Event,
    ExperimentEnded,
    ExperimentStarted,
    FindingFinal,
    FindingRecorded,
    HoldoutScored,
    HypothesisProposed,
    ModelUsage,
    Proposed,
    RoundEnded,
    RoundStarted,
    StateChanged,
)
from aar.session._models import (
    EvalEntry,
    Experiment,
    FailedCell,
    Hypothesis,
    RoundInfo,
    SessionState,
)

EVENTS = "events.jsonl"
LOCK = "session.lock"


class SessionBusyError(AarError):
    """Another process is running this session."""


class _Line(BaseModel):
    """A line of the log as stored, before its data is read by kind (`_typed`): a line of a
    kind this aar does not know is then one clear error, not a damaged or torn line."""

    seq: int
    at: datetime
    kind: str
    round: int = 0
    data: dict[str, Any]


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
        self._log = JsonlLog(self.path, "session-events", _Line, fsync=False)
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
        """Every event, its data read by kind (an unknown kind or unreadable data raises)."""
        return [_typed(line) for line in self._log.read()]

    def append(self, data: AnyEventData, *, round: int = 0) -> Event:
        self._seq += 1
        event = Event.of(self._seq, data, round=round)
        dumped = event.model_dump(mode="json")
        self._log.append(_Line.model_validate(dumped))
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


def writer_running(session_dir: Path) -> bool:
    """Whether a process holds the session's writer lock now. A log that says "running" with
    no writer was stopped (SIGTERM before aar handled it, kill -9, a crash) and waits for
    `aar resume`. The probe creates and writes nothing, and holds a shared lock only for the
    instant between taking it and closing the file. A lock that cannot be read (permissions)
    counts as held: the log's own state is then shown as it is."""
    try:
        fd = os.open(session_dir / LOCK, os.O_RDONLY)
    except FileNotFoundError:
        return False  # no process has ever run it (or it was copied without its lock)
    except OSError:
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # also releases the probe's own lock
    return False


def replay(events: list[Event]) -> SessionState:
    """The state the events describe (the first must be `created`)."""
    match events[0].data if events else None:
        case Created() as created:
            state = SessionState(
                id=created.id,
                config=created.config,
                protocol=created.protocol,
                isolation=created.isolation,
                report_layout=created.report_layout,
            )
        case _:
            raise AarError("the session log does not start with its creation; it is not usable")
    check_sequence(events)
    for event in events[1:]:
        apply(state, event)
    return state


def _typed(line: _Line) -> Event:
    """The event a stored line holds, its data read by its kind."""
    if line.kind not in KINDS:
        raise AarError(
            f"the session log holds an event of unknown kind {line.kind!r} (seq "
            f"{line.seq}); it was written by a newer aar"
        )
    try:
        data = KINDS[line.kind].model_validate(line.data)  # its errors name the data's keys
    except ValidationError as exc:
        what = "creation event" if line.kind == "created" else f"event {line.seq} ({line.kind})"
        raise AarError(
            f"the session log's {what} is not one this aar can read ({validation_message(exc)})"
        ) from None
    return Event.model_validate(dict(line) | {"data": data})


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
    """Fold one event into `state` (what both a live session and a replay do). Tool calls,
    commits, reports, interruptions and notes are kept for the record only."""
    match event.data:
        case RoundStarted() as started:
            state.rounds.append(
                RoundInfo(
                    number=event.round,
                    kind=started.round_kind,
                    started_at=event.at,
                    followups=started.followups,
                    plan=started.plan,
                )
            )
        case RoundEnded() as ended:
            _round_ended(state, ended)
        case StateChanged(state=new_state):
            state.state = new_state
        case ModelUsage() as request:
            _usage(state, request)
        case HypothesisProposed() as hypothesis:
            state.hypotheses[hypothesis.id] = Hypothesis.model_validate(hypothesis.model_dump())
        case ExperimentStarted() as started_exp:
            state.experiments[started_exp.id] = Experiment.model_validate(started_exp.model_dump())
        case CellRun() as cell:
            state.experiments[cell.experiment].cells.append(cell.code)
            if cell.status != "ok":
                failed = FailedCell(
                    round=event.round,
                    experiment=cell.experiment,
                    index=cell.index,
                    status=cell.status,
                    error=cell.error,
                )
                state.failed_cells.append(failed)
            state.usage.sandbox_cpu_s += cell.cpu_s or 0.0
        case ExperimentEnded() as ended_exp:
            exp = state.experiments[ended_exp.experiment]
            exp.status = ended_exp.status
            exp.commit = ended_exp.commit if "commit" in ended_exp.model_fields_set else exp.commit
        case Evaluated() as evaluation:
            state.evaluations.append(EvalEntry.model_validate(evaluation.model_dump()))
            state.usage.evals += 1
        case HoldoutScored() as holdout:
            state.holdout.append(EvalEntry.model_validate(holdout.model_dump()))
        case FindingRecorded(finding=finding):
            state.findings[finding.id] = finding
        case FindingFinal() as final:
            _finding_final(state, final)
        case Proposed(id=proposal_id):
            state.proposals.append(proposal_id)
            if state.round is not None:
                state.round.proposals.append(proposal_id)
        case BudgetHit(message=message):
            if state.round is not None:
                state.round.budget_hits.append(message)
    state.last_seq = event.seq


def _round_ended(s: SessionState, ended: RoundEnded) -> None:
    info = s.round
    if info is not None:
        info.ended, info.why_ended, info.summary = True, ended.why, ended.summary
        info.outcome = ended.outcome


def _usage(s: SessionState, request: ModelUsage) -> None:
    u = s.usage
    u.requests += 1
    u.input_tokens += request.input_tokens
    u.output_tokens += request.output_tokens
    u.usd += request.usd or 0.0


def _finding_final(s: SessionState, final: FindingFinal) -> None:
    finding = s.findings[final.finding_id]
    update: dict[str, Any] = {}
    if final.final_metrics is not None:
        update["final_metrics"] = final.final_metrics
    if final.verdict_basis is not None:  # the session's decided verdict
        update["verdict"] = final.verdict
        update["verdict_basis"] = final.verdict_basis
    s.findings[finding.id] = finding.model_copy(update=update)
