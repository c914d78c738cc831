"""Live progress of a session for `aar run` / `aar resume` (rich), updated as events land."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING

from rich.console import Console
from rich.live import Live
from rich.table import Table
from rich.text import Text

from aar._cli.output import clip
from aar.text import one_line

if TYPE_CHECKING:
    from aar.session import Progress, Session, SessionState

LABEL_WIDTH = 12
"""The widest label ("evaluations") and the column gap: what the values share a line with."""


def _doing(p: Progress, state: SessionState | None) -> str:
    """What the hypothesis row says: the hypothesis, cut at a word to fit one line; while the
    session runs its own naive/logconf baselines (no hypothesis yet), "baselines"."""
    from aar.session import BASELINES

    exp = state.experiments.get(p.experiment) if state is not None and p.experiment else None
    if exp is not None and exp.hypothesis_id == BASELINES:
        return "baselines (naive and logconf, before any hypothesis)"
    return one_line(p.hypothesis) or "—"


def progress_view(p: Progress, state: SessionState | None = None, width: int = 80) -> Table:
    """The progress as rows of text: what a terminal shows, refreshed 4 times a second. Each
    row fits `width`; the scripted researcher spends no tokens, so none are shown for it."""
    room = max(width - LABEL_WIDTH, 10)
    table = Table.grid(padding=(0, 1))
    table.add_column(style="bold", no_wrap=True)
    table.add_column(no_wrap=True)
    table.add_row("round", f"{p.round} ({p.round_kind})" if p.round else "starting")
    table.add_row("hypothesis", Text(clip(_doing(p, state), room)))  # the model's words
    if p.experiment:
        ended = "" if p.cell_running else ", ended"
        table.add_row("cell", f"{p.experiment} cell {p.cell}, {p.cell_elapsed:.1f} s{ended}")
    limit = "" if p.evals_total is None else f" of {p.evals_total}"
    table.add_row("evaluations", f"{p.evals_used}{limit}")
    if state is None or not state.config.scripted:
        table.add_row("model", f"{p.tokens} tokens, ${p.usd:.4f}")
    return table


@contextlib.contextmanager
def live_progress(session: Session) -> Iterator[None]:
    """Show the session's progress on stderr while the block runs (plain if not a terminal).

    The live rows are transient: when the block ends (a round's end, Ctrl-C, SIGTERM) they
    are erased and drawn once more as plain lines, so a stop never leaves a second copy of
    the round line under the first; no row reaches the last columns, where the "^C" that
    the terminal echoes would wrap and throw rich's count of lines to erase off by one."""
    console = Console(stderr=True)
    if not console.is_terminal:
        yield
        return
    session.progress.update(session.state)  # the budget is known before the first event

    def view() -> Table:  # 3 columns spare: the "^C" a terminal echoes never wraps a row
        return progress_view(session.progress, session.state, console.width - 3)

    live = Live(view(), console=console, refresh_per_second=4, transient=True)
    live.start()
    session.on_progress = lambda p: live.update(view())
    try:
        yield
    finally:
        session.on_progress = lambda p: None
        live.stop()
        console.print(view())
