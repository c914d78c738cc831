"""The scorer's contracts: one small request and one response, so the in-process scorer and
the team's scorer service (HTTP, later) speak the same pydantic models."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from aar.bench import EvalRecord

Split = Literal["test", "holdout"]


class ScoreRequest(BaseModel):
    """Score one submission: who asks (the account that pays), for what, and the predictions.

    `probs` are in the exported row order of the split (the order of `<split>_ids.npy`), so
    a client needs the public export only, never labels. The same `request_id` twice returns
    the stored answer without charging again (a call re-issued after a crash).
    """

    model_config = ConfigDict(extra="forbid")

    task: str
    seed: int = Field(ge=0)
    split: Split = "test"
    method: str
    code_sha256: str
    git_commit: str | None = None
    account: str = Field(
        min_length=1, max_length=300, description="Who pays: 'session:<id>', 'cli', 'log:...'."
    )
    budget: int | None = Field(
        default=None, ge=0, description="Scored submissions the account may make (None: unmetered)."
    )
    request_id: str | None = Field(default=None, max_length=128)
    probs: list[list[float]] = Field(description="[rows, classes] probabilities, exported order.")


class ScoreResponse(BaseModel):
    """The answer: the record (what the submitter may see) and what it cost."""

    record: EvalRecord
    hard: str = Field(description="base64 of the hardened predictions (uint8), for the session.")
    charged: bool = Field(description="False when the request id was answered before.")
    account_used: int
    pool_answers_left: int = Field(
        description="Informative answers left to this task pool, for every seed and session."
    )


class PoolStatus(BaseModel):
    """What a task pool has revealed so far (across every seed, split, session and process)."""

    task: str
    submissions: int
    answers_used: int
    answers_total: int


class TeamBudget(BaseModel):
    """The budget a scorer service enforces for everyone who scores through it (never trusted
    to the clients): test submissions per account and in total for the team.

    The total counts the charged test submissions of every account that ever scored through a
    service with this `team` name on the ledger, read from the ledger itself, so it survives a
    restart of the service.
    """

    model_config = ConfigDict(extra="forbid")

    total_evals: int | None = Field(
        default=None,
        ge=0,
        description="Charged test submissions for the whole team (None: no cap).",
    )
    per_account_evals: int | None = Field(
        default=None, ge=0, description="Charged test submissions per account (None: no cap)."
    )
    team: str = Field(
        default="team",
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$",
        description="The name the team's accounts are recorded under in the ledger.",
    )


class ScorerHealth(BaseModel):
    """The scorer service's health answer: alive, which ledger, and the task key's id (so a
    worker holding no key can name the key its results were scored under)."""

    status: Literal["ok"] = "ok"
    ledger: str
    key_id: str
    budgets: TeamBudget | None = None
