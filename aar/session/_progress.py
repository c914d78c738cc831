"""What `aar run` shows while a session works: a snapshot the session updates as it goes."""

from __future__ import annotations

import time
from dataclasses import dataclass

from aar.session._models import SessionState


@dataclass
class Progress:
    """The round, the hypothesis, the running cell and what has been spent."""

    round: int = 0
    round_kind: str = ""
    hypothesis: str = ""
    experiment: str = ""
    cell: int = 0
    cell_start: float | None = None
    evals_used: int = 0
    evals_total: int = 0
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

    def cell_started(self, experiment: str, index: int) -> None:
        self.experiment, self.cell, self.cell_start = experiment, index, time.monotonic()

    @property
    def cell_elapsed(self) -> float:
        return 0.0 if self.cell_start is None else time.monotonic() - self.cell_start
