"""A reviewer's day in a real browser with JavaScript turned off: headless Chromium (selenium)
against a real `aar serve` over real sessions.

The walk: log in; the queue with its session column and filters; tick two proposals and approve
them with the page's own batch form (CSRF and all), each audited as its own record, the page
saying what happens next; a sweep proposal's compact page, then its code page with the
highlighted diff whose unchanged regions fold as plain `<details>` (they open on a click with
no JavaScript); an experiment's notebook; the round's transcript; the leaderboard of confirmed
holdout results. Every step is shot at 1280 and at 820 px (under the test's tmp dir,
`screenshots-day/`), and at each width nothing is wider than the window.

The sessions are the web tests' scripted session (two pending proposals and a finding) and one
made by `aar run` with three seeds, whose round confirms results on holdout (the `confirmed`
fixture of test_web_more_pages).
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_web_browser import CHROMIUM, DRIVER, FLAGS, _require_browser
from test_web_more_pages import confirmed  # noqa: F401 (a fixture: the sessions walked here)
from web_support import TOKENS, Site, serving

from aar.review import AuditLog, Proposal, read_proposal
from aar.session import EventLog

pytestmark = pytest.mark.slow
WIDTHS = (1280, 820)
FITS = "return [document.documentElement.scrollWidth, window.innerWidth]"


@pytest.fixture(scope="module")
def no_js_browser() -> Iterator[Any]:
    """Chromium with JavaScript blocked for every page (the content setting), so each form,
    link and fold below works as plain HTML; selenium's own scripts still run (DevTools)."""
    _require_browser()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="aar-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (*FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    options.add_experimental_option(
        "prefs", {"profile.managed_default_content_settings.javascript": 2}
    )
    driver = webdriver.Chrome(service=Service(str(DRIVER)), options=options)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


class Walk:
    """The browser at one base URL: opens pages, follows links and forms, shoots each step
    at both widths and checks that nothing is wider than the window."""

    def __init__(self, driver: Any, url: str, shots: Path) -> None:
        self.d, self.url, self.shots, self.step = driver, url, shots, 0
        shots.mkdir(exist_ok=True)

    def open(self, path: str) -> None:
        self.d.get(self.url + path)

    def find(self, css: str) -> Any:
        from selenium.webdriver.common.by import By

        return self.d.find_element(By.CSS_SELECTOR, css)

    def all(self, css: str) -> list[Any]:
        from selenium.webdriver.common.by import By

        return list(self.d.find_elements(By.CSS_SELECTOR, css))

    def text(self) -> str:
        return str(self.find("main").text)

    def follow(self, css: str) -> None:
        """Click what loads a new page, then wait until the old one is gone (see the same
        helper in test_web_browser: a read right after a click can catch the old page)."""
        from selenium.common.exceptions import WebDriverException
        from selenium.webdriver.support import expected_conditions
        from selenium.webdriver.support.wait import WebDriverWait

        old = self.find("html")
        self.find(css).click()
        wait = WebDriverWait(self.d, 30, ignored_exceptions=(WebDriverException,))
        wait.until(expected_conditions.staleness_of(old))
        wait.until(lambda d: d.execute_script("return document.readyState") == "complete")

    def shoot(self, name: str, part: str | None = None) -> None:
        """The whole page at each width (and the element `part`, where a tall page would cut
        it off); at each width the page is no wider than the window (shot first, so that a
        failure leaves its picture)."""
        self.step += 1
        for width in WIDTHS:
            self.d.set_window_size(width, 900)
            html_w, inner = self.d.execute_script(FITS)
            height = int(self.d.execute_script("return document.documentElement.scrollHeight"))
            self.d.set_window_size(width, min(max(height + 140, 700), 6000))
            self.d.save_screenshot(str(self.shots / f"{self.step:02d}-{name}-{width}.png"))
            if part:
                self.find(part).screenshot(
                    str(self.shots / f"{self.step:02d}-{name}-part-{width}.png")
                )
            assert html_w <= inner, f"{name} at {width} px: {html_w} px wide in {inner}"
        self.d.set_window_size(WIDTHS[0], 900)


def _login(walk: Walk) -> None:
    walk.d.get("data:text/html,<title>off</title><script>document.title='on'</script>")
    assert walk.d.title == "off"  # pages' scripts do not run (selenium's own still do)
    walk.open("/")
    assert "/login" in walk.d.current_url
    walk.shoot("login")
    walk.find("#token").send_keys(TOKENS["alice"])
    walk.follow("#login-button")
    assert "logged in as alice" in walk.find("header").text


def _queue_and_filters(walk: Walk, site: Site, other: str) -> None:
    """The queue lists both sessions' items in its session column; filtering by session
    (the filter form's own GET) keeps only that session's."""
    heads = [th.text for th in walk.all("table.queue thead th")]
    assert "session" in heads and "status" in heads, heads
    column = heads.index("session")
    sessions = {
        r.find_elements("css selector", "td")[column].text for r in walk.all("table.queue tbody tr")
    }
    assert {site.session_id, other} <= sessions, sessions
    walk.d.set_window_size(WIDTHS[1], 900)  # the summary, the last column, stays on screen
    right, inner = walk.d.execute_script(
        "return [document.querySelector('table.queue th:last-child')"
        ".getBoundingClientRect().right, innerWidth]"
    )
    assert right <= inner, (right, inner)
    walk.shoot("queue")
    from selenium.webdriver.support.select import Select

    Select(walk.find("#filters select[name=session]")).select_by_value(site.session_id)
    Select(walk.find("#filters select[name=status]")).select_by_value("pending")
    walk.follow("#filters button[type=submit]")
    assert f"session={site.session_id}" in walk.d.current_url
    shown = {
        r.find_elements("css selector", "td")[column].text for r in walk.all("table.queue tbody tr")
    }
    assert shown == {site.session_id}, shown
    walk.shoot("queue-filtered")


def _batch_approve(walk: Walk, site: Site) -> None:
    """Tick the two proposals of the scripted round and approve them with the page's form."""
    for pid in site.proposals:
        box = walk.find(f"table.queue input[name=item][value^='{pid}@']")
        box.click()
        assert box.is_selected()
    assert len(walk.find("#batch input[name=csrf]").get_attribute("value")) > 20  # the form's
    walk.find("#batch-comment").send_keys("both sweeps, as proposed")
    walk.shoot("batch-ticked")
    walk.follow("#batch-approve")
    done = walk.find("#batch-done").text
    assert "2 item(s) approved" in done and "its own decision" in done, done
    steps = " ".join(e.text for e in walk.all(".next-step"))
    assert "What happens next" in steps and f"aar resume {site.session_id}" in steps, steps
    recorded = [r for r in AuditLog(site.runs).records() if r.outcome == "recorded"]
    assert sorted(r.decision.item_id for r in recorded) == sorted(site.proposals)
    assert len({r.seq for r in recorded}) == 2
    assert {r.decision.reviewer for r in recorded} == {"alice"}
    assert AuditLog(site.runs).verify().ok
    walk.shoot("batch-approved")


def _proposal_and_diff(walk: Walk, sweep: Proposal) -> None:
    """The compact page (what it changes, the decide form beside it), then the code page:
    highlighted, with unchanged regions folded as `<details>` that a click opens."""
    walk.open(f"/proposals/{sweep.id}")
    summary, decide = walk.find(".review-summary"), walk.find(".review-decide")
    assert walk.all("table#params tbody tr") and "Rationale" in summary.text
    assert walk.find("#approve-button").is_displayed() and walk.find("#reject-button")
    walk.d.set_window_size(WIDTHS[0], 900)
    assert decide.location["x"] > summary.location["x"]  # beside, not after, at 1280 px
    walk.shoot("proposal")
    walk.follow("#code-link")
    assert sweep.sha256 in walk.text()
    assert walk.all("#diff .hl-diff pre.hl .r-add") and walk.all("#code .t-k")  # highlighted
    folds = walk.all("#diff details.fold")
    assert folds, "no unchanged region is folded"
    fold = folds[0]
    assert fold.get_attribute("open") is None
    assert not fold.find_element("css selector", "pre").is_displayed()
    walk.shoot("code-diff", part="#diff")
    fold.find_element("css selector", "summary").click()  # no JavaScript: the browser's own
    assert fold.get_attribute("open") is not None
    assert fold.find_element("css selector", "pre").is_displayed()
    walk.shoot("code-diff-unfolded", part="#diff")


def _experiment_and_transcript(walk: Walk, site: Site) -> None:
    walk.open(f"/sessions/{site.session_id}")
    walk.follow("a[href*='/experiments/']")
    assert "/experiments/e-" in walk.d.current_url
    assert walk.all("section.cell") and walk.all("section.cell pre.code")
    walk.shoot("experiment")
    walk.open(f"/sessions/{site.session_id}")
    walk.follow("a[href$='/rounds/1/transcript']")
    assert walk.all("section.step") and walk.all("code.tool-name")
    outputs = walk.all("details.output")
    assert outputs and outputs[0].get_attribute("open") is None  # outputs collapsed
    walk.shoot("transcript")


def _leaderboard(walk: Walk, other: str) -> None:
    walk.follow("header.top nav a[href='/leaderboard']")
    rows = walk.all("table.leaderboard tbody tr")
    assert rows, walk.text()
    assert other in walk.text()  # the confirmed results of the `aar run` session
    walk.shoot("leaderboard")


def test_a_reviewers_day_in_chromium_without_javascript(
    no_js_browser: Any,
    confirmed: Site,  # noqa: F811 (the fixture imported above)
) -> None:
    site = confirmed
    other = next(p.name for p in site.runs.glob("s-*") if p.name != site.session_id)
    theirs = [
        read_proposal(site.runs / other / "proposals" / f"{pid}.json")
        for pid in EventLog(site.runs / other).state().proposals
    ]
    assert theirs, f"`aar run` proposed nothing in {other}"
    with serving(site) as url:
        walk = Walk(no_js_browser, url, site.root / "screenshots-day")
        _login(walk)
        _queue_and_filters(walk, site, other)
        _batch_approve(walk, site)
        _proposal_and_diff(walk, theirs[0])
        _experiment_and_transcript(walk, site)
        _leaderboard(walk, other)
    assert len(list(walk.shots.glob("*-1280.png"))) == walk.step + 2  # and two parts
