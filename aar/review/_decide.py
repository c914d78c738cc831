"""Recording decisions: approve or reject a proposal or a finding, first decision wins.

Under the audit log's lock, a decision is checked against the verified chain and appended in
one step, so two reviewers deciding the same item at the same moment get exactly one recorded
decision; the other attempt is appended as `refused` (audited, not counted) and its caller gets
an `AlreadyDecidedError`. A proposal past its expiry gets an automatic rejection (reviewer
`aar`, the reason in its comment) and the attempt is refused. A finding's decision is then
applied to the findings memory (`FindingsStore.update_review`); the audit log stays the record
of truth, and deciding again re-applies a decision the memory missed.

A decision binds what the reviewer read: `expected_sha256` (the CLI's `--sha256`, the web
form's hidden field) is compared with the item's hash under the same lock as the append, so
nothing can change between the check and the record; a mismatch records nothing. A proposal
file that is not what its session logged (`tampered`, see `_logged.py`) is refused, and the
attempt is audited.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from aar.errors import AarError
from aar.review._audit import AuditLog, AuditRecord, AuditTransaction
from aar.review._errors import (
    AlreadyDecidedError,
    HashMismatchError,
    MemorySyncError,
    ProposalExpiredError,
    ProposalTamperedError,
    ReviewError,
)
from aar.review._findings import finding_sha256, get_finding, open_findings_store
from aar.review._gate import tampered_message
from aar.review._logged import proposal_log
from aar.review._models import (
    AUTOMATIC_REVIEWER,
    MAX_COMMENT_CHARS,
    SHA256_PREFIX,
    Decision,
    ItemKind,
    Proposal,
    Verdict,
)
from aar.review._proposals import check_runs_dir, find_proposal, item_kind, runs_proposals

if TYPE_CHECKING:
    from aar.memory import FindingsStore, ReviewStatus


def approve(
    runs_dir: Path,
    item_id: str,
    reviewer: str,
    comment: str = "",
    *,
    expected_sha256: str | None = None,
    store: FindingsStore | None = None,
    key_file: Path | None = None,
) -> Decision:
    """Approve a proposal (`p-...`) or a finding; returns the recorded decision. With
    `expected_sha256` (the hash, or its first 12+ digits, the reviewer read) the item must
    still hash to it."""
    return decide(
        runs_dir,
        item_id,
        "approve",
        reviewer,
        comment,
        expected_sha256=expected_sha256,
        store=store,
        key_file=key_file,
    )


def reject(
    runs_dir: Path,
    item_id: str,
    reviewer: str,
    comment: str,
    *,
    expected_sha256: str | None = None,
    store: FindingsStore | None = None,
    key_file: Path | None = None,
) -> Decision:
    """Reject a proposal or a finding; a rejection needs a comment saying why."""
    return decide(
        runs_dir,
        item_id,
        "reject",
        reviewer,
        comment,
        expected_sha256=expected_sha256,
        store=store,
        key_file=key_file,
    )


def decide(
    runs_dir: Path,
    item_id: str,
    verdict: Verdict,
    reviewer: str,
    comment: str,
    *,
    expected_sha256: str | None = None,
    store: FindingsStore | None = None,
    key_file: Path | None = None,
) -> Decision:
    """`approve` or `reject`. Inputs are checked before anything is read or written."""
    kind = check_decision_inputs(item_id, verdict, reviewer, comment, expected_sha256)
    expected = expected_sha256.lower() if expected_sha256 is not None else None
    runs_dir = check_runs_dir(Path(runs_dir))
    log = AuditLog(runs_dir, key_file=key_file)
    if kind == "proposal":
        return _decide_proposal(log, item_id, verdict, reviewer, comment, expected)
    return _decide_finding(
        log, store or open_findings_store(), item_id, verdict, reviewer, comment, expected
    )


def check_decision_inputs(
    item_id: str,
    verdict: Verdict,
    reviewer: str,
    comment: str,
    expected_sha256: str | None = None,
) -> ItemKind:
    """One clear line for each input a decision cannot take; the kind of item `item_id` is."""
    kind = item_kind(item_id)
    if not reviewer.strip() or len(reviewer) > 200 or not reviewer.isprintable():
        raise ReviewError(
            f"reviewer {reviewer!r} is not a usable name (1-200 printable characters; "
            "set AAR_REVIEWER)"
        )
    if verdict == "reject" and not comment.strip():
        raise ReviewError("a rejection needs a comment saying why (-m 'why')")
    if len(comment) > MAX_COMMENT_CHARS:
        raise ReviewError(f"the comment has {len(comment)} characters; at most {MAX_COMMENT_CHARS}")
    if not _is_text(comment):
        raise ReviewError(
            "the comment holds bytes that are not text in the terminal's encoding (UTF-8 "
            "expected); type it again"
        )
    if expected_sha256 is not None and not (
        _is_text(expected_sha256) and re.fullmatch(SHA256_PREFIX, expected_sha256.lower())
    ):
        raise ReviewError(
            f"--sha256 must be the sha256 `aar review show {item_id}` prints, or its first 12 "
            f"or more hex digits; got {expected_sha256.encode(errors='replace').decode()!r}"
        )
    return kind


def _is_text(value: str) -> bool:
    """False for a string holding undecodable bytes (Python keeps them as lone surrogates)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _check_expected(kind: ItemKind, item_id: str, actual: str, expected: str | None) -> None:
    if expected is not None and not actual.startswith(expected):
        raise HashMismatchError(
            f"{kind} {item_id} hashes to {actual[:16]}…, not to the sha256 {expected[:16]}… "
            f"you read; read it again (`aar review show {item_id}`); nothing was recorded"
        )


def _decide_proposal(
    log: AuditLog,
    proposal_id: str,
    verdict: Verdict,
    reviewer: str,
    comment: str,
    expected: str | None,
) -> Decision:
    """Read the proposal and what its session logged, check both and the reviewer's hash, and
    append: all under the audit log's lock, so the record binds exactly what was checked."""
    seen = find_proposal(log.runs_dir, proposal_id)  # missing or damaged: before the lock
    if proposal_log(log.runs_dir / seen.session_id, []).problem_of(seen) is None:
        _check_expected("proposal", seen.id, seen.sha256, expected)  # a typo writes no lock
    with log.transaction() as txn:
        proposal = find_proposal(log.runs_dir, proposal_id)
        decision = Decision(
            item="proposal",
            item_id=proposal.id,
            session_id=proposal.session_id,
            sha256=proposal.sha256,
            decision=verdict,
            reviewer=reviewer,
            comment=comment,
            decided_at=datetime.now(UTC),
        )
        tampered = proposal_log(log.runs_dir / proposal.session_id, txn.records).problem_of(
            proposal
        )
        if tampered is not None:
            txn.append(decision, "refused", f"tampered: {tampered}"[:2000])
            raise ProposalTamperedError(
                tampered_message(proposal.id, tampered) + "; this attempt was audited as refused"
            )
        _check_expected("proposal", proposal.id, proposal.sha256, expected)
        earlier = txn.recorded("proposal", proposal.id)
        if earlier:
            raise _refuse_twice(txn, decision, earlier[0])
        if proposal.expired(decision.decided_at):
            _expire(txn, proposal, decision.decided_at)
            when = proposal.expires_at.isoformat(timespec="seconds")
            txn.append(decision, "refused", f"the proposal expired at {when}")
            raise ProposalExpiredError(
                f"proposal {proposal.id} expired at {when}; an automatic rejection was recorded "
                "and your decision was not"
            )
        txn.append(decision, "recorded")
    return decision


def _refuse_twice(txn: AuditTransaction, attempt: Decision, first: AuditRecord) -> ReviewError:
    """Audit the refused attempt; the error to raise names the decision that counts."""
    won = first.decision
    verb = "approved" if won.decision == "approve" else "rejected"
    decided = f"{verb} by {won.reviewer} at {won.decided_at.isoformat(timespec='seconds')}"
    txn.append(attempt, "refused", f"already {decided} (record {first.seq})")
    return AlreadyDecidedError(
        f"{attempt.item} {attempt.item_id} was already {decided}; the first decision counts "
        "and this attempt was audited as refused"
    )


def _expire(txn: AuditTransaction, proposal: Proposal, now: datetime) -> Decision:
    when = proposal.expires_at.isoformat(timespec="seconds")
    auto = Decision(
        item="proposal",
        item_id=proposal.id,
        session_id=proposal.session_id,
        sha256=proposal.sha256,
        decision="reject",
        reviewer=AUTOMATIC_REVIEWER,
        comment=f"expired at {when} without a decision (automatic rejection)",
        decided_at=now,
    )
    txn.append(auto, "recorded", "expired")
    return auto


def expire_overdue(
    runs_dir: Path, session_id: str | None = None, *, key_file: Path | None = None
) -> list[Decision]:
    """Record an automatic rejection for every undecided proposal past its expiry.

    The session calls it before resuming, so an expired proposal blocks nothing.
    """
    runs_dir = check_runs_dir(Path(runs_dir))
    proposals = runs_proposals(runs_dir, session_id)
    now = datetime.now(UTC)
    done: list[Decision] = []
    with AuditLog(runs_dir, key_file=key_file).transaction() as txn:
        for proposal in proposals:
            if proposal.expired(now) and not txn.recorded("proposal", proposal.id):
                done.append(_expire(txn, proposal, now))
    return done


def _decide_finding(
    log: AuditLog,
    store: FindingsStore,
    finding_id: str,
    verdict: Verdict,
    reviewer: str,
    comment: str,
    expected: str | None,
) -> Decision:
    finding = get_finding(store, finding_id)
    _check_expected("finding", finding.id, finding_sha256(finding), expected)
    decision = Decision(
        item="finding",
        item_id=finding.id,
        session_id=finding.session_id,
        sha256=finding_sha256(finding),
        decision=verdict,
        reviewer=reviewer,
        comment=comment,
        decided_at=datetime.now(UTC),
    )
    refused: ReviewError | None = None
    with log.transaction() as txn:
        earlier = txn.recorded("finding", finding.id)
        if earlier:
            refused = _refuse_twice(txn, decision, earlier[0])
        else:
            txn.append(decision, "recorded")
    _apply_to_memory(store, earlier[0].decision if earlier else decision)
    if refused is not None:
        raise refused
    return decision


def _apply_to_memory(store: FindingsStore, decision: Decision) -> None:
    """Set the memory's review to the decision that counts, if the finding is still the one
    that was decided (an edited finding keeps its status: the decision no longer covers it)."""
    finding = get_finding(store, decision.item_id)
    status: ReviewStatus = "approved" if decision.decision == "approve" else "rejected"
    if finding_sha256(finding) != decision.sha256:
        return
    review = finding.review
    if (review.status, review.reviewer, review.comment or "") == (
        status,
        decision.reviewer,
        decision.comment,
    ):
        return
    try:
        store.update_review(
            finding.id, status=status, reviewer=decision.reviewer, comment=decision.comment or None
        )
    except AarError as exc:
        raise MemorySyncError(
            f"the decision on {finding.id} is in the audit log, but the findings memory was not "
            f"updated ({exc}); run the same command again to apply it"
        ) from None
