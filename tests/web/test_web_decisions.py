"""Deciding on the page (TestClient over a real session): approve, reject, approve with edits,
and every way a POST is refused, each with its status code and nothing written."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

import pytest
from web_support import (
    CODE_B,
    Site,
    add_proposal,
    assert_ran_exactly,
    client_for,
    decide_form,
    log_proposal,
    login,
    resume,
)

from aar.hashing import content_sha256
from aar.review import AUDIT_LOG, AuditLog, Proposal, new_proposal_id, read_proposal, write_proposal

pytestmark = pytest.mark.slow


def audit_bytes(site: Site) -> bytes:
    path = site.runs / AUDIT_LOG
    return path.read_bytes() if path.exists() else b""


def records(site: Site) -> list:
    return AuditLog(site.runs).records()


@pytest.fixture(scope="module")
def alice(site: Site):
    c = client_for(site)
    return c, login(c, "alice")


def test_approve_records_the_logged_in_reviewer_not_a_form_field(alice, site: Site) -> None:
    c, csrf = alice
    p = add_proposal(site, "# %%\nprint('approve me')\n")
    form = decide_form(csrf, "approve", p.sha256, "looks right") | {"reviewer": "mallory"}
    response = c.post(f"/items/{p.id}/decide", data=form)
    assert response.status_code == 303
    assert response.headers["location"] == f"/proposals/{p.id}?decided=approve"
    last = records(site)[-1]
    assert (last.decision.item_id, last.decision.reviewer, last.outcome) == (
        p.id,
        "alice",
        "recorded",
    )
    assert last.decision.comment == "looks right" and last.decision.sha256 == p.sha256
    page = c.get(response.headers["location"]).text
    assert "Your approval was recorded" in page and "badge-approved" in page and "by alice" in page


@pytest.mark.parametrize(
    ("change", "status", "says"),
    [
        ({"verdict": "maybe"}, 400, "verdict: Input should be &#39;approve&#39; or &#39;reject"),
        ({"sha256": "0" * 64}, 400, "reload the page"),
        ({"sha256": None}, 400, "reload the page"),
        ({"verdict": "reject", "comment": "  "}, 400, "needs a comment"),
        ({"comment": "x" * 4001}, 400, "at most 4000"),
        ({"csrf": None}, 403, "CSRF"),
        ({"csrf": "forged"}, 403, "CSRF"),
    ],
)
def test_a_bad_form_is_refused_with_nothing_written(
    alice, site: Site, change: dict, status: int, says: str
) -> None:
    c, csrf = alice
    p = add_proposal(site, f"# %%\nprint({time.monotonic_ns()})\n")
    form = decide_form(csrf, "approve", p.sha256) | change
    before = audit_bytes(site)
    response = c.post(
        f"/items/{p.id}/decide", data={k: v for k, v in form.items() if v is not None}
    )
    assert response.status_code == status, response.text
    assert says in response.text and "<html" in response.text
    assert audit_bytes(site) == before


def test_unknown_items_are_404_and_write_nothing(alice, site: Site) -> None:
    c, csrf = alice
    before = audit_bytes(site)
    for item in ("p-000000000000", "f-000000000000", "p-nothex", "../x"):
        response = c.post(f"/items/{item}/decide", data=decide_form(csrf, "approve", "0" * 64))
        assert response.status_code == 404, (item, response.text)
    edit = c.post(
        "/proposals/p-000000000000/edit", data={"csrf": csrf, "code": "x", "sha256": "0" * 64}
    )
    assert edit.status_code == 404
    assert audit_bytes(site) == before


def test_a_stale_csrf_secret_from_an_earlier_login_is_refused(site: Site) -> None:
    c = client_for(site)
    old = login(c, "alice")
    new = login(c, "alice")
    assert old != new
    p = add_proposal(site, "# %%\nprint('stale')\n")
    before = audit_bytes(site)
    response = c.post(f"/items/{p.id}/decide", data=decide_form(old, "approve", p.sha256))
    assert response.status_code == 403 and "reload the page" in response.text
    bob = client_for(site)
    bob.cookies = c.cookies  # alice's login with bob's form secret
    response = c.post(
        f"/items/{p.id}/decide", data=decide_form(login(bob, "bob"), "approve", p.sha256)
    )
    assert response.status_code == 403
    assert audit_bytes(site) == before


def test_an_expired_login_goes_to_the_login_page_and_decides_nothing(site: Site) -> None:
    c = client_for(site, login_seconds=1.0)
    csrf = login(c)
    p = add_proposal(site, "# %%\nprint('too late')\n")
    kept = c.cookies["aar_login"]
    time.sleep(1.2)
    assert c.get("/").status_code == 303  # the browser dropped it (Max-Age); a client that
    c.cookies.set("aar_login", kept)  # keeps it anyway meets the signed expiry
    page = c.get(f"/proposals/{p.id}")
    assert page.status_code == 303 and "expired=1" in page.headers["location"]
    assert "Your login expired" in c.get(page.headers["location"]).text
    before = audit_bytes(site)
    response = c.post(f"/items/{p.id}/decide", data=decide_form(csrf, "approve", p.sha256))
    assert response.status_code == 401 and "login expired" in response.text
    assert audit_bytes(site) == before


def test_no_login_a_forged_cookie_and_a_foreign_origin_are_refused(alice, site: Site) -> None:
    c, csrf = alice
    p = add_proposal(site, "# %%\nprint('forged')\n")
    before = audit_bytes(site)
    anonymous = client_for(site)
    response = anonymous.post(f"/items/{p.id}/decide", data=decide_form(csrf, "approve", p.sha256))
    assert response.status_code == 401 and "not logged in" in response.text
    forged = client_for(site)
    value = c.cookies["aar_login"]
    body, mac = value.split(".")
    forged.cookies.set("aar_login", body[:-4] + "AAAA." + mac)
    assert forged.get("/").status_code == 303
    response = forged.post(f"/items/{p.id}/decide", data=decide_form(csrf, "approve", p.sha256))
    assert response.status_code == 401
    response = c.post(
        f"/items/{p.id}/decide",
        data=decide_form(csrf, "approve", p.sha256),
        headers={"origin": "http://evil.example"},
    )
    assert response.status_code == 403 and "another site" in response.text
    assert audit_bytes(site) == before


def test_a_bad_token_and_a_stale_login_form_are_refused(site: Site) -> None:
    c = client_for(site)
    page = c.get("/login")
    from web_support import csrf_of

    csrf = csrf_of(page.text)
    wrong = c.post("/login", data={"token": "not-a-token", "csrf": csrf})
    assert wrong.status_code == 401 and "not one of the configured" in wrong.text
    other = client_for(site)
    stale = other.post("/login", data={"token": "x", "csrf": csrf})
    assert stale.status_code == 403 and "login form expired" in stale.text
    assert "aar_login" not in c.cookies and "aar_login" not in other.cookies


def test_logout_ends_the_login(site: Site) -> None:
    c = client_for(site)
    csrf = login(c)
    assert c.post("/logout", data={"csrf": "wrong"}).status_code == 403
    assert c.post("/logout", data={"csrf": csrf}).status_code == 303
    assert c.get("/").status_code == 303


def test_a_second_decision_is_409_and_audited(alice, site: Site) -> None:
    c, csrf = alice
    bob = client_for(site)
    bob_csrf = login(bob, "bob")
    p = add_proposal(site, "# %%\nprint('twice')\n")
    assert (
        c.post(f"/items/{p.id}/decide", data=decide_form(csrf, "approve", p.sha256)).status_code
        == 303
    )
    response = bob.post(
        f"/items/{p.id}/decide", data=decide_form(bob_csrf, "reject", p.sha256, "no")
    )
    assert response.status_code == 409 and "already approved by alice" in response.text
    mine = [r for r in records(site) if r.decision.item_id == p.id]
    assert [(r.outcome, r.decision.reviewer) for r in mine] == [
        ("recorded", "alice"),
        ("refused", "bob"),
    ]
    page = bob.get(f"/proposals/{p.id}").text
    assert "badge-approved" in page and "already approved by alice" in page


def test_an_expired_proposal_is_rejected_when_a_page_loads(alice, site: Site) -> None:
    c, csrf = alice
    now = datetime.now(UTC)
    code = "# %%\nprint('old idea')\n"
    p = Proposal(
        id=new_proposal_id(),
        session_id=site.session_id,
        round=1,
        rationale="an old idea",
        code=code,
        sha256=content_sha256(code),
        estimated_evaluations=1,
        estimated_tokens=1,
        created_at=now - timedelta(days=8),
        expires_at=now - timedelta(hours=1),
    )
    write_proposal(site.session_dir, p)
    log_proposal(site, p)
    page = c.get(f"/proposals/{p.id}").text
    assert "badge-rejected" in page and "by aar" in page and "automatic rejection" in page
    response = c.post(f"/items/{p.id}/decide", data=decide_form(csrf, "approve", p.sha256))
    assert response.status_code == 409 and "already rejected by aar" in response.text


def test_approve_with_edits_makes_a_new_approved_proposal(alice, site: Site) -> None:
    c, csrf = alice
    original = add_proposal(site, "# %%\nprint('sweep', [0.1, 0.2])\n", rationale="a sweep")
    edited_code = "# %%\r\nprint('sweep', [0.1, 0.2, 0.4])\r\n"
    response = c.post(
        f"/proposals/{original.id}/edit",
        data={"csrf": csrf, "sha256": original.sha256, "code": edited_code, "comment": "wider"},
    )
    assert response.status_code == 303, response.text
    new_id = response.headers["location"].split("/")[2].split("?")[0]
    new = read_proposal(site.session_dir / "proposals" / f"{new_id}.json")
    assert new.code == "# %%\nprint('sweep', [0.1, 0.2, 0.4])\n" and new.sha256 != original.sha256
    assert (new.session_id, new.round, new.follows) == (
        original.session_id,
        original.round,
        original.follows,
    )
    mine = {r.decision.item_id: r.decision for r in records(site) if r.outcome == "recorded"}
    assert mine[new_id].decision == "approve" and mine[new_id].reviewer == "alice"
    assert mine[original.id].decision == "reject" and new_id in mine[original.id].comment
    page = c.get(response.headers["location"]).text
    assert "edited from" in page and original.id in page and "What the reviewer changed" in page
    assert '<span class="d-add">+print(&#39;sweep&#39;, [0.1, 0.2, 0.4])</span>' in page
    assert "badge-approved" in page
    old_page = c.get(f"/proposals/{original.id}").text
    assert "Replaced at review by the edited proposal" in old_page and new_id in old_page


def test_approve_with_edits_refuses_unchanged_code_and_decided_proposals(alice, site: Site) -> None:
    c, csrf = alice
    p = add_proposal(site, "# %%\nprint('same')\n")
    files = set((site.session_dir / "proposals").iterdir())
    before = audit_bytes(site)
    same = c.post(
        f"/proposals/{p.id}/edit", data={"csrf": csrf, "sha256": p.sha256, "code": p.code}
    )
    assert same.status_code == 400 and "unchanged" in same.text
    assert audit_bytes(site) == before
    c.post(f"/items/{p.id}/decide", data=decide_form(csrf, "approve", p.sha256))
    late = c.post(f"/proposals/{p.id}/edit", data={"csrf": csrf, "sha256": p.sha256, "code": "x"})
    assert late.status_code == 409 and "already approved" in late.text
    assert set((site.session_dir / "proposals").iterdir()) == files


def test_an_edit_after_approval_is_tampered(fresh_site: Site) -> None:
    c = client_for(fresh_site)
    csrf = login(c)
    pid = fresh_site.proposals[0]
    path = fresh_site.session_dir / "proposals" / f"{pid}.json"
    p = read_proposal(path)
    c.post(f"/items/{pid}/decide", data=decide_form(csrf, "approve", p.sha256))
    code = p.code + "print('added later')\n"
    path.write_text(
        p.model_copy(update={"code": code, "sha256": content_sha256(code)}).model_dump_json()
    )
    page = c.get(f"/proposals/{pid}").text
    assert "badge-tampered" in page and "Tampered: the session log recorded sha256" in page
    assert 'action="/items/' not in page  # nothing can be decided on it


def test_a_damaged_proposal_file_is_a_409_page(fresh_site: Site) -> None:
    c = client_for(fresh_site)
    csrf = login(c)
    pid = fresh_site.proposals[1]
    path = fresh_site.session_dir / "proposals" / f"{pid}.json"
    data = json.loads(path.read_text())
    data["code"] += "print('smuggled')\n"
    path.write_text(json.dumps(data))
    page = c.get(f"/proposals/{pid}")
    assert page.status_code == 409 and "does not match its code" in page.text
    response = c.post(f"/items/{pid}/decide", data=decide_form(csrf, "approve", data["sha256"]))
    assert response.status_code == 409 and audit_bytes(fresh_site) == b""
    assert "damaged" in c.get(f"/sessions/{fresh_site.session_id}").text


def test_a_tampered_audit_log_shows_everywhere_and_blocks_decisions(fresh_site: Site) -> None:
    c = client_for(fresh_site)
    csrf = login(c)
    a, b = (
        read_proposal(fresh_site.session_dir / "proposals" / f"{p}.json")
        for p in fresh_site.proposals
    )
    assert (
        c.post(f"/items/{a.id}/decide", data=decide_form(csrf, "approve", a.sha256)).status_code
        == 303
    )
    log = fresh_site.runs / AUDIT_LOG
    log.write_text(log.read_text().replace('"reviewer":"alice"', '"reviewer":"bob"'))
    tampered = log.read_bytes()
    for path in ("/", f"/proposals/{a.id}"):
        assert "The audit log fails verification" in c.get(path).text
    assert (
        "fails verification" in c.get("/audit").text
        and "MAC does not match" in c.get("/audit").text
    )
    response = c.post(f"/items/{b.id}/decide", data=decide_form(csrf, "approve", b.sha256))
    assert response.status_code == 503 and "fails verification" in response.text
    assert log.read_bytes() == tampered


def test_finding_decisions_flow_into_the_memory(fresh_site: Site) -> None:
    from aar.config import get_settings
    from aar.memory import open_store

    c = client_for(fresh_site)
    csrf = login(c, "bob")
    page = c.get(f"/findings/{fresh_site.finding}").text
    sha = page.split('name="sha256" value="')[1].split('"')[0]
    response = c.post(
        f"/items/{fresh_site.finding}/decide", data=decide_form(csrf, "approve", sha, "replicates")
    )
    assert response.status_code == 303, response.text
    review = open_store(get_settings()).get(fresh_site.finding).review
    assert (review.status, review.reviewer, review.comment) == ("approved", "bob", "replicates")
    assert "approved</span> by bob: replicates" in c.get(f"/findings/{fresh_site.finding}").text

    def query(status: str) -> list[str]:
        out = subprocess.run(
            [
                sys.executable,
                "-m",
                "aar",
                "memory",
                "query",
                "logconf",
                "--status",
                status,
                "--json",
            ],
            capture_output=True,
            text=True,
            timeout=120,
            env=fresh_site.env(),
        )
        assert out.returncode == 0, out.stderr
        return [hit["id"] for hit in json.loads(out.stdout)]

    assert query("approved") == [fresh_site.finding] and query("pending") == []


def test_the_session_runs_exactly_what_the_page_approved(fresh_site: Site) -> None:
    c = client_for(fresh_site)
    csrf = login(c)
    a, b = (
        read_proposal(fresh_site.session_dir / "proposals" / f"{p}.json")
        for p in fresh_site.proposals
    )
    assert b.code == CODE_B
    assert (
        c.post(f"/items/{a.id}/decide", data=decide_form(csrf, "approve", a.sha256)).status_code
        == 303
    )
    early = resume(fresh_site)
    assert early.returncode != 0 and "waits for review" in early.stderr
    rejected = c.post(
        f"/items/{b.id}/decide", data=decide_form(csrf, "reject", b.sha256, "not now")
    )
    assert rejected.status_code == 303
    done = resume(fresh_site)
    assert done.returncode == 0, done.stderr
    assert_ran_exactly(fresh_site, a.id)
    assert AuditLog(fresh_site.runs).verify().ok
