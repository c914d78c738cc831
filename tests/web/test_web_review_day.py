"""A reviewer's day on the review pages: a compact sweep proposal, its exact code one click
away, batch decisions over real HTTP (each audited alone), filters, and the next step."""

from __future__ import annotations

import json
import subprocess
import sys

import httpx
from web_support import TOKENS, Site, add_proposal, client_for, csrf_of, login, serving

from aar.agent import experiment_code, method_name
from aar.review import AuditLog


def _sweep() -> str:
    """A real follow-up sweep of the experiment library: the template once per value."""
    return "".join(
        experiment_code(
            "logconf", method=method_name("logconf", {"aux_coef": v}), params={"aux_coef": v}
        )
        for v in (0.25, 0.75, 1.0)
    )


def test_a_sweep_proposal_page_is_compact_and_binds_the_whole_code(fresh_site: Site) -> None:
    code = _sweep()
    p = add_proposal(fresh_site, code, rationale="sweep logconf's aux_coef")
    c = client_for(fresh_site)
    login(c)
    page = c.get(f"/proposals/{p.id}").text
    code_page = c.get(f"/proposals/{p.id}/code").text
    # measured: the page no longer carries the code (it used to hold it three times over)
    assert len(page) < len(code), (len(page), len(code))
    assert p.sha256 in page and f"/proposals/{p.id}/code" in page
    assert page.index('id="approve-button"') < page.index("Decision history")
    assert page.index('id="approve-button"') < page.index('id="follows-diff"')
    assert 'name="sha256" value="' + p.sha256 in page  # the form binds the full hash
    # the exact code, every line, on the code page, with the edit form
    assert code_page.count('<span class="r">') == code.count("\n") + 1
    assert 'id="edit-code"' in code_page and 'id="edit-code"' not in page


def test_batch_decision_over_http_each_audited(fresh_site: Site) -> None:
    a, b = fresh_site.proposals
    with serving(fresh_site) as url, httpx.Client(base_url=url) as http:
        form = http.get("/login").text
        http.post("/login", data={"token": TOKENS["alice"], "csrf": csrf_of(form), "next": "/"})
        home = http.get("/").text
        assert f"/?session={fresh_site.session_id}" in home and 'id="batch-approve"' in home
        picks = [v for v in home.split('name="item" value="')[1:]]
        values = [v.split('"')[0] for v in picks]
        chosen = [v for v in values if v.split("@")[0] in (a, b)]
        stale = f"{fresh_site.finding}@{'0' * 64}"
        data = {
            "csrf": csrf_of(home),
            "verdict": "approve",
            "comment": "both",
            "item": [*chosen, stale],
        }
        done = http.post("/items/decide-batch", data=data, follow_redirects=True)
    assert done.status_code == 200
    assert "2 item(s) approved" in done.text and fresh_site.finding in done.text
    assert f"aar resume {fresh_site.session_id}" in done.text
    recorded = [r for r in AuditLog(fresh_site.runs).records() if r.outcome == "recorded"]
    assert sorted(r.decision.item_id for r in recorded) == sorted([a, b])
    assert len({r.seq for r in recorded}) == 2


def test_queue_filters_and_session_column(site: Site) -> None:
    c = client_for(site)
    login(c)
    only = c.get(f"/?session={site.session_id}&kind=finding").text
    assert site.finding in only and site.proposals[0] not in only.split("<h1>Sessions")[0]
    none = c.get("/?session=nobody").text
    assert "Nothing matches these filters" in none


def _aar(site: Site, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "aar", "review", *args],
        capture_output=True, text=True, timeout=120, env=site.env() | {"COLUMNS": "100"},
    )  # fmt: skip


def test_cli_batch_approve_and_team_next_step(fresh_site: Site) -> None:
    from aar.review import read_proposal

    a, b = (
        read_proposal(fresh_site.session_dir / "proposals" / f"{i}.json")
        for i in fresh_site.proposals
    )
    mismatch = _aar(fresh_site, "approve", a.id, b.id, "--sha256", a.sha256[:16])
    assert mismatch.returncode == 2 and "one --sha256 per id" in mismatch.stderr
    team = fresh_site.runs / "teams" / "t-20261207-000000-abcdef"
    team.mkdir(parents=True)
    (team / "team.json").write_text(
        json.dumps({"researchers": [{"session_id": fresh_site.session_id}]})
    )
    done = _aar(
        fresh_site,
        "approve",
        a.id,
        b.id,
        "--sha256",
        a.sha256[:16],
        "--sha256",
        b.sha256[:16],
        "-m",
        "ok",
    )
    assert done.returncode == 0, done.stderr
    assert f"approved proposal {a.id}" in done.stdout and f"approved proposal {b.id}" in done.stdout
    assert f"aar team resume {team.name}" in done.stdout.replace("\n", " ")
    again = _aar(fresh_site, "reject", a.id, fresh_site.finding, "-m", "late")
    assert again.returncode == 1 and "already" in again.stderr
    records = AuditLog(fresh_site.runs).records()
    assert [r.decision.item_id for r in records if r.outcome == "recorded"][:2] == [a.id, b.id]
