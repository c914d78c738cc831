"""Approve with edits: the reviewer's version becomes a new proposal, approved; the original
is rejected, naming it, so nothing stays pending and each hash keeps its own decision.

Order matters for "nothing half-written" when two reviewers act at once: the original is
rejected first (under the audit lock, first decision wins), so if someone else decided it a
moment earlier this attempt stops there with an `AlreadyDecidedError` and writes no new
proposal. Only then is the new proposal written (a new id and hash, same session, round and
`follows`) and approved. Its rationale starts with a line naming the original, and the
original's rejection names the new id; the page trusts the link only when the audit log's
rejection says so. The rejection also names the new proposal's sha256: that audited record
is what the gate takes as the new proposal's logged hash (it is in no session log), so the
new file is bound from the moment it exists (`aar.review.proposal_log`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from aar.errors import AarError
from aar.review import (
    AuditRecord,
    Decision,
    Proposal,
    ReviewError,
    approve,
    check_decision_inputs,
    new_proposal,
    reject,
    write_proposal,
)

EDIT_NOTE = "Edited at review by {reviewer} from {original}."
_REPLACED = re.compile(r"^replaced by (p-[0-9a-f]{12}) ")
_EDITED = re.compile(r"^Edited at review by .{1,200} from (p-[0-9a-f]{12})\.\n")


def normalise_edit(code: str) -> str:
    """What the reviewer typed, as it will run: browsers send a textarea's lines with CRLF."""
    return code.replace("\r\n", "\n").replace("\r", "\n")


def approve_with_edits(
    runs_dir: Path,
    original: Proposal,
    code: str,
    reviewer: str,
    comment: str,
    *,
    seen_sha256: str | None = None,
    key_file: Path | None = None,
) -> tuple[Proposal, Decision]:
    """Reject `original` (it must still hash to `seen_sha256`, the hash the page showed),
    write the edited proposal and approve it; returns (new, approval)."""
    if not code.strip():
        raise ReviewError("the edited code is empty")
    if code == original.code:
        raise ReviewError("the code is unchanged: use Approve instead of Approve with edits")
    edited = new_proposal(
        original.session_id,
        original.round,
        EDIT_NOTE.format(reviewer=reviewer, original=original.id) + "\n\n" + original.rationale,
        code,
        estimated_evaluations=original.estimated_evaluations,
        estimated_tokens=original.estimated_tokens,
        estimated_usd=original.estimated_usd,
        follows=original.follows,
    )
    why = f"replaced by {edited.id} (sha256 {edited.sha256}; approved with edits by {reviewer})"
    rejection = f"{why}: {comment}" if comment.strip() else why
    approval = f"approved with edits of {original.id}" + (f": {comment}" if comment else "")
    check_decision_inputs(original.id, "reject", reviewer, rejection)
    check_decision_inputs(edited.id, "approve", reviewer, approval)
    reject(
        runs_dir, original.id, reviewer, rejection, expected_sha256=seen_sha256, key_file=key_file
    )
    session_dir = Path(runs_dir) / original.session_id
    try:
        write_proposal(session_dir, edited)
    except AarError as exc:
        raise ReviewError(
            f"{original.id} was rejected, but the edited proposal could not be written ({exc}); "
            "nothing was approved"
        ) from None
    return edited, approve(
        runs_dir, edited.id, reviewer, approval, expected_sha256=edited.sha256, key_file=key_file
    )


def replaced_by(history: list[AuditRecord]) -> str | None:
    """The proposal that replaced this one by an approve-with-edits, per its rejection."""
    for record in history:
        d = record.decision
        if record.outcome == "recorded" and d.decision == "reject":
            match = _REPLACED.match(d.comment)
            if match:
                return match.group(1)
    return None


def edited_from(
    proposal: Proposal, original_history: Callable[[str], list[AuditRecord]]
) -> str | None:
    """The proposal this one replaced, when its rationale says so AND the audit log's
    rejection of that proposal names this one (an agent can write the first, not the second)."""
    match = _EDITED.match(proposal.rationale)
    if match is None:
        return None
    original = match.group(1)
    return original if replaced_by(original_history(original)) == proposal.id else None
