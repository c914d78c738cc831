"""Live progress of a session for `aar run` / `aar resume` (rich), updated as events land."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING

from rich.console import Console
from rich.live import Live
from rich.table import Table

if TYPE_CHECKING:
    from aar.session import Progress, Session


def _view(p: Progress) -> Table:
    table = Table.grid(padding=(0, 1))
    table.add_column(style="bold")
    table.add_column()
    table.add_row("round", f"{p.round} ({p.round_kind})" if p.round else "starting")
    table.add_row("hypothesis", (p.hypothesis or "—")[:100])
    if p.experiment:
        table.add_row("cell", f"{p.experiment} cell {p.cell}, {p.cell_elapsed:.1f} s")
    table.add_row("evaluations", f"{p.evals_used} of {p.evals_total}")
    table.add_row("model", f"{p.tokens} tokens, ${p.usd:.4f}")
    return table


@contextlib.contextmanager
def live_progress(session: Session) -> Iterator[None]:
    """Show the session's progress on stderr while the block runs (plain if not a terminal)."""
    console = Console(stderr=True)
    if not console.is_terminal:
        yield
        return
    with Live(_view(session.progress), console=console, refresh_per_second=4) as live:
        session.on_progress = lambda p: live.update(_view(p))
        try:
            yield
        finally:
            session.on_progress = lambda p: None
