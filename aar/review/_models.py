"""The review contracts: a `Proposal` of follow-up code and a `Decision` on a reviewable item.

A proposal names the exact script that would run and carries its content hash; the hash is
checked whenever a proposal is built or loaded, so a file whose code was edited without its
hash (or the reverse) never becomes a `Proposal`. A decision is bound to the hash of what was
decided, never to the id alone: an approval of one script says nothing about another.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from aar.hashing import content_sha256

ITEM_ID = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$"
"""Ids of reviewable items and sessions: safe as file names, as a finding id may be."""
PROPOSAL_ID = r"^p-[0-9a-f]{12}$"
SHA256 = r"^[0-9a-f]{64}$"
MAX_CODE_CHARS = 1_000_000
MAX_COMMENT_CHARS = 4000
AUTOMATIC_REVIEWER = "aar"
"""The reviewer of what aar records by itself: automatic rejections (expired proposals) and
the gate's refusals to run a tampered proposal."""

ItemKind = Literal["proposal", "finding"]
Verdict = Literal["approve", "reject"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, frozen=True)


def new_proposal_id() -> str:
    """`p-` + 12 random hex digits."""
    return f"p-{secrets.token_hex(6)}"


class Proposal(_Strict):
    """A follow-up experiment a round proposes; it runs only once a person approves its hash.

    Stored as `<session_dir>/proposals/<id>.json` in the session repository.
    """

    id: str = Field(pattern=PROPOSAL_ID)
    session_id: str = Field(pattern=ITEM_ID)
    round: int = Field(ge=0, description="The round whose report proposed it.")
    rationale: str = Field(min_length=1, max_length=20_000)
    code: str = Field(
        min_length=1,
        max_length=MAX_CODE_CHARS,
        description="The exact script that will run (cells split on '# %%').",
    )
    sha256: str = Field(pattern=SHA256, description="content_sha256(code); checked on load.")
    follows: str | None = Field(
        default=None, pattern=ITEM_ID, description="The experiment id it follows up (for diffs)."
    )
    estimated_evaluations: int = Field(ge=0)
    estimated_tokens: int = Field(ge=0)
    estimated_usd: float | None = Field(default=None, ge=0)
    created_at: AwareDatetime
    expires_at: AwareDatetime

    @model_validator(mode="after")
    def _consistent(self) -> Proposal:
        actual = content_sha256(self.code)
        if actual != self.sha256:
            raise ValueError(
                f"sha256 {self.sha256} does not match its code, which hashes to {actual} "
                "(the code or the hash was edited)"
            )
        if self.expires_at <= self.created_at:
            raise ValueError("expires_at must be later than created_at")
        return self

    def expired(self, now: datetime | None = None) -> bool:
        return (now or datetime.now(UTC)) >= self.expires_at


def new_proposal(
    session_id: str,
    round: int,
    rationale: str,
    code: str,
    *,
    estimated_evaluations: int,
    estimated_tokens: int,
    estimated_usd: float | None = None,
    follows: str | None = None,
    lifetime: timedelta | None = None,
) -> Proposal:
    """A new proposal with a fresh id, its code's hash, and an expiry `lifetime` from now
    (default `settings.review.proposal_lifetime_days`)."""
    if lifetime is None:
        from aar.config import get_settings

        lifetime = timedelta(days=get_settings().review.proposal_lifetime_days)
    now = datetime.now(UTC)
    return Proposal(
        id=new_proposal_id(),
        session_id=session_id,
        round=round,
        rationale=rationale,
        code=code,
        sha256=content_sha256(code),
        follows=follows,
        estimated_evaluations=estimated_evaluations,
        estimated_tokens=estimated_tokens,
        estimated_usd=estimated_usd,
        created_at=now,
        expires_at=now + lifetime,
    )


class Decision(_Strict):
    """One decision on a proposal or a finding (the payload of one audit-log record)."""

    item: ItemKind
    item_id: str = Field(pattern=ITEM_ID)
    session_id: str = Field(pattern=ITEM_ID)
    sha256: str = Field(
        pattern=SHA256,
        description="proposal: content_sha256(code); finding: `finding_sha256(finding)`.",
    )
    decision: Verdict
    reviewer: str = Field(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f]+$")
    comment: str = Field(default="", max_length=MAX_COMMENT_CHARS)
    decided_at: AwareDatetime


ItemStatus = Literal["pending", "approved", "rejected", "expired", "void", "tampered"]
"""pending: no decision yet; expired: undecided past its expiry (an approval is refused);
void: approved, but the item's content no longer hashes to what was approved; tampered: a
proposal file that no longer hashes to what its session logged when it was proposed (or that
no log records): refused by every command, whatever was decided, until it is restored."""
ITEM_STATUSES: tuple[ItemStatus, ...] = (
    "pending",
    "approved",
    "rejected",
    "expired",
    "void",
    "tampered",
)
SHA256_PREFIX = r"^[0-9a-f]{12,64}$"
"""What a reviewer passes as the hash they read (`--sha256`): at least its first 12 digits."""


class ReviewItem(_Strict):
    """One reviewable item as `aar review list` shows it (and `--json` prints it)."""

    kind: ItemKind
    id: str
    session_id: str
    round: int
    status: ItemStatus
    sha256: str = Field(description="The hash of the item as it is now.")
    summary: str = Field(description="The rationale's or the finding's first line.")
    created_at: datetime
    expires_at: datetime | None = None
    decision: Decision | None = Field(
        default=None, description="The decision that counts (the first recorded), if any."
    )
    problem: str | None = Field(
        default=None, description="Why it is tampered or void (None for the other statuses)."
    )
