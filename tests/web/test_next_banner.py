"""The "what happens next" banner: aar's own commands as `<code>` on the page, every part
escaped (ids may be agent-influenced), and the terminal's line unchanged (backticks)."""

from __future__ import annotations

import re

import pytest
from web_support import Site, client_for, csrf_of, decide_form, login

from aar.review import NextStep, StepPart, next_step_parts, next_step_text, read_proposal

pytestmark = pytest.mark.slow


def _banner(html: str, marker: str) -> str:
    """The inner HTML of the first banner `marker` (an id or class attribute) opens."""
    found = re.search(rf'<div class="banner banner-info[^>]*{marker}[^>]*>(.*?)</div>', html)
    assert found is not None, html[:2000]
    return found.group(1)


def test_the_terminal_line_sets_commands_in_backticks_as_before() -> None:
    waiting = next_step_text("s-1", ["p-1", "p-2"])
    assert waiting == (
        "2 proposal(s) of s-1 still wait for a decision (p-1, p-2); once they are decided, "
        "`aar resume s-1` runs the approved ones"
    )
    alone = next_step_text("s-1", [])
    assert alone.startswith("nothing of s-1 waits: `aar resume s-1` runs the approved")
    team = next_step_text("s-1", [], "t-9")
    assert "the team's next round (aar team resume t-9) runs" in team and "`" not in team
    many = next_step_parts("s-1", [f"p-{i}" for i in range(7)])
    assert "p-4 …" in many.plain() and "p-5" not in many.plain()
    commands = [p.text for p in many.parts if p.command]
    assert commands == ["aar resume s-1"]
    assert str(many) == many.plain()


def test_the_macro_escapes_every_part_and_codes_only_commands() -> None:
    from aar.web._app import _templates

    hostile = "s-<b>x</b>`rm -rf`&"
    step = NextStep(
        (StepPart(f"nothing of {hostile} waits: "), StepPart(f"aar resume {hostile}", True))
    )
    env = _templates().env
    html = env.from_string(
        '{% from "_next_step.html" import next_step_line %}{{ next_step_line(s) }}'
    ).render(s=step)
    assert "<b>" not in html and "&lt;b&gt;x&lt;/b&gt;" in html and "&amp;" in html
    assert html.count("<code>") == 1 and html.count("</code>") == 1
    assert "<code>aar resume s-&lt;b&gt;x&lt;/b&gt;`rm -rf`&amp;</code>" in html
    # a backtick in the text is text, never a command
    assert html.split("<code>")[0].count("`") == 2


def test_proposal_page_banner_shows_the_command_as_code(fresh_site: Site) -> None:
    c = client_for(fresh_site)
    csrf = login(c, "alice")
    first, second = (
        read_proposal(fresh_site.session_dir / "proposals" / f"{i}.json")
        for i in fresh_site.proposals
    )
    sid = fresh_site.session_id
    done = c.post(f"/items/{first.id}/decide", data=decide_form(csrf, "approve", first.sha256))
    assert done.status_code == 303
    waiting = _banner(c.get(done.headers["location"]).text, 'id="next-step"')
    assert "`" not in waiting and f"<code>aar resume {sid}</code> runs the approved ones" in waiting
    assert f"still wait for a decision ({second.id})" in waiting
    form = decide_form(csrf, "reject", second.sha256, "not now")
    assert c.post(f"/items/{second.id}/decide", data=form).status_code == 303
    rejected = c.get(f"/proposals/{second.id}?decided=reject").text
    last = _banner(rejected, 'id="next-step"')
    assert last.startswith("<b>What happens next:</b> nothing of ")
    assert f"waits: <code>aar resume {sid}</code> runs" in last and "`" not in last


def test_batch_banner_shows_the_command_as_code(fresh_site: Site) -> None:
    c = client_for(fresh_site)
    login(c, "alice")
    home = c.get("/").text
    values = [v.split('"')[0] for v in home.split('name="item" value="')[1:]]
    chosen = [v for v in values if v.split("@")[0] in fresh_site.proposals]
    assert len(chosen) == 2
    form = {"csrf": csrf_of(home), "verdict": "approve", "comment": "both", "item": chosen}
    done = c.post("/items/decide-batch", data=form, follow_redirects=True)
    assert done.status_code == 200 and "2 item(s) approved" in done.text
    line = _banner(done.text, "next-step")
    assert f"<code>aar resume {fresh_site.session_id}</code>" in line and "`" not in line
