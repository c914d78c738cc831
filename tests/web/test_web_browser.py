"""A real browser against a real `aar serve`: headless Chromium from Debian, driven by selenium.

It logs in, opens the round's report and checks that its figure loaded, follows a provenance
link to a record, approves one proposal, rejects another, approves a third with edits typed
into the page, and then checks that `aar resume` runs exactly the approved code. Each page is
saved as a screenshot under the test's directory (`screenshots/`).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from web_support import TOKENS, Site, add_proposal, resume, serving

from aar.review import AuditLog, read_proposal
from aar.sandbox import split_cells
from aar.session import EventLog

pytestmark = pytest.mark.slow
CHROMIUM, DRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    "--window-size=1400,1000",
)


def _require_browser() -> None:
    """Skip only where the packages cannot be installed (not root); as root, tools/setup
    installs them, so their absence is a failure there."""
    missing = [str(p) for p in (CHROMIUM, DRIVER) if not p.exists()]
    if missing and os.geteuid() != 0:
        pytest.skip(
            f"{', '.join(missing)} missing and this user cannot install them: "
            "apt-get install chromium chromium-driver (as root; tools/setup does it)"
        )
    assert not missing, f"{', '.join(missing)} missing: run tools/setup (it installs them as root)"


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    _require_browser()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="aar-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (*FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(str(DRIVER)), options=options)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


class Pages:
    def __init__(self, driver: object, url: str, shots: Path) -> None:
        self.d, self.url, self.shots = driver, url, shots
        shots.mkdir(exist_ok=True)

    def open(self, path: str) -> None:
        self.d.get(self.url + path)  # type: ignore[attr-defined]

    def shot(self, name: str) -> None:
        """A screenshot of the whole page."""
        height = self.d.execute_script("return document.body.scrollHeight")  # type: ignore[attr-defined]
        self.d.set_window_size(1400, min(max(int(height) + 120, 700), 6000))  # type: ignore[attr-defined]
        self.d.save_screenshot(str(self.shots / f"{name}.png"))  # type: ignore[attr-defined]

    def find(self, css: str) -> object:
        from selenium.webdriver.common.by import By

        return self.d.find_element(By.CSS_SELECTOR, css)  # type: ignore[attr-defined]

    def text(self) -> str:
        return self.find("main").text  # type: ignore[attr-defined]

    def follow(self, css: str) -> None:
        """Click something that loads a new page (a link, a form's button) and wait until the
        old page is gone and the new one has loaded: reading right after a click can catch
        the old page mid-navigation (a stale element)."""
        from selenium.common.exceptions import WebDriverException
        from selenium.webdriver.support import expected_conditions
        from selenium.webdriver.support.wait import WebDriverWait

        old = self.find("html")
        self.find(css).click()  # type: ignore[attr-defined]
        # Mid-navigation chromedriver may answer "unhandled inspector error" about the old
        # element instead of "stale" (seen once in a full run): ask again until it is stale.
        wait = WebDriverWait(self.d, 30, ignored_exceptions=(WebDriverException,))
        wait.until(expected_conditions.staleness_of(old))
        wait.until(lambda d: d.execute_script("return document.readyState") == "complete")


def test_a_reviewer_decides_in_a_real_browser(browser: object, site: Site) -> None:
    from selenium.webdriver.common.keys import Keys

    a, b = (read_proposal(site.session_dir / "proposals" / f"{p}.json") for p in site.proposals)
    c = add_proposal(site, "# %%\nprint('sweep', [0.25, 0.5])\n", rationale="sweep C")
    with serving(site) as url:
        page = Pages(browser, url, site.root / "screenshots")
        page.open("/")
        assert "/login" in browser.current_url  # type: ignore[attr-defined]
        page.shot("01-login")
        page.find("#token").send_keys(TOKENS["alice"])  # type: ignore[attr-defined]
        page.follow("#login-button")
        assert "logged in as alice" in page.find("header").text  # type: ignore[attr-defined]
        page.shot("02-sessions")

        page.open(f"/sessions/{site.session_id}")
        page.shot("03-session")
        page.open(f"/sessions/{site.session_id}/rounds/1")
        figure = page.find("img.figure")
        width = browser.execute_script("return arguments[0].naturalWidth", figure)  # type: ignore[attr-defined]
        height = browser.execute_script("return arguments[0].naturalHeight", figure)  # type: ignore[attr-defined]
        assert width > 0 and height > 0
        page.shot("04-round-report")
        page.follow("article.report table a[href*='/records/']")
        assert "Evaluation record" in page.text() and "pgr_acc" in page.text()
        page.shot("05-record")

        page.open(f"/proposals/{a.id}")
        page.shot("06-proposal")
        page.find("#approve-comment").send_keys("worth running")  # type: ignore[attr-defined]
        page.follow("#approve-button")
        assert "Your approval was recorded" in page.text()
        page.shot("07-approved")

        page.open(f"/proposals/{b.id}")
        page.find("#reject-comment").send_keys("not now")  # type: ignore[attr-defined]
        page.follow("#reject-button")
        assert "Your rejection was recorded" in page.text()
        page.shot("08-rejected")

        page.open(f"/proposals/{c.id}/code")  # approve with edits: beside the exact code
        page.find("details.edit summary").click()  # type: ignore[attr-defined]
        editor = page.find("#edit-code")
        editor.send_keys(Keys.CONTROL, Keys.END)  # type: ignore[attr-defined]
        editor.send_keys("print('edited in the browser')\n")  # type: ignore[attr-defined]
        page.find("#edit-comment").send_keys("one more line")  # type: ignore[attr-defined]
        page.shot("09-editing")
        page.follow("#edit-button")
        assert "Your edited version is this new proposal" in page.text()
        edited_id = browser.current_url.split("/proposals/")[1].split("?")[0]  # type: ignore[attr-defined]
        page.shot("10-edited")

        page.open("/audit")
        assert "verifies" in page.text()
        page.shot("11-audit")
        page.open("/memory?q=logconf+compared+with+naive")
        assert site.finding in page.text()
        page.shot("12-memory")
        page.open(f"/findings/{site.finding}")
        page.shot("13-finding")

    edited = read_proposal(site.session_dir / "proposals" / f"{edited_id}.json")
    assert edited.code == c.code + "print('edited in the browser')\n"  # LF, as typed: no CR
    assert AuditLog(site.runs).verify().ok
    done = resume(site)
    assert done.returncode == 0, done.stderr
    state = EventLog(site.session_dir).state()
    ran = {e.proposal_id: e for e in state.experiments.values() if e.round == 2}
    assert sorted(ran) == sorted([a.id, edited.id]) == sorted(state.rounds[1].followups)
    for proposal in (a, edited):
        exp = ran[proposal.id]
        assert exp.cells == split_cells(proposal.code)
        assert (site.session_dir / exp.path / "cells.py").read_bytes() == proposal.code.encode()
