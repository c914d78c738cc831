"""Every page of the review web app over a real session (TestClient): what it shows, its
links, and its 404s. Decisions and their error paths are in test_web_decisions.py."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest
from web_support import CODE_A, REVIEWERS, Site, client_for, login

from aar.hashing import content_sha256
from aar.session import EventLog

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def client(site: Site):
    c = client_for(site)
    login(c)
    return c


def test_pages_need_a_login_when_reviewers_exist(site: Site) -> None:
    anonymous = client_for(site)
    for path in ("/", "/audit", "/memory", f"/proposals/{site.proposals[0]}"):
        response = anonymous.get(path)
        assert response.status_code == 303 and response.headers["location"].startswith("/login")
    assert anonymous.get("/login").status_code == 200


def test_the_login_cookie_is_httponly_and_strict(site: Site) -> None:
    c = client_for(site)
    page = c.get("/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    from web_support import TOKENS

    response = c.post("/login", data={"token": TOKENS["bob"], "csrf": csrf, "next": "/audit"})
    assert response.status_code == 303 and response.headers["location"] == "/audit"
    cookie = next(h for h in response.headers.get_list("set-cookie") if h.startswith("aar_login="))
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Max-Age=43200" in cookie
    assert "logged in as <strong>bob</strong>" in c.get("/audit").text


def test_sessions_list_shows_state_rounds_budgets_and_the_queue(client, site: Site) -> None:
    html = client.get("/").text
    assert site.session_id in html and "awaiting review" in html
    assert f'href="/sessions/{site.session_id}/rounds/1"' in html
    assert re.search(r"evaluations</b> 4/200", html), html
    for item in (*site.proposals, site.finding):
        assert f">{item}</code>" in html
    assert 'Waiting for review <span class="count">3</span>' in html


def test_security_headers_on_every_page(client) -> None:
    response = client.get("/")
    csp = response.headers["content-security-policy"]
    assert "script-src" not in csp and "default-src 'none'" in csp and "img-src 'self'" in csp
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["x-content-type-options"] == "nosniff"


def test_session_page(client, site: Site) -> None:
    html = client.get(f"/sessions/{site.session_id}").text
    assert "digits-ge5" in html and "sandbox CPU s" in html
    assert all(p in html for p in site.proposals) and site.finding in html
    assert "e-01-" in html and "baselines" in html


def test_round_report_with_figure_and_linked_provenance(client, site: Site) -> None:
    html = client.get(f"/sessions/{site.session_id}/rounds/1").text
    assert "<h2>Provenance" in html and "<table>" in html and "<h1>Session" in html
    figure = f'src="/sessions/{site.session_id}/rounds/1/files/pgr.png"'
    assert figure in html
    state = EventLog(site.session_dir).state()
    for entry in state.holdout:
        assert f'href="/sessions/{site.session_id}/records/{entry.record.id}"' in html
    for pid in site.proposals:
        assert f'href="/proposals/{pid}"' in html
    png = client.get(f"/sessions/{site.session_id}/rounds/1/files/pgr.png")
    assert png.status_code == 200 and png.headers["content-type"] == "image/png"
    assert png.content == (site.session_dir / "rounds/1/pgr.png").read_bytes()


def test_record_page_shows_the_exact_code_that_produced_it(client, site: Site) -> None:
    state = EventLog(site.session_dir).state()
    entry = state.holdout[0]
    html = client.get(f"/sessions/{site.session_id}/records/{entry.record.id}").text
    assert entry.record.code_sha256 in html and "pgr_acc" in html and "holdout" in html
    code = re.search(r'<pre class="code">(.*?)</pre>', html, re.S).group(1)  # type: ignore[union-attr]
    import html as html_lib

    assert content_sha256(html_lib.unescape(code)) == entry.record.code_sha256


def test_proposal_page(client, site: Site) -> None:
    from aar.review import read_proposal

    p = read_proposal(site.session_dir / "proposals" / f"{site.proposals[0]}.json")
    html = client.get(f"/proposals/{p.id}").text  # the compact page a reviewer decides on
    assert p.sha256 in html and "sweep A: print a marker" in html
    assert (
        f"{p.estimated_evaluations} evaluations" in html
        and p.expires_at.strftime("%Y-%m-%d") in html
    )
    assert 'id="approve-button"' in html and 'id="reject-button"' in html
    assert f"/proposals/{p.id}/code" in html  # the exact code is one click away
    code = client.get(f"/proposals/{p.id}/code").text
    assert "&#39;follow-up A ran&#39;" in code  # highlighted: a string token
    assert "Diff against" in code and p.follows in code  # type: ignore[operator]
    added = [row.split("\n")[0] for row in code.split('<span class="r r-add">')[1:]]
    assert any("follow-up A ran" in row and '<span class="sg">+</span>' in row for row in added)
    assert p.code == CODE_A


def test_finding_page_and_memory_search(client, site: Site) -> None:
    html = client.get(f"/findings/{site.finding}").text
    assert "logconf compared with naive" in html and "inconclusive" in html
    assert "review status" in html and "pending" in html
    hits = client.get("/memory", params={"q": "logconf against naive", "status": "pending"}).text
    assert site.finding in hits and "1 finding(s)" in hits
    none = client.get("/memory", params={"q": "logconf", "verdict": "supported"}).text
    assert "no finding matches" in none
    assert client.get("/memory", params={"q": "x", "status": "maybe"}).status_code == 400
    assert client.get("/memory", params={"q": "x", "k": 0}).status_code == 400
    assert "Type a question" in client.get("/memory").text


def test_audit_page_verifies(client) -> None:
    html = client.get("/audit").text
    assert "verifies" in html and "no decision yet" in html
    assert client.get("/audit", params={"page": 2}).status_code == 404


@pytest.mark.parametrize(
    "path",
    [
        "/sessions/s-nosuch",
        "/sessions/..%2F..%2Fetc",
        "/sessions/{sid}/rounds/7",
        "/sessions/{sid}/records/nosuch",
        "/sessions/{sid}/rounds/1/files/report.md",
        "/sessions/{sid}/rounds/1/files/..%2Freport.json",
        "/sessions/{sid}/rounds/1/files/nosuch.png",
        "/proposals/p-000000000000",
        "/proposals/p-xyz",
        "/findings/f-000000000000",
        "/no/such/page",
    ],
)
def test_unknown_ids_are_404_pages(client, site: Site, path: str) -> None:
    response = client.get(path.format(sid=site.session_id))
    assert response.status_code == 404
    assert "Not found" in response.text and "<html" in response.text


def test_a_linked_figure_is_not_followed(client, site: Site, tmp_path: Path) -> None:
    secret = tmp_path / "secret.png"
    secret.write_bytes(b"\x89PNG secret")
    link = site.session_dir / "rounds/1/leak.png"
    link.symlink_to(secret)
    try:
        assert client.get(f"/sessions/{site.session_id}/rounds/1/files/leak.png").status_code == 404
    finally:
        link.unlink()


def test_agent_prose_in_a_report_cannot_inject_html(fresh_site: Site) -> None:
    report = fresh_site.session_dir / "rounds/1/report.md"
    report.write_text(
        report.read_text() + "\n<script>alert(1)</script> <img src=x onerror=alert(2)>\n\n"
        "![tracker](http://203.0.113.9/pixel.png) [click](javascript:alert(3)) "
        "[site](https://example.org)\n"
    )
    c = client_for(fresh_site)
    login(c)
    html = c.get(f"/sessions/{fresh_site.session_id}/rounds/1").text
    assert "<script>alert" not in html and "&lt;script&gt;" in html
    assert "<img src=x" not in html
    assert 'src="http://203.0.113.9' not in html and 'href="javascript:' not in html
    assert 'href="https://example.org" rel="noopener noreferrer nofollow"' in html


def test_hidden_characters_in_code_are_shown(fresh_site: Site) -> None:
    from web_support import add_proposal

    trojan = "# %%\naccess = 'user\u202e \u2066# admin\u2069 \u2066'\nprint(access)\n"
    p = add_proposal(fresh_site, trojan)
    c = client_for(fresh_site)
    login(c)
    html = c.get(f"/proposals/{p.id}").text
    assert "\u202e" not in html.split('<textarea id="edit-code"')[0]
    assert '<mark class="hidden-char">\\u{202e}</mark>' in html and "4 invisible" in html


def test_read_only_without_reviewers(site: Site) -> None:
    c = client_for(site, reviewers={})
    html = c.get("/").text
    assert "Read-only" in html and "aar review token NAME" in html and site.session_id in html
    proposal = c.get(f"/proposals/{site.proposals[0]}").text
    assert 'id="approve-button"' not in proposal
    assert "nobody to log in" in c.get("/login").text
    sha = hashlib.sha256(b"x").hexdigest()
    response = c.post(
        f"/items/{site.proposals[0]}/decide",
        data={"verdict": "approve", "csrf": "x", "sha256": sha},
    )
    assert response.status_code == 403 and "aar review token NAME" in response.text
    assert not (site.runs / "review-audit.jsonl").exists()
    assert REVIEWERS  # the module's other clients still have reviewers
