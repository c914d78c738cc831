"""Live progress of a session for `aar run` / `aar resume` (rich), updated as events land."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING

from rich.console import Console
from rich.live import Live
from rich.table import Table
from rich.text import Text

from aar.text import one_line

if TYPE_CHECKING:
    from aar.session import Progress, Session


def progress_view(p: Progress) -> Table:
    """The progress as rows of text: what a terminal shows, refreshed 4 times a second."""
    table = Table.grid(padding=(0, 1))
    table.add_column(style="bold")
    table.add_column()
    table.add_row("round", f"{p.round} ({p.round_kind})" if p.round else "starting")
    table.add_row("hypothesis", Text(one_line(p.hypothesis)[:100] or "—"))  # the model's words
    if p.experiment:
        ended = "" if p.cell_running else ", ended"
        table.add_row("cell", f"{p.experiment} cell {p.cell}, {p.cell_elapsed:.1f} s{ended}")
    limit = "" if p.evals_total is None else f" of {p.evals_total}"
    table.add_row("evaluations", f"{p.evals_used}{limit}")
    table.add_row("model", f"{p.tokens} tokens, ${p.usd:.4f}")
    return table


@contextlib.contextmanager
def live_progress(session: Session) -> Iterator[None]:
    """Show the session's progress on stderr while the block runs (plain if not a terminal)."""
    console = Console(stderr=True)
    if not console.is_terminal:
        yield
        return
    session.progress.update(session.state)  # the budget is known before the first event
    with Live(progress_view(session.progress), console=console, refresh_per_second=4) as live:
        session.on_progress = lambda p: live.update(progress_view(p))
        try:
            yield
        finally:
            session.on_progress = lambda p: None
