"""Layout 4: what the reviewers said about the proposals a follow-up round ran.

A follow-up round runs only what people approved (`round.followups`), so its report says who
approved each proposal, when, the hash they approved, and their comment, read from the review
audit log (`aar.review.list_items`: the chain is verified first, and the decision shown is the
one the gate counts). A reviewer's edited version ("approved with edits" on the web page) is
named as such only when the audit log's rejection of the original names this proposal as its
replacement, the same proof the gate and the web page accept; a comment that merely starts
with the words proves nothing and is shown as written.

The audit log lives beside the session (`<runs_dir>/review-audit.jsonl`, `runs_dir` being the
session directory's parent), not in its event log, so `aar replay` reads it again the same way
and compares; a log that cannot be read is said in the report (and then in replay's diff).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel

from aar.errors import AarError
from aar.session._models import SessionState
from aar.text import markdown_inline

if TYPE_CHECKING:
    from aar.review import ReviewItem

REVIEWS_FROM_LAYOUT = 4
_EDIT_APPROVAL = re.compile(r"^approved with edits of (p-[0-9a-f]{12})(?:: (.*))?$", re.DOTALL)


class ReviewNote(BaseModel):
    """One proposal a follow-up round ran, and the decision that let it run."""

    proposal_id: str
    reviewer: str = ""
    decided_at: datetime | None = None
    sha256: str = ""
    comment: str = ""
    """The reviewer's own words (without the 'approved with edits of ...' prefix)."""
    edited_from: str | None = None
    """The proposal the reviewer edited into this one, when the audit log proves it."""
    problem: str | None = None
    """Why the decision cannot be shown (the audit log unreadable, no decision in it)."""


def review_notes(root: Path, state: SessionState, number: int) -> list[ReviewNote]:
    """The decisions behind each proposal follow-up round `number` ran (empty for a research
    round, or a session made before layout 4: their reports stay as they were written)."""
    info = next(r for r in state.rounds if r.number == number)
    if state.report_layout < REVIEWS_FROM_LAYOUT or info.kind != "followup":
        return []
    from aar.review import list_items

    try:
        items = {i.id: i for i in list_items(Path(root).parent, session_id=state.id, damaged=[])}
    except AarError as exc:
        problem = f"the review audit log could not be read: {exc}"
        return [ReviewNote(proposal_id=pid, problem=problem) for pid in info.followups]
    return [_note(pid, items) for pid in info.followups]


def _note(pid: str, items: dict[str, ReviewItem]) -> ReviewNote:
    item = items.get(pid)
    decision = item.decision if item is not None else None
    if decision is None:
        return ReviewNote(proposal_id=pid, problem="the audit log holds no decision on it")
    comment, edited_from = decision.comment, None
    match = _EDIT_APPROVAL.match(comment)
    if match is not None and _replaced_by(items.get(match.group(1))) == pid:
        comment, edited_from = match.group(2) or "", match.group(1)
    return ReviewNote(
        proposal_id=pid,
        reviewer=decision.reviewer,
        decided_at=decision.decided_at.astimezone(UTC),
        sha256=decision.sha256,
        comment=comment,
        edited_from=edited_from,
    )


def _replaced_by(original: ReviewItem | None) -> str | None:
    """The proposal the audit log's rejection of `original` names as its edited version."""
    d = original.decision if original is not None else None
    if d is None or d.decision != "reject":
        return None
    match = re.match(r"^replaced by (p-[0-9a-f]{12}) ", d.comment)
    return match.group(1) if match else None


def review_lines(notes: list[ReviewNote]) -> list[str]:
    """The section of a follow-up round's report: who approved what it ran, when, and what
    they said. Reviewers' names and comments are person-written: quoted (`markdown_inline`)."""
    out = ["## The reviewers' decisions on what this round ran", ""]
    for n in notes:
        if n.problem is not None or n.decided_at is None:
            out.append(f"- `{n.proposal_id}`: {markdown_inline(n.problem or 'not decided')}")
            continue
        how = "approved"
        if n.edited_from is not None:
            how = f"approved with edits (the reviewer's version of `{n.edited_from}`)"
        out.append(
            f"- `{n.proposal_id}` {how} by {markdown_inline(n.reviewer)} on "
            f"{n.decided_at:%Y-%m-%d %H:%M:%S} UTC (sha256 `{n.sha256[:16]}…`). "
            f"Comment: {markdown_inline(n.comment) or 'none'}"
        )
    if not notes:
        out.append("- none")
    return out
