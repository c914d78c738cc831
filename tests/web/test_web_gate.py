"""The gate binds what the reviewer read, on a real session (issue 18, part 5): the page's
decision carries the hash it showed into the locked check-and-append, a tampered proposal is
shown as such and refused, and `aar resume` refuses (exit 1, naming it, the session left open)
when an approval is void or tampered or proposals/ lost its files."""

from __future__ import annotations

import shutil

import pytest
from web_support import Site, add_proposal, client_for, decide_form, login, resume

from aar.hashing import content_sha256
from aar.review import (
    AUDIT_LOG,
    AuditLog,
    Decision,
    Proposal,
    approve,
    new_proposal,
    read_proposal,
    reject,
    write_proposal,
)

pytestmark = pytest.mark.slow

EVIL = "# %%\nprint('code nobody reviewed')\n"


def swap(site: Site, p: Proposal, code: str = EVIL) -> Proposal:
    """The proposal file's code and sha256 replaced together (the file still loads)."""
    path = site.session_dir / "proposals" / f"{p.id}.json"
    swapped = p.model_copy(update={"code": code, "sha256": content_sha256(code)})
    path.write_text(swapped.model_dump_json(indent=2))
    return read_proposal(path)


def proposals(site: Site) -> list[Proposal]:
    return [read_proposal(site.session_dir / "proposals" / f"{p}.json") for p in site.proposals]


def records(site: Site) -> list:
    return AuditLog(site.runs).records()


@pytest.fixture(scope="module")
def alice(site: Site):
    c = client_for(site)
    return c, login(c, "alice")


def test_a_file_swapped_after_the_page_showed_it_is_never_approved(
    alice, site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The swap lands after the page's own reads and before the decision: the check happens
    under the audit lock, with the hash the page showed, so the swapped file is refused."""
    import aar.web._actions as actions

    c, csrf = alice
    p = add_proposal(site, "# %%\nprint('read me')\n")
    assert p.sha256 in c.get(f"/proposals/{p.id}").text
    real = actions.decide

    def swap_first(*args, **kwargs):
        swap(site, p)
        return real(*args, **kwargs)

    monkeypatch.setattr(actions, "decide", swap_first)
    response = c.post(f"/items/{p.id}/decide", data=decide_form(csrf, "approve", p.sha256))
    assert response.status_code == 409 and "is tampered" in response.text
    mine = [r for r in records(site) if r.decision.item_id == p.id]
    assert [(r.outcome, r.reason.split(":")[0]) for r in mine] == [("refused", "tampered")]


def test_a_tampered_proposal_page_names_it_and_refuses_decisions(alice, site: Site) -> None:
    c, csrf = alice
    p = add_proposal(site, "# %%\nprint('swap me')\n")
    swapped = swap(site, p)
    page = c.get(f"/proposals/{p.id}").text
    assert "badge-tampered" in page and "Tampered: the session log recorded sha256" in page
    assert p.sha256[:16] in page and f'action="/items/{p.id}/decide"' not in page
    assert f"/proposals/{p.id}/edit" not in page
    session_page = c.get(f"/sessions/{site.session_id}").text
    assert "badge-tampered" in session_page
    for verdict, comment in (("approve", ""), ("reject", "no")):
        response = c.post(
            f"/items/{p.id}/decide", data=decide_form(csrf, verdict, swapped.sha256, comment)
        )
        assert response.status_code == 409 and "is tampered" in response.text
    edit = c.post(
        f"/proposals/{p.id}/edit", data={"csrf": csrf, "sha256": swapped.sha256, "code": "x=1"}
    )
    assert edit.status_code == 409 and "is tampered" in edit.text
    mine = [r for r in records(site) if r.decision.item_id == p.id]
    assert [r.outcome for r in mine] == ["refused", "refused", "refused"]


def test_a_form_for_an_older_hash_records_nothing(alice, site: Site) -> None:
    c, csrf = alice
    p = add_proposal(site, "# %%\nprint('current')\n")
    other = add_proposal(site, "# %%\nprint('other')\n")
    before = (site.runs / AUDIT_LOG).read_bytes() if (site.runs / AUDIT_LOG).exists() else b""
    response = c.post(f"/items/{p.id}/decide", data=decide_form(csrf, "approve", other.sha256))
    assert response.status_code == 400 and "reload the page" in response.text
    after = (site.runs / AUDIT_LOG).read_bytes() if (site.runs / AUDIT_LOG).exists() else b""
    assert after == before


def _resume_refused(site: Site, *needles: str) -> None:
    """`aar resume` exits 1 naming each needle; the session's log is untouched (not closed)."""
    log = site.session_dir / "events.jsonl"
    before = log.read_bytes()
    out = resume(site)
    assert out.returncode == 1, (out.returncode, out.stdout, out.stderr)
    errors = [line for line in out.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and "Traceback" not in out.stderr, out.stderr
    for needle in needles:
        assert needle in errors[0], (needle, errors[0])
    assert "stays awaiting review" in errors[0] and "closed" not in out.stdout
    assert log.read_bytes() == before


def test_resume_refuses_an_approval_whose_file_was_swapped(fresh_site: Site) -> None:
    """Measured: an edited approved proposal was not run, but `aar resume` closed the session
    for good, exit 0, never naming it."""
    a, b = proposals(fresh_site)
    approve(fresh_site.runs, a.id, "alice", expected_sha256=a.sha256)
    reject(fresh_site.runs, b.id, "alice", "not now")
    swapped = swap(fresh_site, a)
    _resume_refused(fresh_site, f"proposal {a.id} is tampered", a.sha256[:16])
    _resume_refused(fresh_site, f"proposal {a.id} is tampered")  # and again, audited once
    audited = [r for r in records(fresh_site) if r.decision.item_id == a.id][1:]
    assert [(r.outcome, r.decision.reviewer, r.decision.sha256) for r in audited] == [
        ("refused", "aar", swapped.sha256)
    ]
    assert audited[0].reason.startswith("tampered: the gate refused to run it")


def test_resume_refuses_a_void_approval(fresh_site: Site) -> None:
    """The file is what the session logged, but its approval names another hash."""
    from datetime import UTC, datetime

    a, b = proposals(fresh_site)
    stale = Decision(
        item="proposal", item_id=a.id, session_id=fresh_site.session_id, sha256="e" * 64,
        decision="approve", reviewer="alice", decided_at=datetime.now(UTC),
    )  # fmt: skip
    with AuditLog(fresh_site.runs).transaction() as txn:
        txn.append(stale, "recorded")
    reject(fresh_site.runs, b.id, "alice", "not now")
    _resume_refused(fresh_site, f"proposal {a.id}'s approval is void", "eeeeeeeeeeeeeeee")


def test_resume_refuses_an_emptied_proposals_directory(fresh_site: Site) -> None:
    """Measured: an empty proposals/ made `aar resume` close the session as nothing approved."""
    a, b = proposals(fresh_site)
    approve(fresh_site.runs, a.id, "alice", expected_sha256=a.sha256)
    for path in (fresh_site.session_dir / "proposals").iterdir():
        path.unlink()
    _resume_refused(fresh_site, f"{a.id} is missing", f"{b.id} is missing", "round 1")


def test_resume_refuses_a_replaced_proposals_directory(fresh_site: Site) -> None:
    a, _ = proposals(fresh_site)
    shutil.rmtree(fresh_site.session_dir / "proposals")
    planted = new_proposal(
        fresh_site.session_id, 1, "planted", EVIL, estimated_evaluations=1, estimated_tokens=1
    )
    (fresh_site.session_dir / "proposals").mkdir()
    write_proposal(fresh_site.session_dir, planted)
    _resume_refused(fresh_site, f"{planted.id} is tampered", f"{a.id} is missing")


def test_a_proposal_edited_on_the_page_runs_after_resume(fresh_site: Site) -> None:
    """The edited version is in no session log: its hash is the one the original's audited
    rejection names, so the gate lets exactly it run."""
    from web_support import assert_ran_exactly

    c = client_for(fresh_site)
    csrf = login(c)
    a, b = proposals(fresh_site)
    code = a.code + "print('narrowed at review')\n"
    response = c.post(
        f"/proposals/{a.id}/edit", data={"csrf": csrf, "sha256": a.sha256, "code": code}
    )
    assert response.status_code == 303, response.text
    new_id = response.headers["location"].split("/")[2].split("?")[0]
    [rejection] = [r for r in records(fresh_site) if r.decision.item_id == a.id]
    assert content_sha256(code) in rejection.decision.comment
    reject(fresh_site.runs, b.id, "alice", "not now")
    done = resume(fresh_site)
    assert done.returncode == 0, done.stderr
    assert_ran_exactly(fresh_site, new_id)
