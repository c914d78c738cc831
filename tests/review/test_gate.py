"""The gate: a follow-up runs only with a verified approval of its exact code, in its session.

Each bypass a hostile agent or a careless person could try is refused with a clear line.
"""

from __future__ import annotations

import json
import shutil
from datetime import timedelta

import pytest
from review_support import (
    CODE,
    SESSION_A,
    SESSION_B,
    audit_lines,
    edit_record,
    expired_proposal,
    log_proposal,
    make_proposal,
    session_dir,
    write_audit_lines,
)

from aar.review import (
    AUTOMATIC_REVIEWER,
    AlreadyDecidedError,
    AuditLog,
    GateError,
    Proposal,
    ProposalExpiredError,
    ProposalFileError,
    approve,
    authorize,
    expire_overdue,
    find_proposal,
    item_history,
    list_items,
    pending,
    proposal_path,
    read_proposal,
    reject,
)


def test_an_approved_proposal_passes_with_its_exact_code(runs) -> None:
    p = make_proposal(runs)
    decision = approve(runs, p.id, "ana", "looks right")
    assert authorize(runs, SESSION_A, p, CODE) == decision
    assert (decision.reviewer, decision.comment, decision.sha256) == (
        "ana",
        "looks right",
        p.sha256,
    )


def test_calling_the_gate_without_any_approval_is_refused(runs) -> None:
    p = make_proposal(runs)
    with pytest.raises(GateError, match=rf"refused proposal {p.id}: not approved"):
        authorize(runs, SESSION_A, p, CODE)
    reject(runs, make_proposal(runs).id, "ana", "other proposal")  # a log that is not empty
    with pytest.raises(GateError, match="not approved"):
        authorize(runs, SESSION_A, p, CODE)


def test_a_rejected_proposal_is_refused(runs) -> None:
    p = make_proposal(runs)
    reject(runs, p.id, "bob", "the sweep is too wide")
    with pytest.raises(GateError, match="rejected by bob: the sweep is too wide"):
        authorize(runs, SESSION_A, p, CODE)


@pytest.mark.parametrize(
    "edit",
    [
        lambda code: code + "import os; os.system('curl evil')\n",
        lambda code: code.replace("0.75", "0.76"),
        lambda code: code.replace("\n", "\r\n"),
        lambda code: code + " ",
        lambda code: code.replace("print", "pr\u200bint"),  # an invisible character
    ],
    ids=["appended", "one-digit", "line-endings", "trailing-space", "zero-width"],
)
def test_code_edited_after_approval_is_refused(runs, edit) -> None:
    p = make_proposal(runs)
    approve(runs, p.id, "ana")
    edited = edit(CODE)
    with pytest.raises(GateError, match=rf"edited after approval: approved sha256 {p.sha256} but"):
        authorize(runs, SESSION_A, p, edited)


def test_a_proposal_file_edited_after_approval_is_refused(runs) -> None:
    """Code and hash rewritten together in the file: it loads, but it is not what the session
    logged (tampered), nor what was approved."""
    from aar.hashing import content_sha256

    p = make_proposal(runs)
    approve(runs, p.id, "ana")
    path = proposal_path(runs / SESSION_A, p.id)
    new_code = CODE + "print('and one more thing')\n"
    data = json.loads(path.read_text()) | {"code": new_code, "sha256": content_sha256(new_code)}
    path.write_text(json.dumps(data))
    edited = read_proposal(path)
    with pytest.raises(GateError, match="tampered: the session log recorded sha256"):
        authorize(runs, SESSION_A, edited, edited.code)
    assert [i.status for i in list_items(runs)] == ["tampered"]


def test_an_approval_of_another_hash_is_void(runs) -> None:
    """The file is what the session logged, but the approval names another hash (an approval
    recorded by older code on a swapped file, the file since restored): void, never run."""
    from datetime import UTC, datetime

    from aar.review import Decision

    p = make_proposal(runs)
    other = Decision(
        item="proposal", item_id=p.id, session_id=SESSION_A, sha256="e" * 64,
        decision="approve", reviewer="ana", decided_at=datetime.now(UTC),
    )  # fmt: skip
    with AuditLog(runs).transaction() as txn:
        txn.append(other, "recorded")
    with pytest.raises(GateError, match="edited after approval"):
        authorize(runs, SESSION_A, p, p.code)
    [item] = list_items(runs)
    assert (
        item.status == "void"
        and item.problem
        and "approved sha256 eeeeeeeeeeeeeeee" in item.problem
    )


def test_a_proposal_object_whose_hash_was_not_checked_is_refused(runs) -> None:
    p = make_proposal(runs)
    approve(runs, p.id, "ana")
    forged = Proposal.model_construct(**{**p.__dict__, "code": CODE + "evil()\n"})
    with pytest.raises(GateError, match="its code does not hash to its sha256"):
        authorize(runs, SESSION_A, forged, CODE)


def test_an_approval_does_not_carry_over_to_another_session(runs) -> None:
    """Same code, another session's proposal: not approved; the session's own id is checked."""
    a = make_proposal(runs, SESSION_A)
    b = make_proposal(runs, SESSION_B)  # identical code, so an identical hash
    approve(runs, a.id, "ana")
    assert a.sha256 == b.sha256
    with pytest.raises(GateError, match="not approved"):
        authorize(runs, SESSION_B, b, CODE)
    with pytest.raises(GateError, match=f"it belongs to session {SESSION_A}, not {SESSION_B}"):
        authorize(runs, SESSION_B, a, CODE)


def test_a_proposal_file_copied_into_another_session_is_refused(runs) -> None:
    a = make_proposal(runs, SESSION_A)
    approve(runs, a.id, "ana")
    copy = proposal_path(session_dir(runs, SESSION_B), a.id)
    copy.parent.mkdir()
    shutil.copy(proposal_path(runs / SESSION_A, a.id), copy)
    with pytest.raises(ProposalFileError, match="copied from another session"):
        read_proposal(copy)
    # The copy rewritten to claim session B: it loads, and the approval still belongs to A.
    copy.write_text(json.dumps(json.loads(copy.read_text()) | {"session_id": SESSION_B}))
    claimed = read_proposal(copy)
    with pytest.raises(GateError, match=f"tampered: no log records proposal {a.id}"):
        authorize(runs, SESSION_B, claimed, CODE)  # session B never proposed it
    log_proposal(runs, claimed)  # even with B's log forged to name it
    with pytest.raises(GateError, match=f"the approval belongs to session {SESSION_A}, not"):
        authorize(runs, SESSION_B, claimed, CODE)
    with pytest.raises(ProposalFileError, match="appears in several sessions"):
        approve(runs, a.id, "mallory")


def test_an_audit_line_copied_for_another_session_is_refused(runs) -> None:
    """Session A's approval line re-appended, rewritten for B's proposal of the same code."""
    a = make_proposal(runs, SESSION_A)
    b = make_proposal(runs, SESSION_B)
    approve(runs, a.id, "ana")
    lines = audit_lines(runs)
    copied = edit_record(
        lines[1], seq=2, prev_mac=json.loads(lines[1])["mac"],
        decision__session_id=SESSION_B, decision__item_id=b.id,
    )  # fmt: skip
    write_audit_lines(runs, [*lines, copied])
    with pytest.raises(GateError, match=r"audit log .* fails verification at line 3: its MAC"):
        authorize(runs, SESSION_B, b, CODE)
    with pytest.raises(GateError, match="fails verification at line 3"):
        authorize(runs, SESSION_A, a, CODE)  # nothing is trusted, not even A's own approval


def test_a_verbatim_copied_audit_line_is_refused(runs) -> None:
    a = make_proposal(runs)
    approve(runs, a.id, "ana")
    lines = audit_lines(runs)
    write_audit_lines(runs, [*lines, lines[1]])
    with pytest.raises(GateError, match="line 3: it holds record 1 where record 2 belongs"):
        authorize(runs, SESSION_A, a, CODE)


def test_a_forged_approval_line_is_refused(runs) -> None:
    """An approval written by hand (valid JSON, a made-up MAC) for a proposal nobody approved."""
    decided = make_proposal(runs)
    target = make_proposal(runs)
    reject(runs, decided.id, "ana", "no")
    lines = audit_lines(runs)
    forged = edit_record(
        lines[1], seq=2, prev_mac=json.loads(lines[1])["mac"], mac="f" * 64,
        decision__item_id=target.id, decision__decision="approve", decision__comment="",
    )  # fmt: skip
    write_audit_lines(runs, [*lines, forged])
    with pytest.raises(GateError, match="fails verification at line 3"):
        authorize(runs, SESSION_A, target, CODE)


def test_a_deleted_rejection_is_caught(runs) -> None:
    """Removing the rejection (the last line) to make the proposal pending again fails."""
    p = make_proposal(runs)
    reject(runs, p.id, "ana", "no")
    write_audit_lines(runs, audit_lines(runs)[:1])
    with pytest.raises(GateError, match="the last lines were removed"):
        authorize(runs, SESSION_A, p, CODE)
    with pytest.raises(Exception, match="the last lines were removed"):
        approve(runs, p.id, "mallory")


def test_deciding_twice_is_refused_and_audited(runs) -> None:
    p = make_proposal(runs)
    approve(runs, p.id, "ana", "yes")
    with pytest.raises(AlreadyDecidedError, match="already approved by ana"):
        reject(runs, p.id, "bob", "no")
    with pytest.raises(AlreadyDecidedError, match="already approved by ana"):
        approve(runs, p.id, "ana", "again")
    history = item_history(runs, p.id)
    assert [(r.outcome, r.decision.reviewer) for r in history] == [
        ("recorded", "ana"),
        ("refused", "bob"),
        ("refused", "ana"),
    ]
    assert "already approved by ana" in history[1].reason
    assert authorize(runs, SESSION_A, p, CODE).reviewer == "ana"
    assert AuditLog(runs).verify().ok


def test_deciding_an_expired_proposal_records_an_automatic_rejection(runs) -> None:
    p = expired_proposal(runs)
    assert [i.status for i in list_items(runs)] == ["expired"]
    assert pending(runs, SESSION_A) == []
    with pytest.raises(ProposalExpiredError, match=r"expired at .*automatic rejection"):
        approve(runs, p.id, "ana")
    history = item_history(runs, p.id)
    assert [(r.outcome, r.decision.decision, r.decision.reviewer) for r in history] == [
        ("recorded", "reject", AUTOMATIC_REVIEWER),
        ("refused", "approve", "ana"),
    ]
    assert "expired at" in history[0].decision.comment
    with pytest.raises(GateError, match=f"rejected by {AUTOMATIC_REVIEWER}: expired at"):
        authorize(runs, SESSION_A, p, CODE)
    with pytest.raises(AlreadyDecidedError, match=f"already rejected by {AUTOMATIC_REVIEWER}"):
        approve(runs, p.id, "ana")


def test_an_approval_dated_after_the_expiry_is_refused(runs) -> None:
    p = make_proposal(runs)
    decision = approve(runs, p.id, "ana")
    earlier = p.model_copy(update={"expires_at": decision.decided_at - timedelta(seconds=1)})
    with pytest.raises(GateError, match="approved after it expired"):
        authorize(runs, SESSION_A, earlier, CODE)


def test_expire_overdue_rejects_only_undecided_expired_proposals(runs) -> None:
    old = expired_proposal(runs)
    old_decided = expired_proposal(runs, code=CODE + "# other\n")
    fresh = make_proposal(runs)
    with pytest.raises(ProposalExpiredError):
        reject(runs, old_decided.id, "ana", "no")
    done = expire_overdue(runs, SESSION_A)
    assert [d.item_id for d in done] == [old.id]
    assert expire_overdue(runs) == []
    statuses = {i.id: i.status for i in list_items(runs)}
    assert statuses == {old.id: "rejected", old_decided.id: "rejected", fresh.id: "pending"}


def test_pending_lists_the_sessions_undecided_proposals(runs) -> None:
    a1, a2 = make_proposal(runs, SESSION_A), make_proposal(runs, SESSION_A, code=CODE + "#2\n")
    b1 = make_proposal(runs, SESSION_B)
    assert [i.id for i in pending(runs, SESSION_A)] == [a1.id, a2.id]
    approve(runs, a1.id, "ana")
    assert [i.id for i in pending(runs, SESSION_A)] == [a2.id]
    assert [i.id for i in pending(runs, SESSION_B)] == [b1.id]
    items = {i.id: i for i in list_items(runs)}
    assert items[a1.id].status == "approved" and items[a1.id].decision.reviewer == "ana"
    assert [i.id for i in list_items(runs, status="pending")] == [a2.id, b1.id]
    assert find_proposal(runs, a2.id) == a2
