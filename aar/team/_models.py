"""The team's contracts: what a team lead asked for, who researches what, and what happened.

A team is `runs/teams/<id>/`: `team.json` (the `TeamRecord`, fixed at start) and
`events.jsonl` (`TeamEvent`s, append-only). Each researcher is an ordinary session under
`runs/`, so `aar sessions`, `aar review` and `aar serve` see them as they see any other.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from aar.session import Budgets, SessionConfig

MAX_RESEARCHERS = 64
MAX_MOVES = 3
"""Times one researcher is moved to another worker after its worker died, before it is left
for `aar team resume`: a session that kills every worker it lands on must not loop."""


class TeamBudgets(BaseModel):
    """Limits over the whole team, enforced outside the researchers: evaluations by the
    scorer service (per researcher and in total), model spend by each session's own guard
    on the share the team lead gave it."""

    model_config = ConfigDict(extra="forbid")

    evals: int | None = Field(default=None, ge=1, description="Scored test submissions, in all.")
    usd: float | None = Field(default=None, gt=0, description="Model spend, in all.")
    tokens: int | None = Field(default=None, ge=1, description="Model tokens, in all.")


class TeamConfig(BaseModel):
    """What `aar team start` was asked for."""

    model_config = ConfigDict(extra="forbid")

    researchers: int = Field(ge=1, le=MAX_RESEARCHERS)
    directions: list[str] = Field(default_factory=list, description="As given, at most one each.")
    session: SessionConfig = Field(
        description="Every researcher's session, before its direction and budget share."
    )
    budgets: TeamBudgets = Field(default_factory=TeamBudgets)
    scheduler: str | None = Field(
        default=None, description="tcp://HOST:PORT; None: a LocalCluster."
    )
    host: str = Field(
        default="127.0.0.1",
        description="Where the lead serves the scorer and the memory: loopback, unless workers "
        "on other machines must reach them (`--scheduler` with `--host`).",
    )


class Researcher(BaseModel):
    """One researcher: its direction and the session that holds its work."""

    model_config = ConfigDict(extra="forbid")

    index: int = Field(ge=1)
    direction: str
    direction_given: bool = Field(description="False: spread over the method space by aar.")
    session_id: str
    budgets: Budgets


class TeamRecord(BaseModel):
    """`team.json`: fixed when the team starts."""

    model_config = ConfigDict(extra="forbid")

    id: str
    created_at: datetime
    config: TeamConfig
    researchers: list[Researcher]
    memory_url: str | None = Field(description="The shared findings memory (None: started by aar).")


EventKind = Literal[
    "started",  # a lead process began driving the team (start or resume)
    "assigned",  # a researcher's session was handed to a worker
    "ended",  # a researcher's process ended (how: `outcome`)
    "moved",  # its worker died; it goes to another worker
    "stop_requested",
    "finished",  # the lead saw every researcher end and wrote the team report
]
Outcome = Literal["round_ended", "interrupted", "failed", "skipped"]


class TeamEvent(BaseModel):
    """One line of the team's `events.jsonl`."""

    model_config = ConfigDict(extra="forbid")

    at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    kind: EventKind
    researcher: int | None = None
    worker: str | None = None
    outcome: Outcome | None = None
    exit_code: int | None = None
    detail: str = Field(default="", max_length=2000)


def new_team_id(now: datetime | None = None) -> str:
    """`t-YYYYMMDD-HHMMSS-<6 hex>`, like a session id."""
    now = now or datetime.now(UTC)
    return f"t-{now:%Y%m%d-%H%M%S}-{secrets.token_hex(3)}"
