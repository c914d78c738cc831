"""Driving a session's round in the terminal (`aar run`, `aar resume`): live progress, a
stop by Ctrl-C or SIGTERM that is logged and resumable, and the next step when it ends."""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator
from types import FrameType
from typing import TYPE_CHECKING, NoReturn

import typer
from rich.console import Console
from rich.text import Text

from aar.text import shown

if TYPE_CHECKING:
    from aar.session import Session


def drive(session: Session) -> None:
    """Run the session's next round with live progress; Ctrl-C or SIGTERM stops it resumably.
    A refused round (one waiting for review) is the error alone: the session line follows
    only a round that starts."""
    from aar._cli.progress import live_progress
    from aar.agent import run_round

    console = Console(stderr=True)
    try:
        with _sigterm_as_interrupt():
            try:
                next_round = session.next_round()
                console.print(f"session [bold]{session.id}[/] in {session.root}", highlight=False)
                if next_round == "closed":
                    console.print("no follow-up was approved: the session is closed")
                    return
                with live_progress(session):
                    run_round(session)
            except KeyboardInterrupt as exc:
                _log_interruption(session, exc)
    finally:
        session.shutdown()
    report_done(session)


class _Terminated(KeyboardInterrupt):
    """SIGTERM (`kill`, `timeout`, a service manager) stops a session the way Ctrl-C does."""


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """Turn SIGTERM into `_Terminated` while a session runs, so it is logged and saved like
    Ctrl-C instead of leaving a log that says "running"; the previous handler comes back after
    (aar used as a library keeps its own)."""

    def stop(signum: int, frame: FrameType | None) -> None:
        raise _Terminated

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _log_interruption(session: Session, exc: KeyboardInterrupt) -> NoReturn:
    from aar.session import Interrupted

    terminated = isinstance(exc, _Terminated)
    session.emit(Interrupted(where="SIGTERM" if terminated else "keyboard interrupt"))
    Console(stderr=True).print(
        f"[yellow]interrupted[/]: everything done so far is saved; continue with: "
        f"aar resume {session.id}",
        highlight=False,
        soft_wrap=True,
    )
    raise typer.Exit(143 if terminated else 130) from None


EXIT_CODES = {"completed": 0, "failed": 1, "budget": 3}
"""`aar run` / `aar resume` exit codes by how the round ended: a round the model, the sandbox
or the baselines could not drive is 1, one a budget cut short is 3 (its report still stands)."""


def report_done(session: Session) -> None:
    end = session.last_round_end()
    number, outcome = end.number, end.outcome
    out = Console()
    why = shown(end.why, keep="")  # may quote the model or an error: text, hidden chars marked
    if outcome == "completed":
        out.print(Text(f"round {number} ended: {why}"), highlight=False)
    else:
        out.print(Text(f"round {number} ENDED EARLY ({outcome}): {why}"), highlight=False)
    from aar._cli.round_answer import answer_lines

    for line in answer_lines(end.report.with_suffix(".json"), out.width):
        out.print(Text(line), highlight=False)
    out.print(f"report: {end.report}", highlight=False, soft_wrap=True)
    _print_next_step(out, session, number)
    if EXIT_CODES[outcome]:
        raise typer.Exit(EXIT_CODES[outcome])


def _print_next_step(out: Console, session: Session, number: int) -> None:
    """What to do now, each command whole on its own line (never wrapped mid-command, so it
    copies as it is). A round that proposed nothing closed the session: no `aar resume` is
    offered, only the review of its findings when it has any."""

    def say(line: str) -> None:
        out.print(line, soft_wrap=True, highlight=False, markup=False)

    if session.state.rounds[-1].proposals:
        say(f"review it:  aar review list --session {session.id}")
        say(f"then:       aar resume {session.id}")
        return
    findings = [f for f in session.state.findings.values() if f.round == number]
    closed = session.state.state == "closed"
    say(f"round {number} proposed no follow-up" + ("; the session is closed" if closed else ""))
    if findings:
        say(
            f"its {len(findings)} finding(s) await review:  aar review list --findings "
            f"--session {session.id}"
        )
    if not closed:  # a session logged before rounds without proposals closed themselves
        say(f"close it:   aar resume {session.id}")
    elif not findings:
        say("nothing follows in this session; a new one starts with: aar run")
