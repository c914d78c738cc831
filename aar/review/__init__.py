"""The review gate: proposals bound to content hashes, decisions in a hash-chained audit log.

A round proposes follow-ups (`Proposal`: rationale, exact code, its sha256, estimates, expiry);
people approve or reject them, and the round's findings, with `approve` / `reject`; each
decision (and each refused attempt) is a record of the keyed audit chain (`AuditLog`); and
`authorize` lets a follow-up run only when a verified approval names this proposal, this
session and the hash of the exact code about to run.
"""

from aar.keys import KEY_BYTES
from aar.review._audit import (
    AUDIT_HEAD,
    AUDIT_LOCK,
    AUDIT_LOG,
    AuditLog,
    AuditRecord,
    AuditTransaction,
    Outcome,
    VerifyReport,
    head_mac,
    record_mac,
    recorded_for,
)
from aar.review._decide import (
    AUTOMATIC_REVIEWER,
    approve,
    check_decision_inputs,
    decide,
    expire_overdue,
    reject,
)
from aar.review._errors import (
    AlreadyDecidedError,
    AuditBusyError,
    AuditIntegrityError,
    GateError,
    ItemNotFoundError,
    MemorySyncError,
    ProposalExpiredError,
    ProposalFileError,
    ReviewError,
    ReviewKeyError,
)
from aar.review._findings import finding_sha256, open_findings_store
from aar.review._gate import (
    authorize,
    finding_item,
    item_history,
    list_items,
    pending,
    proposal_item,
    show_item,
)
from aar.review._key import review_key, review_key_file
from aar.review._models import (
    ITEM_STATUSES,
    Decision,
    ItemKind,
    ItemStatus,
    Proposal,
    ReviewItem,
    Verdict,
    new_proposal,
    new_proposal_id,
)
from aar.review._proposals import (
    PROPOSALS_DIR,
    check_runs_dir,
    find_proposal,
    is_proposal_id,
    item_kind,
    proposal_path,
    read_proposal,
    runs_proposals,
    session_proposals,
    write_proposal,
)

__all__ = [
    "AUDIT_HEAD",
    "AUDIT_LOCK",
    "AUDIT_LOG",
    "AUTOMATIC_REVIEWER",
    "ITEM_STATUSES",
    "KEY_BYTES",
    "PROPOSALS_DIR",
    "AlreadyDecidedError",
    "AuditBusyError",
    "AuditIntegrityError",
    "AuditLog",
    "AuditRecord",
    "AuditTransaction",
    "Decision",
    "GateError",
    "ItemKind",
    "ItemNotFoundError",
    "ItemStatus",
    "MemorySyncError",
    "Outcome",
    "Proposal",
    "ProposalExpiredError",
    "ProposalFileError",
    "ReviewError",
    "ReviewItem",
    "ReviewKeyError",
    "Verdict",
    "VerifyReport",
    "approve",
    "authorize",
    "check_decision_inputs",
    "check_runs_dir",
    "decide",
    "expire_overdue",
    "find_proposal",
    "finding_item",
    "finding_sha256",
    "head_mac",
    "is_proposal_id",
    "item_history",
    "item_kind",
    "list_items",
    "new_proposal",
    "new_proposal_id",
    "open_findings_store",
    "pending",
    "proposal_item",
    "proposal_path",
    "read_proposal",
    "record_mac",
    "recorded_for",
    "reject",
    "review_key",
    "review_key_file",
    "runs_proposals",
    "session_proposals",
    "show_item",
    "write_proposal",
]
