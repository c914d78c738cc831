"""The rules of `FindingsStore.import_export`: which vectors of a file are re-used, how its
review decisions are treated, and when an id already stored is a conflict."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from aar.memory._errors import EmbeddingMismatchError, ImportConflictError
from aar.memory._finding import Finding, Review
from aar.memory._records import BadRecord

if TYPE_CHECKING:
    import numpy as np

    from aar.memory._embed import Embedder


def reusable(
    channels: Sequence[Embedder], carried: dict[str, Any], has_header: bool, reembed: bool
) -> list[bool]:
    """Per channel: does the file carry vectors of exactly this embedder? Without `reembed`,
    a channel it does not carry is an error."""
    reuse = [e.name in carried for e in channels]
    if not reembed and not all(reuse):
        what = (
            f"vectors of {', '.join(carried) or 'no embedder'}"
            if has_header
            else "no vectors (plain findings)"
        )
        need = ", ".join(e.name for e in channels)
        raise EmbeddingMismatchError(
            f"the file carries {what}, but this store needs {need}; "
            "import without --no-reembed to embed the findings again"
        )
    return reuse


def import_vectors(
    channels: Sequence[Embedder],
    new: Sequence[Finding],
    new_at: list[int],
    carried: dict[str, Any],
    reuse: Sequence[bool],
) -> list[np.ndarray]:
    """One matrix per channel for the `new` findings (at `new_at` in the file): the file's
    rows where `reuse`, else embedded now."""
    texts = [f.embedding_text() for f in new]
    out = []
    for e, ok in zip(channels, reuse, strict=True):
        if ok:
            out.append(carried[e.name][new_at])  # a matrix: one row per finding of the file
        else:
            out.append(e.embed(texts))
    return out


def as_pending(findings: Sequence[Finding]) -> tuple[list[Finding], dict[int, str]]:
    """Imported findings with every review decision turned back into `pending`, and the
    status each reset one carried (by position).

    Only the review gate sets a review status, and it records each decision in this
    installation's audit log. A decision in a file (a colleague's export, or a hand-edited
    line) has no audit record here and its HMAC chain is another installation's, so it cannot
    be verified: it is kept as information in the comment, never as a status."""
    out: list[Finding] = []
    was: dict[int, str] = {}
    for i, finding in enumerate(findings):
        review = finding.review
        if review.status == "pending" and review.reviewer is None and review.reviewed_at is None:
            out.append(finding)
            continue
        was[i] = review.status
        when = f" on {review.reviewed_at.date().isoformat()}" if review.reviewed_at else ""
        said = f" ({review.comment[:300]})" if review.comment else ""
        note = (
            f"imported with an unverified earlier decision: {review.status} by "
            f"{review.reviewer or 'an unnamed reviewer'}{when}{said}"
        )
        out.append(finding.model_copy(update={"review": Review(comment=note)}))
    return out, was


def new_positions(findings: Sequence[Finding], stored: dict[str, Finding | BadRecord]) -> list[int]:
    """Positions of the findings not stored yet; an id stored with other content (its review
    aside: the stored review is this installation's) or damaged is an `ImportConflictError`."""
    found: dict[str, Finding] = {}
    for fid, record in stored.items():
        if isinstance(record, BadRecord):
            raise ImportConflictError(
                f"stored record {fid} is damaged ({record.problem}); run "
                "`aar memory repair --drop-bad` before importing it again"
            )
        found[fid] = record
    conflicts = [
        f.id
        for f in findings
        if f.id in found and found[f.id].model_copy(update={"review": f.review}) != f
    ]
    if conflicts:
        raise ImportConflictError(
            f"{len(conflicts)} imported id(s) exist with different content, nothing "
            f"imported: {', '.join(conflicts[:5])}"
        )
    return [i for i, f in enumerate(findings) if f.id not in found]
