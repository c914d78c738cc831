"""The audit chain: every edit, removal, reordering, insertion or forgery is named by line."""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import re
import stat

import pytest
from review_support import audit_lines, edit_record, make_proposal, write_audit_lines

from aar.review import (
    AUDIT_HEAD,
    AUDIT_LOG,
    AuditIntegrityError,
    AuditLog,
    AuditRecord,
    ReviewKeyError,
    approve,
    reject,
    review_key,
)


@pytest.fixture
def chain(runs):
    """A log of 4 records: approve, refused second attempt, reject, approve."""
    p1, p2, p3 = (make_proposal(runs) for _ in range(3))
    approve(runs, p1.id, "ana", "good")
    with pytest.raises(Exception, match="already approved"):
        reject(runs, p1.id, "bob", "too late")
    reject(runs, p2.id, "bob", "not convincing")
    approve(runs, p3.id, "cy")
    assert AuditLog(runs).verify().ok
    return runs


def bad(runs, line: int | None, match: str) -> None:
    report = AuditLog(runs).verify()
    assert not report.ok, report
    assert report.bad_line == line, report
    assert report.problem is not None and re.search(match, report.problem), report.problem
    with pytest.raises(AuditIntegrityError, match="fails verification"):
        AuditLog(runs).records()


def test_an_intact_chain_verifies(chain) -> None:
    report = AuditLog(chain).verify()
    assert (report.ok, report.records, report.bad_line, report.problem) == (True, 4, None, None)
    records = AuditLog(chain).records()
    assert [r.seq for r in records] == [1, 2, 3, 4]
    assert [r.outcome for r in records] == ["recorded", "refused", "recorded", "recorded"]
    assert records[0].prev_mac == "0" * 64
    assert all(b.prev_mac == a.mac for a, b in itertools.pairwise(records))


def test_an_empty_runs_dir_verifies_without_creating_a_key(runs, key_file) -> None:
    assert AuditLog(runs).verify().ok
    assert AuditLog(runs).records() == []
    assert not key_file.exists()


def test_the_key_is_created_once_with_mode_0600(runs, key_file) -> None:
    approve(runs, make_proposal(runs).id, "ana")
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert len(key_file.read_bytes()) == 32
    key = key_file.read_bytes()
    approve(runs, make_proposal(runs).id, "ana")
    assert key_file.read_bytes() == key


@pytest.mark.parametrize(
    "change",
    [
        {"decision__comment": "edited"},
        {"decision__decision": "reject"},
        {"decision__reviewer": "mallory"},
        {"decision__sha256": "0" * 64},
        {"outcome": "recorded"},  # a refused attempt turned into a decision
        {"decision__session_id": "s-20261201-130000-bbbbbb"},  # approval moved to a session
    ],
    ids=lambda c: next(iter(c)),
)
def test_an_edited_line_fails_its_mac(chain, change) -> None:
    lines = audit_lines(chain)
    target = 3 if "outcome" in change else 2  # line 3 holds the refused attempt
    lines[target - 1] = edit_record(lines[target - 1], **change)
    write_audit_lines(chain, lines)
    bad(chain, target, "MAC does not match: the line was edited, or forged")


def test_a_removed_middle_line_breaks_the_chain(chain) -> None:
    lines = audit_lines(chain)
    del lines[2]  # record 2
    write_audit_lines(chain, lines)
    bad(chain, 3, "holds record 3 where record 2 belongs")


def test_a_removed_first_record_breaks_the_chain(chain) -> None:
    lines = audit_lines(chain)
    del lines[1]
    write_audit_lines(chain, lines)
    bad(chain, 2, "holds record 2 where record 1 belongs")


def test_reordered_lines_break_the_chain(chain) -> None:
    lines = audit_lines(chain)
    lines[2], lines[3] = lines[3], lines[2]
    write_audit_lines(chain, lines)
    bad(chain, 3, "holds record 3 where record 2 belongs")


def test_renumbered_reordering_still_breaks_the_chain(chain) -> None:
    """Swapping two lines and fixing their seq numbers by hand breaks their MACs."""
    lines = audit_lines(chain)
    lines[2], lines[3] = edit_record(lines[3], seq=2), edit_record(lines[2], seq=3)
    write_audit_lines(chain, lines)
    bad(chain, 3, "MAC does not match")


def test_removed_last_lines_are_caught_by_the_head(chain) -> None:
    write_audit_lines(chain, audit_lines(chain)[:-2])
    bad(
        chain,
        4,
        "ends after record 2 but its head says 4 were written: the last lines were removed",
    )


def test_a_whole_log_removed_is_caught_by_the_head(chain) -> None:
    (chain / AUDIT_LOG).unlink()
    bad(chain, 2, "ends after record 0 but its head says 4")


def test_a_removed_or_edited_head_is_caught(chain) -> None:
    head = chain / AUDIT_HEAD
    saved = head.read_text()
    data = json.loads(saved)
    data["seq"] = 2
    head.write_text(json.dumps(data))
    bad(chain, None, "head file .* was edited")
    head.write_text("{")
    bad(chain, None, "head file .* unreadable or damaged")
    head.unlink()
    bad(chain, None, "head file .* is missing")
    head.write_text(saved)
    assert AuditLog(chain).verify().ok


def forged(lines: list[str], mac: str | None = None, **changes) -> str:
    """A new last record copied from the one before, pointing at its MAC."""
    last = json.loads(lines[-1])
    record = {**last, "seq": last["seq"] + 1, "prev_mac": last["mac"], "outcome": "recorded"}
    record["decision"] = {**last["decision"], **changes}
    body = json.dumps({k: v for k, v in record.items() if k != "mac"}, sort_keys=True)
    record["mac"] = mac or hashlib.sha256((last["mac"] + body).encode()).hexdigest()
    return json.dumps(record)


def test_a_forged_line_with_a_made_up_mac_fails(chain) -> None:
    lines = audit_lines(chain)
    write_audit_lines(chain, [*lines, forged(lines, mac="ab" * 32, item_id="p-0123456789ab")])
    bad(chain, 6, "MAC does not match")


def test_a_forged_line_with_a_recomputed_plain_sha256_chain_fails(chain) -> None:
    lines = audit_lines(chain)
    write_audit_lines(chain, [*lines, forged(lines, item_id="p-0123456789ab")])
    bad(chain, 6, "MAC does not match")


def test_a_line_chained_with_another_key_fails(chain, tmp_path) -> None:
    """An attacker who makes a key of their own cannot extend this installation's chain."""
    from aar.review import record_mac

    lines = audit_lines(chain)
    draft = AuditRecord.model_validate_json(forged(lines, item_id="p-0123456789ab"))
    other = os.urandom(32)
    line = draft.model_copy(update={"mac": record_mac(other, draft)}).model_dump_json()
    write_audit_lines(chain, [*lines, line])
    bad(chain, 6, "MAC does not match")
    real = review_key()
    assert record_mac(real, draft) != record_mac(other, draft)


def test_a_copied_line_inserted_again_breaks_the_chain(chain) -> None:
    lines = audit_lines(chain)
    write_audit_lines(chain, [*lines[:3], lines[1], *lines[3:]])
    bad(chain, 4, "holds record 1 where record 3 belongs")


def test_a_damaged_line_is_named(chain) -> None:
    lines = audit_lines(chain)
    lines[2] = lines[2][:40]
    write_audit_lines(chain, lines)
    bad(chain, 3, "line 3 is damaged")


def test_a_foreign_file_is_not_an_audit_log(runs) -> None:
    (runs / AUDIT_LOG).write_text('{"aar_log": "eval-records", "version": 1}\n')
    bad(runs, 1, "kind 'eval-records'")


def test_a_torn_last_line_from_a_crash_is_tolerated_and_mended(chain) -> None:
    """A crash mid-append leaves a torn line and an unmoved head: still verifies."""
    with (chain / AUDIT_LOG).open("a") as fh:
        fh.write('{"seq":5,"outcome":"rec')
    report = AuditLog(chain).verify()
    assert report.ok and report.torn_tail and report.records == 4
    approve(chain, make_proposal(chain).id, "ana")
    assert AuditLog(chain).verify().records == 5
    assert (chain / f"{AUDIT_LOG}.torn").read_text().startswith('{"seq":5')


def test_a_crash_between_the_append_and_the_head_verifies(chain) -> None:
    head = chain / AUDIT_HEAD
    saved = head.read_text()
    approve(chain, make_proposal(chain).id, "ana")
    head.write_text(saved)  # the head of record 4, as a crash before its update leaves it
    assert AuditLog(chain).verify().ok
    approve(chain, make_proposal(chain).id, "ana")
    assert AuditLog(chain).verify().records == 6


def test_a_missing_key_fails_verification_and_is_not_recreated(chain, key_file) -> None:
    key_file.unlink()
    bad(chain, None, "review key .* is missing")
    with pytest.raises(AuditIntegrityError, match="is missing"):
        approve(chain, make_proposal(chain).id, "ana")
    assert not key_file.exists()


def test_a_damaged_key_is_refused_and_left_as_it_is(chain, key_file) -> None:
    key_file.write_bytes(b"short")
    bad(chain, None, "holds 5 bytes, not 32: it is damaged")
    with pytest.raises(ReviewKeyError, match="damaged"):
        review_key()
    assert key_file.read_bytes() == b"short"


def test_nothing_is_appended_to_a_chain_that_fails(chain) -> None:
    lines = audit_lines(chain)
    lines[1] = edit_record(lines[1], decision__comment="edited")
    write_audit_lines(chain, lines)
    before = (chain / AUDIT_LOG).read_bytes()
    with pytest.raises(AuditIntegrityError, match="at line 2"):
        approve(chain, make_proposal(chain).id, "ana")
    assert (chain / AUDIT_LOG).read_bytes() == before
