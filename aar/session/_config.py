"""What a researcher asks for when launching a session: `SessionConfig` (stored as
`session.json`, never edited afterwards) and its budgets."""

from __future__ import annotations

import math
import secrets
from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict, Field, field_validator

DEFAULT_GOAL = (
    "Find a training method that lets a strong student trained on a weak supervisor's soft "
    "labels recover more of the gap to a ground-truth-trained ceiling (higher PGR) than "
    "naive cross-entropy, with controls and paired statistics over seeds."
)
DEFAULT_TASKS = ("digits-ge5", "synthetic-gap-medium")
DEFAULT_HYPOTHESES = 3
SCRIPTED = "scripted"
PROTOCOL = 2
"""What a session's numbers mean: the evaluator, feedback and verdict rules it ran under,
logged at creation. 1 (logs without it): rounded per-seed test feedback, bootstrap verdicts on
test, kernel methods apart from the bench's. 2: the installation's scorer (a ladder, per-pool
budget), one method library for bench and kernel, verdicts confirmed on fresh-seed holdout.
A session continues only under its own protocol; its log and reports stay readable."""
REPORT_LAYOUT = 5
"""How a session's round reports are laid out, logged at creation so `aar replay` rebuilds each
report in the layout it was written in. 1 (logs without it): the table of results first,
provenance mid-report. 2: the answer first (best method per task, its configuration, its
confirmed effect, what to try next), each hypothesis's family and rationale, failed cells,
the model's server, provenance in an appendix. 3: each task's weak and ceiling accuracies,
roles that say what a row is to the round (a baseline a hypothesis tests is a hypothesis; a
sweep's start), the earlier method a sweep started from, the figure's caption. 4: a follow-up
round's report says who approved each proposal it ran, when, and the reviewer's comment (from
the review audit log). 5: the answer is the session's so far (the best confirmed method per
task over rounds 1..N, with the round that confirmed it), and under each proposal the
session's holdout confirmation of the method and family it builds on, for the reviewer."""


class Budgets(BaseModel):
    """Limits the session enforces outside the agent; `None` means unlimited."""

    model_config = ConfigDict(extra="forbid")

    usd: float | None = Field(default=None, ge=0, description="Model spend, priced per token.")
    tokens: int | None = Field(default=None, ge=0, description="Input + output tokens.")
    requests: int | None = Field(default=200, ge=0, description="Model requests.")
    evals: int = Field(default=200, ge=0, description="Scored test submissions (all tasks).")
    minutes: float | None = Field(default=30.0, gt=0, description="Wall clock of a round.")
    sandbox_cpu_s: float | None = Field(default=3600.0, gt=0, description="Kernel CPU seconds.")

    @field_validator("usd", "minutes", "sandbox_cpu_s")
    @classmethod
    def _finite(cls, value: float | None) -> float | None:
        if value is not None and not math.isfinite(value):
            raise ValueError("must be a finite number")
        return value


class SessionConfig(BaseModel):
    """A session's fixed inputs."""

    model_config = ConfigDict(extra="forbid")

    goal: str = Field(default=DEFAULT_GOAL, min_length=1, max_length=4000)
    tasks: list[str] = Field(default_factory=lambda: list(DEFAULT_TASKS), min_length=1)
    seeds: list[int] = Field(default_factory=lambda: [42, 43, 44, 45, 46], min_length=1)
    directions: list[str] = Field(default_factory=list)
    model: str = Field(default=SCRIPTED, description="'scripted', 'openai:NAME', 'anthropic:NAME'.")
    base_url: str | None = Field(default=None, description="An OpenAI-compatible server.")
    hypotheses: int = Field(default=DEFAULT_HYPOTHESES, ge=1, le=20)
    budgets: Budgets = Field(default_factory=Budgets)

    @property
    def scripted(self) -> bool:
        return self.model == SCRIPTED

    @property
    def pairs(self) -> list[tuple[str, int]]:
        """Every (task, seed) the session studies."""
        return [(task, seed) for task in self.tasks for seed in self.seeds]


def new_session_id(now: datetime | None = None) -> str:
    """`s-YYYYMMDD-HHMMSS-<6 hex>`: sortable by creation time, unique enough per machine."""
    now = now or datetime.now(UTC)
    return f"s-{now:%Y%m%d-%H%M%S}-{secrets.token_hex(3)}"
