"""The gate binds what the reviewer read (issue 18, part 5).

A proposal's reference hash is what its session logged when it was proposed, so a file swapped
for another with a recomputed hash is `tampered`: listed as such, refused by show, approve and
reject, and each refused decision audited. `approve` takes the hash the reviewer read
(`--sha256`), asks on a terminal without it, and refuses without a terminal.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from review_support import CODE, SESSION_A, audit_lines, make_proposal, session_dir
from typer.testing import CliRunner

from aar.cli import app
from aar.config import get_settings
from aar.hashing import content_sha256
from aar.review import (
    AUDIT_LOG,
    AuditLog,
    GateError,
    HashMismatchError,
    Proposal,
    ProposalTamperedError,
    approve,
    authorize,
    list_items,
    new_proposal,
    proposal_path,
    read_proposal,
    reject,
    write_proposal,
)

EVIL = "# %%\nimport os\nprint('not what the reviewer read')\n"


def aar(runs: Path, *args: str, input: str | None = None):
    os.environ["AAR_REVIEWER"] = "ana"
    get_settings.cache_clear()
    try:
        return CliRunner().invoke(app, ["review", *args, "--runs-dir", str(runs)], input=input)
    finally:
        get_settings.cache_clear()


def error_line(result) -> str:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


def swap(runs: Path, p: Proposal, code: str = EVIL) -> Proposal:
    """Replace the proposal file's code AND its sha256 (so the file loads: the measured hole)."""
    path = proposal_path(runs / p.session_id, p.id)
    swapped = p.model_copy(update={"code": code, "sha256": content_sha256(code)})
    path.write_text(swapped.model_dump_json(indent=2))
    return read_proposal(path)


def audit_size(runs: Path) -> int:
    return (runs / AUDIT_LOG).stat().st_size if (runs / AUDIT_LOG).exists() else 0


def test_a_file_swapped_between_show_and_approve_is_refused_and_audited(runs) -> None:
    """Measured: the swapped file was approved (its recomputed hash) and then run."""
    p = make_proposal(runs)
    shown = aar(runs, "show", p.id)
    assert shown.exit_code == 0 and p.sha256 in shown.stdout
    assert f"aar review approve {p.id} --sha256 {p.sha256[:16]}" in shown.stdout
    swapped = swap(runs, p)
    result = aar(runs, "approve", p.id, "--sha256", p.sha256[:12])
    assert result.exit_code == 1
    line = error_line(result)
    assert f"proposal {p.id} is tampered" in line and p.sha256[:16] in line
    assert swapped.sha256[:16] in line and "audited as refused" in line
    [record] = AuditLog(runs).records()
    assert record.outcome == "refused" and record.reason.startswith("tampered: ")
    assert record.decision.sha256 == swapped.sha256 and record.decision.reviewer == "ana"
    # the swapped hash itself is refused just the same: the file is not what was logged
    again = aar(runs, "approve", p.id, "--sha256", swapped.sha256[:12])
    assert again.exit_code == 1 and "tampered" in error_line(again)
    assert [r.outcome for r in AuditLog(runs).records()] == ["refused", "refused"]
    with pytest.raises(GateError, match="tampered"):
        authorize(runs, SESSION_A, swapped, swapped.code)


def test_tampered_is_named_by_list_and_refused_by_show_and_reject(runs) -> None:
    good, bad = make_proposal(runs), make_proposal(runs, code=CODE + "# b\n")
    swap(runs, bad)
    listed = aar(runs, "list", "--json")
    assert listed.exit_code == 0, listed.stderr
    items = {i["id"]: i for i in json.loads(listed.stdout)["items"]}
    assert items[good.id]["status"] == "pending" and items[good.id]["problem"] is None
    assert items[bad.id]["status"] == "tampered"
    assert "the session log recorded sha256 " + bad.sha256[:16] in items[bad.id]["problem"]
    assert f"warning: {bad.id} is tampered" in listed.stderr
    table = aar(runs, "list", "--status", "tampered")
    assert bad.id in table.stdout and good.id not in table.stdout
    shown = aar(runs, "show", bad.id)
    assert shown.exit_code == 1 and f"proposal {bad.id} is tampered" in error_line(shown)
    assert aar(runs, "show", bad.id, "--json").exit_code == 1
    rejected = aar(runs, "reject", bad.id, "-m", "no")
    assert rejected.exit_code == 1 and "tampered" in error_line(rejected)
    assert [(r.outcome, r.decision.decision) for r in AuditLog(runs).records()] == [
        ("refused", "reject")
    ]


def test_a_proposal_no_log_records_is_tampered(runs) -> None:
    """A file put into proposals/ by hand (hash and all consistent) was never proposed."""
    p = new_proposal(SESSION_A, 1, "planted", EVIL, estimated_evaluations=1, estimated_tokens=1)
    make_proposal(runs)  # the session and its log exist
    write_proposal(session_dir(runs), p)
    [item] = [i for i in list_items(runs) if i.id == p.id]
    assert item.status == "tampered" and "never proposed it" in (item.problem or "")
    with pytest.raises(ProposalTamperedError, match="never proposed it"):
        approve(runs, p.id, "ana")
    with pytest.raises(GateError, match="tampered: no log records"):
        authorize(runs, SESSION_A, p, p.code)


def test_the_gate_audits_its_refusal_to_run_a_tampered_proposal_once(runs) -> None:
    from aar.review import followups_to_run

    p = make_proposal(runs)
    approve(runs, p.id, "ana", expected_sha256=p.sha256)
    swapped = swap(runs, p)
    for _ in range(2):
        with pytest.raises(GateError, match=f"proposal {p.id} is tampered"):
            followups_to_run(runs, SESSION_A, 1)
        with pytest.raises(GateError, match="tampered"):
            authorize(runs, SESSION_A, swapped, swapped.code)
    gate = [r for r in AuditLog(runs).records() if r.decision.reviewer == "aar"]
    assert [(r.outcome, r.decision.sha256) for r in gate] == [("refused", swapped.sha256)]
    assert [i.status for i in list_items(runs)] == ["tampered"]  # the approval still counts for
    # nothing: a refused record is never a decision


def test_a_wrong_sha256_prefix_is_refused_and_records_nothing(runs) -> None:
    p = make_proposal(runs)
    other = make_proposal(runs, code=CODE + "# other\n")
    aar(runs, "approve", other.id, "--sha256", other.sha256[:12])
    before = audit_lines(runs)
    result = aar(runs, "approve", p.id, "--sha256", other.sha256[:12])
    assert result.exit_code == 1
    assert f"hashes to {p.sha256[:16]}…, not to the sha256 {other.sha256[:12]}" in error_line(
        result
    )
    assert audit_lines(runs) == before
    with pytest.raises(HashMismatchError):
        reject(runs, p.id, "ana", "no", expected_sha256=other.sha256)
    assert audit_lines(runs) == before
    ok = aar(runs, "approve", p.id, "--sha256", p.sha256.upper(), "--json")  # full hash, any case
    assert ok.exit_code == 0 and json.loads(ok.stdout)["sha256"] == p.sha256


@pytest.mark.parametrize("prefix", ["", "abc", "0123456789a", "zz" * 8, "0" * 65, " " * 12])
def test_a_malformed_sha256_is_a_usage_error(runs, prefix: str) -> None:
    p = make_proposal(runs)
    result = aar(runs, "approve", p.id, "--sha256", prefix)
    assert result.exit_code == 2 and "--sha256 must be" in error_line(result)
    assert not (runs / AUDIT_LOG).exists()


def test_approve_without_sha256_and_without_a_terminal_is_refused(runs) -> None:
    p = make_proposal(runs)
    result = aar(runs, "approve", p.id)
    assert result.exit_code == 2
    assert "approve needs --sha256 PREFIX" in error_line(result)
    assert not (runs / AUDIT_LOG).exists()
    # rejecting needs no hash: it can run nothing
    assert aar(runs, "reject", p.id, "-m", "not now").exit_code == 0


def test_approve_on_a_terminal_shows_the_hash_and_asks(runs, monkeypatch) -> None:
    import aar._cli.review as review_cli

    monkeypatch.setattr(review_cli, "_on_terminal", lambda: True)
    p, q = make_proposal(runs), make_proposal(runs, code=CODE + "# q\n")
    declined = aar(runs, "approve", p.id, input="n\n")
    assert declined.exit_code == 1 and p.sha256 in declined.stderr
    assert "nothing was recorded" in declined.stderr and not (runs / AUDIT_LOG).exists()
    agreed = aar(runs, "approve", p.id, "--json", input="y\n")
    assert agreed.exit_code == 0, agreed.stderr
    decision = agreed.stdout[agreed.stdout.index("{") :]  # CliRunner echoes the typed "y"
    assert json.loads(decision)["sha256"] == p.sha256

    def swap_then_yes(*args, **kwargs) -> bool:  # the file changes while the reviewer reads
        swap(runs, q)
        return True

    monkeypatch.setattr(review_cli.typer, "confirm", swap_then_yes)
    late = aar(runs, "approve", q.id)
    assert late.exit_code == 1 and q.sha256 in late.stderr  # what was asked about
    assert late.stderr.splitlines()[-1].startswith(f"error: proposal {q.id} is tampered")
    assert [i.status for i in list_items(runs)] == ["approved", "tampered"]


def test_an_undecodable_comment_is_one_line(runs) -> None:
    p = make_proposal(runs)
    with pytest.raises(Exception, match="not text"):
        approve(runs, p.id, "ana", "\udcff\udcfe", expected_sha256=p.sha256)
    assert not (runs / AUDIT_LOG).exists()


def test_an_edit_made_on_the_page_is_logged_by_its_audited_rejection(runs) -> None:
    """Approve-with-edits writes a proposal no session log records; the original's audited
    rejection names its sha256, so it is not tampered, and a swap of it still is."""
    from aar.web._edits import approve_with_edits

    p = make_proposal(runs)
    edited, approval = approve_with_edits(
        runs, p, CODE + "# narrower\n", "ana", "", seen_sha256=p.sha256
    )
    assert approval.sha256 == edited.sha256
    statuses = {i.id: i.status for i in list_items(runs)}
    assert statuses == {p.id: "rejected", edited.id: "approved"}
    authorize(runs, SESSION_A, edited, edited.code)
    swap(runs, edited)
    assert {i.id: i.status for i in list_items(runs)}[edited.id] == "tampered"


def test_a_corrupt_session_log_makes_its_proposals_tampered(runs) -> None:
    p = make_proposal(runs)
    log = runs / SESSION_A / "events.jsonl"
    lines = log.read_text().splitlines()
    log.write_text("\n".join([lines[0], "{broken", *lines[1:]]) + "\n")
    [item] = list_items(runs)
    assert item.status == "tampered" and "log cannot be read" in (item.problem or "")
    with pytest.raises(ProposalTamperedError):
        approve(runs, p.id, "ana", expected_sha256=p.sha256)


def test_an_edit_made_by_older_code_is_known_by_its_approval(runs) -> None:
    """Before the rejection named the new hash, the edit's own approval (same step, same key)
    is its logged hash: sessions reviewed with older code stay readable and runnable."""
    from datetime import UTC, datetime

    from aar.review import Decision

    p = make_proposal(runs)
    edited = new_proposal(
        SESSION_A, 1, "Edited at review by ana", CODE + "# e\n", estimated_evaluations=1,
        estimated_tokens=1,
    )  # fmt: skip
    write_proposal(session_dir(runs), edited)
    reject(runs, p.id, "ana", f"replaced by {edited.id} (approved with edits by ana)")
    old = Decision(
        item="proposal", item_id=edited.id, session_id=SESSION_A, sha256=edited.sha256,
        decision="approve", reviewer="ana", comment=f"approved with edits of {p.id}",
        decided_at=datetime.now(UTC),
    )  # fmt: skip
    with AuditLog(runs).transaction() as txn:
        txn.append(old, "recorded")
    assert {i.id: i.status for i in list_items(runs)} == {p.id: "rejected", edited.id: "approved"}
    authorize(runs, SESSION_A, edited, edited.code)
