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
    out.print(f"report: {end.report}", highlight=False, soft_wrap=True)
    _print_next_step(out, session, number)
    if EXIT_CODES[outcome]:
        raise typer.Exit(EXIT_CODES[outcome])


def _print_next_step(out: Console, session: Session, number: int) -> None:
    """What to do now, each command whole on its own line (never wrapped mid-command, so it
    copies as it is). A round that proposed nothing leaves nothing to review."""
    if session.state.rounds[-1].proposals:
        out.print(
            f"review it:  aar review list --session {session.id}", soft_wrap=True, highlight=False
        )
        out.print(f"then:       aar resume {session.id}", soft_wrap=True, highlight=False)
        return
    out.print(
        f"nothing to review: round {number} proposed no follow-up", soft_wrap=True, highlight=False
    )
    out.print(f"close it:   aar resume {session.id}", soft_wrap=True, highlight=False)
