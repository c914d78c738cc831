"""The gate and the review queue: what may run, and what waits for a person.

`authorize` is the one check between an approved proposal and running it. It trusts nothing
it has not verified: the audit chain is checked first, then the proposal must be the one its
session logged when it was proposed (`_logged.py`), and the approval must name this proposal,
this session and the hash of the very code about to run (recomputed here from the bytes the
caller passes), made before expiry and never rejected. Every refusal is one `GateError` line
saying which check failed.

`followups_to_run` is what `aar resume` asks before a follow-up round: the approved proposals
of the round, or a refusal naming every proposal that is tampered, void, missing or still
pending. It never answers "nothing approved" for a round whose proposals are not all there.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from aar.errors import AarError
from aar.hashing import content_sha256
from aar.review._audit import AuditLog, AuditRecord, recorded_for
from aar.review._errors import (
    AuditIntegrityError,
    GateError,
    ProposalTamperedError,
    ReviewError,
    ReviewKeyError,
)
from aar.review._findings import finding_sha256, get_finding, open_findings_store
from aar.review._logged import ProposalLog, proposal_log
from aar.review._models import AUTOMATIC_REVIEWER, Decision, ItemStatus, Proposal, ReviewItem
from aar.review._proposals import check_runs_dir, find_proposal, item_kind, runs_proposals

if TYPE_CHECKING:
    from aar.memory import Finding, FindingsStore


def authorize(
    runs_dir: Path,
    session_id: str,
    proposal: Proposal,
    code_to_run: str,
    *,
    key_file: Path | None = None,
) -> Decision:
    """The approval that lets `code_to_run` run as `proposal` in `session_id`, or a GateError."""
    refused = f"gate refused proposal {proposal.id}"
    try:
        records = AuditLog(check_runs_dir(Path(runs_dir)), key_file=key_file).records()
    except (AuditIntegrityError, ReviewKeyError) as exc:
        raise GateError(f"{refused}: {exc}") from None
    actual = content_sha256(code_to_run)
    _check_proposal(refused, session_id, proposal)
    tampered = proposal_log(Path(runs_dir) / session_id, records).problem_of(proposal)
    if tampered is not None:
        audit_refusal(
            runs_dir, session_id, proposal.id, proposal.sha256, tampered, key_file=key_file
        )
        raise GateError(f"{refused}: tampered: {tampered}")
    approval = _standing_decision(recorded_for(records, "proposal", proposal.id))
    if approval is None:
        raise GateError(
            f"{refused}: not approved (no decision in the audit log; "
            f"`aar review approve {proposal.id}`)"
        )
    if approval.decision == "reject":
        raise GateError(f"{refused}: rejected by {approval.reviewer}: {approval.comment}")
    if approval.session_id != session_id:
        raise GateError(
            f"{refused}: the approval belongs to session {approval.session_id}, not {session_id}"
        )
    if approval.sha256 != actual:
        raise GateError(
            f"{refused}: edited after approval: approved sha256 {approval.sha256} but the code "
            f"to run hashes to {actual}"
        )
    if approval.decided_at > proposal.expires_at:
        raise GateError(f"{refused}: approved after it expired at {proposal.expires_at}")
    return approval


def _check_proposal(refused: str, session_id: str, proposal: Proposal) -> None:
    """The proposal object itself: its own hash (a model built without validation is caught
    here) and its session."""
    if content_sha256(proposal.code) != proposal.sha256:
        raise GateError(f"{refused}: its code does not hash to its sha256 {proposal.sha256}")
    if proposal.session_id != session_id:
        raise GateError(f"{refused}: it belongs to session {proposal.session_id}, not {session_id}")


def pending(
    runs_dir: Path,
    session_id: str,
    *,
    store: FindingsStore | None = None,
    key_file: Path | None = None,
) -> list[ReviewItem]:
    """The session's items that wait for a decision (findings too when `store` is given).

    Expired proposals are not pending: they can only be rejected (`expire_overdue`).
    """
    items = list_items(runs_dir, session_id=session_id, store=store, key_file=key_file)
    return [item for item in items if item.status == "pending"]


def list_items(
    runs_dir: Path,
    *,
    session_id: str | None = None,
    status: ItemStatus | None = None,
    store: FindingsStore | None = None,
    key_file: Path | None = None,
    damaged: list[tuple[Path, str]] | None = None,
) -> list[ReviewItem]:
    """Proposals (and, with `store`, findings) with their review status from the audit log;
    `damaged` collects unreadable proposal files instead of failing (see `runs_proposals`)."""
    runs_dir = check_runs_dir(Path(runs_dir))
    records = AuditLog(runs_dir, key_file=key_file).records()
    proposals = runs_proposals(runs_dir, session_id, damaged=damaged)
    by_item: dict[tuple[str, str], list[AuditRecord]] = {}
    for record in records:
        by_item.setdefault((record.decision.item, record.decision.item_id), []).append(record)
    now = datetime.now(UTC)
    logs: dict[str, ProposalLog] = {}
    for sid in sorted({p.session_id for p in proposals}):
        logs[sid] = proposal_log(runs_dir / sid, records)
    items = [
        proposal_item(p, by_item.get(("proposal", p.id), []), now, log=logs[p.session_id])
        for p in proposals
    ]
    if store is not None:
        findings = _session_findings(store, session_id)
        items += [finding_item(f, by_item.get(("finding", f.id), [])) for f in findings]
    return [item for item in items if status is None or item.status == status]


def _session_findings(store: FindingsStore, session_id: str | None) -> list[Finding]:
    from aar.memory import FindingFilter

    return store.list_findings(FindingFilter(session_id=session_id, include_duplicates=True))


def proposal_item(
    proposal: Proposal,
    records: list[AuditRecord],
    now: datetime | None = None,
    *,
    log: ProposalLog,
) -> ReviewItem:
    """A proposal's entry in the queue, its status derived from the verified records and from
    what its session logged (`log`): a file that is not what was logged is `tampered`, whatever
    was decided."""
    decided = recorded_for(records, "proposal", proposal.id)
    status, decision = _status(decided, proposal.sha256, proposal.session_id)
    problem = log.problem_of(proposal)
    if problem is not None:
        status = "tampered"
    elif status == "void" and decision is not None:
        problem = _void_problem(decision, proposal.sha256, proposal.session_id)
    elif status == "pending" and proposal.expired(now):
        status = "expired"
    return ReviewItem(
        kind="proposal",
        id=proposal.id,
        session_id=proposal.session_id,
        round=proposal.round,
        status=status,
        sha256=proposal.sha256,
        summary=_first_line(proposal.rationale),
        created_at=proposal.created_at,
        expires_at=proposal.expires_at,
        decision=decision,
        problem=problem,
    )


def _void_problem(approval: Decision, sha256: str, session_id: str) -> str:
    if approval.session_id != session_id:
        return f"the approval belongs to session {approval.session_id}, not {session_id}"
    return (
        f"approved sha256 {approval.sha256[:16]}… but the file now hashes to {sha256[:16]}… "
        "(edited after approval)"
    )


def finding_item(finding: Finding, records: list[AuditRecord]) -> ReviewItem:
    """A finding's entry; its status is the audit log's, not the memory's own field."""
    sha = finding_sha256(finding)
    decided = recorded_for(records, "finding", finding.id)
    status, decision = _status(decided, sha, finding.session_id)
    return ReviewItem(
        kind="finding",
        id=finding.id,
        session_id=finding.session_id,
        round=finding.round,
        status=status,
        sha256=sha,
        summary=_first_line(finding.summary),
        created_at=finding.created_at,
        decision=decision,
    )


def _status(
    decided: list[AuditRecord], sha256: str, session_id: str
) -> tuple[ItemStatus, Decision | None]:
    decision = _standing_decision(decided)
    if decision is None:
        return "pending", None
    if decision.decision == "reject":
        return "rejected", decision
    valid = decision.sha256 == sha256 and decision.session_id == session_id
    return ("approved" if valid else "void"), decision


def _standing_decision(decided: list[AuditRecord]) -> Decision | None:
    """The decision that counts among an item's recorded ones (oldest first), for the gate
    and the queue alike: a rejection wins, else the first decision counts; None while there
    is none. (`decide` records one decision per item; a log holding more still never lets
    an approval stand beside a rejection.)"""
    decisions = [r.decision for r in decided]
    rejection = next((d for d in decisions if d.decision == "reject"), None)
    return rejection or (decisions[0] if decisions else None)


def _first_line(text: str, limit: int = 200) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= limit else line[: limit - 1] + "…"


def item_history(
    runs_dir: Path, item_id: str, *, key_file: Path | None = None
) -> list[AuditRecord]:
    """Every audit record (recorded and refused) about one item, oldest first."""
    kind = item_kind(item_id)
    records = AuditLog(check_runs_dir(Path(runs_dir)), key_file=key_file).records()
    return [r for r in records if r.decision.item == kind and r.decision.item_id == item_id]


def show_item(
    runs_dir: Path,
    item_id: str,
    *,
    store: FindingsStore | None = None,
    key_file: Path | None = None,
) -> tuple[ReviewItem, Proposal | Finding, list[AuditRecord]]:
    """(queue entry, the proposal or finding itself, its audit history) of one item."""
    kind = item_kind(item_id)
    runs_dir = check_runs_dir(Path(runs_dir))
    if kind == "proposal":
        proposal = find_proposal(runs_dir, item_id)
        records = AuditLog(runs_dir, key_file=key_file).records()
        history = [r for r in records if r.decision.item == kind and r.decision.item_id == item_id]
        log = proposal_log(runs_dir / proposal.session_id, records)
        item = proposal_item(proposal, history, log=log)
        if item.status == "tampered":
            raise ProposalTamperedError(tampered_message(item.id, item.problem or ""))
        return item, proposal, history
    finding = get_finding(store or open_findings_store(), item_id)
    history = item_history(runs_dir, item_id, key_file=key_file)
    return finding_item(finding, history), finding, history


def tampered_message(proposal_id: str, problem: str) -> str:
    """The one line every command refuses a tampered proposal with."""
    return (
        f"proposal {proposal_id} is tampered: {problem}; it cannot be reviewed, decided or "
        "run. Restore its file from the session's git history (`git log -- "
        f"proposals/{proposal_id}.json` in the session directory) or remove a file added by hand"
    )


def audit_refusal(
    runs_dir: Path,
    session_id: str,
    proposal_id: str,
    sha256: str,
    problem: str,
    *,
    key_file: Path | None = None,
) -> None:
    """Record, once per proposal and file hash, that the gate refused to run a tampered
    proposal: a `refused` record by reviewer `aar` whose reason starts `tampered: `. The
    refusal stands whether or not this record can be written (a log that fails verification
    takes nothing)."""
    reason = f"tampered: the gate refused to run it: {problem}"[:2000]
    try:
        with AuditLog(Path(runs_dir), key_file=key_file).transaction() as txn:
            if any(
                r.outcome == "refused"
                and r.decision.item_id == proposal_id
                and r.decision.sha256 == sha256
                and r.decision.reviewer == AUTOMATIC_REVIEWER
                for r in txn.records
            ):
                return
            attempt = Decision(
                item="proposal",
                item_id=proposal_id,
                session_id=session_id,
                sha256=sha256,
                decision="approve",
                reviewer=AUTOMATIC_REVIEWER,
                decided_at=datetime.now(UTC),
            )
            txn.append(attempt, "refused", reason)
    except AarError:
        return


def followups_to_run(
    runs_dir: Path, session_id: str, round: int, *, key_file: Path | None = None
) -> list[str]:
    """The approved proposals of round `round` that its follow-up round runs (empty: nothing
    was approved, and the session may close). Refused with one `GateError` line naming each
    proposal of the session that is tampered, each approval of the round that is void, and
    each proposal the session logged in the round whose file is gone; an `AarError` while any
    is still pending. Nothing is written."""
    runs_dir = check_runs_dir(Path(runs_dir))
    records = AuditLog(runs_dir, key_file=key_file).records()
    log = proposal_log(runs_dir / session_id, records)
    if log.problem is not None:
        raise GateError(f"session {session_id} cannot resume: {log.problem}")
    proposals = runs_proposals(runs_dir, session_id)
    now = datetime.now(UTC)
    items = [proposal_item(p, records, now, log=log) for p in proposals]
    present = {p.id for p in proposals}
    blocking = []
    for i in items:
        if i.status == "tampered":
            audit_refusal(runs_dir, session_id, i.id, i.sha256, i.problem or "", key_file=key_file)
            blocking.append(f"{i.id} is tampered ({i.problem})")
    blocking += [
        f"{i.id}'s approval is void ({i.problem})"
        for i in items
        if i.status == "void" and i.round == round
    ]
    blocking += [
        f"{pid} is missing (the session's log proposed it in round {round}, but "
        f"proposals/{pid}.json is gone)"
        for pid in log.of_round(round)
        if pid not in present
    ]
    if blocking:
        raise GateError(
            f"session {session_id} cannot start its follow-up round, and stays awaiting review "
            f"(nothing ran): proposal {'; proposal '.join(blocking)}. Restore the proposal "
            "files from the session's git history (`git log -- proposals` in its directory)"
        )
    mine = [i for i in items if i.round == round]
    waiting = [i.id for i in mine if i.status == "pending"]
    if waiting:
        raise ReviewError(
            f"session {session_id} waits for review of {', '.join(waiting)}: decide them first "
            f"(aar review list --session {session_id}); nothing runs while a decision is pending"
        )
    return [i.id for i in mine if i.status == "approved"]
