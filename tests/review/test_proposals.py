"""Proposals: the hash binds the code, files are written once and read back where they belong."""

from __future__ import annotations

import json
import shutil
from datetime import timedelta

import pytest
from review_support import CODE, SESSION_A, SESSION_B, make_proposal, session_dir

from aar.errors import PathError
from aar.hashing import content_sha256
from aar.review import (
    ItemNotFoundError,
    Proposal,
    ProposalFileError,
    find_proposal,
    new_proposal,
    proposal_path,
    read_proposal,
    runs_proposals,
    session_proposals,
    write_proposal,
)


def test_new_proposal_hashes_its_code_and_expires_after_the_configured_lifetime(
    runs, monkeypatch
) -> None:
    from aar.config import get_settings

    monkeypatch.setenv("AAR_REVIEW__PROPOSAL_LIFETIME_DAYS", "2")
    get_settings.cache_clear()
    p = new_proposal(SESSION_A, 1, "why", CODE, estimated_evaluations=3, estimated_tokens=9)
    assert p.sha256 == content_sha256(CODE)
    assert p.id.startswith("p-") and len(p.id) == 14
    assert p.expires_at - p.created_at == timedelta(days=2)
    short = new_proposal(
        SESSION_A, 1, "why", CODE, estimated_evaluations=0, estimated_tokens=0,
        lifetime=timedelta(hours=1),
    )  # fmt: skip
    assert short.expires_at - short.created_at == timedelta(hours=1)


def test_written_proposal_reads_back_identically(runs) -> None:
    p = make_proposal(runs, estimated_usd=0.25, follows="e-1-abcdef")
    path = proposal_path(runs / SESSION_A, p.id)
    assert path.is_file()
    assert read_proposal(path) == p
    assert find_proposal(runs, p.id) == p
    assert session_proposals(runs / SESSION_A) == [p]
    assert runs_proposals(runs) == [p] and runs_proposals(runs, SESSION_A) == [p]


def test_a_proposal_whose_code_does_not_match_its_hash_is_refused(runs) -> None:
    p = make_proposal(runs)
    with pytest.raises(ValueError, match="does not match its code"):
        Proposal.model_validate({**p.model_dump(), "code": CODE + "print('extra')\n"})
    path = proposal_path(runs / SESSION_A, p.id)
    data = json.loads(path.read_text())
    data["code"] = CODE.replace("0.75", "7.5")  # edited code, old hash
    path.write_text(json.dumps(data))
    with pytest.raises(ProposalFileError, match=r"is damaged: .*sha256 .* does not match its code"):
        read_proposal(path)
    with pytest.raises(ProposalFileError, match="damaged"):
        find_proposal(runs, p.id)


def test_damaged_proposal_files_are_one_clear_error(runs) -> None:
    p = make_proposal(runs)
    path = proposal_path(runs / SESSION_A, p.id)
    for content, match in (
        (b"{not json", "is damaged"),
        (b"\xff\xfe", "is damaged"),
        (json.dumps({**json.loads(path.read_text()), "extra": 1}).encode(), "extra: unknown key"),
        (b"[]", "is damaged"),
    ):
        path.write_bytes(content)
        with pytest.raises(ProposalFileError, match=match):
            read_proposal(path)


def test_a_proposal_file_is_never_replaced(runs) -> None:
    p = make_proposal(runs)
    before = proposal_path(runs / SESSION_A, p.id).read_bytes()
    with pytest.raises(ProposalFileError, match="already exists"):
        write_proposal(runs / SESSION_A, p)
    assert proposal_path(runs / SESSION_A, p.id).read_bytes() == before


def test_a_proposal_is_written_only_into_its_own_session(runs) -> None:
    p = new_proposal(SESSION_A, 1, "why", CODE, estimated_evaluations=1, estimated_tokens=1)
    with pytest.raises(ProposalFileError, match=f"belongs to session {SESSION_A}"):
        write_proposal(session_dir(runs, SESSION_B), p)
    with pytest.raises(PathError, match="does not exist"):
        write_proposal(runs / SESSION_A, p)  # no such session directory yet


def test_a_proposal_file_copied_into_another_session_is_refused(runs) -> None:
    p = make_proposal(runs)
    copy = proposal_path(session_dir(runs, SESSION_B), p.id)
    copy.parent.mkdir()
    shutil.copy(proposal_path(runs / SESSION_A, p.id), copy)
    with pytest.raises(ProposalFileError, match=r"lies in .*bbbbbb but belongs to .*aaaaaa"):
        read_proposal(copy)
    with pytest.raises(ProposalFileError, match="appears in several sessions"):
        find_proposal(runs, p.id)


def test_a_renamed_proposal_file_is_refused(runs) -> None:
    p = make_proposal(runs)
    path = proposal_path(runs / SESSION_A, p.id)
    renamed = path.with_name("p-000000000000.json")
    path.rename(renamed)
    with pytest.raises(ProposalFileError, match="renamed"):
        read_proposal(renamed)


def test_unknown_and_malformed_ids_and_sessions(runs) -> None:
    with pytest.raises(ItemNotFoundError, match="no proposal p-0123456789ab"):
        find_proposal(runs, "p-0123456789ab")
    with pytest.raises(ItemNotFoundError, match="not a proposal id"):
        find_proposal(runs, "p-*")
    with pytest.raises(ItemNotFoundError, match="not a session id"):
        runs_proposals(runs, "../etc")
    with pytest.raises(ItemNotFoundError, match="no session"):
        runs_proposals(runs, SESSION_B)
