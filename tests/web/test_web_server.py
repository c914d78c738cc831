"""A real `aar serve` (uvicorn subprocesses on 127.0.0.1): reviewers deciding the same proposals
at the same moment through real concurrent HTTP requests, and how the server binds."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from web_support import TOKENS, Site, add_proposal, csrf_of, serving

from aar.review import AuditLog

pytestmark = pytest.mark.slow


def _login(url: str, name: str) -> tuple[httpx.Client, str]:
    client = httpx.Client(base_url=url, timeout=60, follow_redirects=False)
    page = client.get("/login")
    done = client.post("/login", data={"token": TOKENS[name], "csrf": csrf_of(page.text)})
    assert done.status_code == 303, done.text
    return client, csrf_of(client.get("/").text)


def _decide_together(attempts: list[tuple[httpx.Client, str, str, str, str]]) -> list[int]:
    """POST every (client, csrf, proposal, sha256, verdict) at once; their status codes."""
    barrier = threading.Barrier(len(attempts))

    def post(attempt: tuple[httpx.Client, str, str, str, str]) -> int:
        client, csrf, pid, sha, verdict = attempt
        form = {"csrf": csrf, "verdict": verdict, "sha256": sha, "comment": f"{verdict} it"}
        barrier.wait()
        return client.post(f"/items/{pid}/decide", data=form).status_code

    with ThreadPoolExecutor(len(attempts)) as pool:
        return list(pool.map(post, attempts))


def test_two_reviewers_deciding_at_once_one_decision_wins(site: Site) -> None:
    contested = [add_proposal(site, f"# %%\nprint('contested {i}')\n") for i in range(6)]
    separate = [add_proposal(site, f"# %%\nprint('separate {i}')\n") for i in range(6)]
    before = len(AuditLog(site.runs).records())
    with serving(site) as one, serving(site) as two:
        alice, alice_csrf = _login(one, "alice")
        bob_here, bob_here_csrf = _login(one, "bob")  # the same server process
        bob_there, bob_there_csrf = _login(two, "bob")  # another server process
        for i, p in enumerate(contested):
            bob, csrf = (bob_here, bob_here_csrf) if i % 2 else (bob_there, bob_there_csrf)
            codes = _decide_together(
                [
                    (alice, alice_csrf, p.id, p.sha256, "approve"),
                    (bob, csrf, p.id, p.sha256, "reject"),
                ]
            )
            assert sorted(codes) == [303, 409], (p.id, codes)
        codes = _decide_together(
            [(alice, alice_csrf, p.id, p.sha256, "approve") for p in separate[:3]]
            + [(bob_there, bob_there_csrf, p.id, p.sha256, "reject") for p in separate[3:]]
        )
        assert codes == [303] * 6
        page = bob_there.get(f"/proposals/{contested[0].id}").text
    log = AuditLog(site.runs)
    assert log.verify().ok
    records = log.records()[before:]
    assert len(records) == 2 * len(contested) + len(separate)  # nothing lost, nothing extra
    for p in contested:
        mine = [r for r in records if r.decision.item_id == p.id]
        assert sorted(r.outcome for r in mine) == ["recorded", "refused"]
        assert {r.decision.reviewer for r in mine} == {"alice", "bob"}
        winner = next(r for r in mine if r.outcome == "recorded")
        loser = next(r for r in mine if r.outcome == "refused")
        assert loser.seq > winner.seq and "already" in loser.reason
    for p in separate:
        assert [r.outcome for r in records if r.decision.item_id == p.id] == ["recorded"]
    assert "badge-pending" not in page.split("Decision history")[0]


def test_it_binds_loopback_by_default_and_warns_elsewhere(site: Site) -> None:
    with serving(site) as url:
        assert url.startswith("http://127.0.0.1:")
        port = url.rsplit(":", 1)[1]
        assert httpx.get(f"http://localhost:{port}/login").status_code == 200
        rebound = httpx.get(f"{url}/login", headers={"host": f"evil.example:{port}"})
        assert rebound.status_code == 400  # a page of another site pointed at 127.0.0.1
    with serving(site, "--host", "0.0.0.0") as url:
        assert httpx.get(f"{url}/login").status_code == 200
    logs = sorted(site.root.glob("serve-*.log"), key=lambda p: p.stat().st_mtime)
    assert "TLS proxy" in logs[-1].read_text() and "TLS" not in logs[-2].read_text()


def test_without_reviewers_it_serves_read_only(site: Site) -> None:
    with serving(site, reviewers={}) as url:
        html = httpx.get(url + "/").text
        assert "Read-only" in html and site.session_id in html
    log = max(site.root.glob("serve-*.log"), key=lambda p: p.stat().st_mtime)
    assert "read-only: no reviewer is configured" in log.read_text()
