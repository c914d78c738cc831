"""What the store's API takes and returns: filters, search hits, and write/import/repair results."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, Field, field_validator

from aar.memory._finding import Finding, ReviewStatus, Verdict
from aar.memory._records import BadRecord


class FindingFilter(BaseModel):
    """Metadata filters; all given ones must hold. Duplicates are hidden unless asked for."""

    task: str | None = None
    verdict: Verdict | None = None
    status: ReviewStatus | None = None
    session_id: str | None = None
    tag: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    include_duplicates: bool = False

    @field_validator("since", "until")
    @classmethod
    def _aware(cls, when: datetime | None) -> datetime | None:
        return when.replace(tzinfo=UTC) if when is not None and when.tzinfo is None else when

    def matches(self, finding: Finding) -> bool:
        return (
            (self.task is None or self.task in finding.tasks)
            and (self.tag is None or self.tag in finding.tags)
            and (self.verdict is None or finding.verdict == self.verdict)
            and (self.status is None or finding.review.status == self.status)
            and (self.session_id is None or finding.session_id == self.session_id)
            and (self.since is None or finding.created_at >= self.since)
            and (self.until is None or finding.created_at < self.until)
            and (self.include_duplicates or not finding.duplicate_of)
        )


class SearchHit(BaseModel):
    """A finding, its fused relevance `score` (higher is better; the sum over the embedder
    channels of cosine plus method-family bonus) and its plain cosine `similarity` to the query
    under the store's own embedder (1 = same direction)."""

    finding: Finding
    score: float
    similarity: float


class AddResult(BaseModel):
    """What `add` did: stored as new, or stored and linked to an earlier near-duplicate."""

    id: str
    duplicate_of: str | None = None
    similarity: float | None = None


class ImportResult(BaseModel):
    added: int
    skipped_identical: int
    vectors_reused: int = 0
    embedded: int = 0
    reviews_reset: dict[str, int] = Field(default_factory=dict)
    """Added findings whose review decision (status -> count) was turned back into pending:
    only this installation's review gate sets a status."""


class StoreStats(BaseModel):
    location: str
    mode: Literal["local", "server"]
    embedding_model: str
    embedding_dim: int
    findings: int
    duplicates: int
    bad_records: int = 0
    by_verdict: dict[str, int] = Field(default_factory=dict)
    by_status: dict[str, int] = Field(default_factory=dict)
    by_task: dict[str, int] = Field(default_factory=dict)


class RepairResult(BaseModel):
    """What `repair` found and did; without `drop_bad` it only rebuilds the search index."""

    bad: list[BadRecord]
    dropped: list[str] = Field(default_factory=list)
    relinked: list[str] = Field(default_factory=list)
    saved_to: str | None = None
    indexed: int = 0
