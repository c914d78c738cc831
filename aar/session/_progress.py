"""What `aar run` shows while a session works: a snapshot the session updates as it goes."""

from __future__ import annotations

import time
from dataclasses import dataclass

from aar.session._models import SessionState


@dataclass
class Progress:
    """The round, the hypothesis, the running cell and what has been spent.

    `evals_total` is None until the session's budget is known (the display then shows no
    limit rather than a made-up 0); a cell's clock stops when its `cell` event lands.
    """

    round: int = 0
    round_kind: str = ""
    hypothesis: str = ""
    experiment: str = ""
    cell: int = 0
    cell_start: float | None = None
    cell_end: float | None = None
    evals_used: int = 0
    evals_total: int | None = None
    tokens: int = 0
    usd: float = 0.0
    last: str = ""

    def update(self, state: SessionState) -> None:
        info = state.round
        self.round, self.round_kind = (info.number, info.kind) if info else (0, "")
        hyps = [h for h in state.hypotheses.values() if info and h.round == info.number]
        self.hypothesis = hyps[-1].statement if hyps else ""
        u = state.usage
        self.evals_used, self.evals_total = u.evals, state.config.budgets.evals
        self.tokens, self.usd = u.tokens, u.usd
        exp = state.experiments.get(self.experiment)
        if self.cell_running and exp is not None and len(exp.cells) >= self.cell:
            self.cell_end = time.monotonic()  # the cell's event is logged: it has ended

    def cell_started(self, experiment: str, index: int) -> None:
        self.experiment, self.cell, self.cell_start = experiment, index, time.monotonic()
        self.cell_end = None

    @property
    def cell_running(self) -> bool:
        return self.cell_start is not None and self.cell_end is None

    @property
    def cell_elapsed(self) -> float:
        """Seconds the current cell has run, or ran (frozen once it ended)."""
        if self.cell_start is None:
            return 0.0
        end = self.cell_end if self.cell_end is not None else time.monotonic()
        return end - self.cell_start
