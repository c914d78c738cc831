"""The experiment page, the transcript, record ids in reports, the comparison of sessions and the
memory search's order, over real sessions and a real `aar serve` (HTTP on a free port).

One research round is run here by a hostile script: its cells print markup and a bidirectional
override, display a PNG, and raise; every page must show that text as text. A second, ordinary
session is made by `aar run` itself, with three seeds so its round confirms results on holdout
(the leaderboard and the comparison need those).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from web_support import Site, copy_site, serving

from aar.session import EventLog, ModelUsage, ToolCalled

pytestmark = pytest.mark.slow
PNG_B64 = (  # a 1x1 PNG
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk"
    "+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)
HOSTILE = "print('<script>alert(1)</script> <b>bold</b>', '\u202e' + 'desrever')"
IMAGE = (
    "import base64\nfrom IPython.display import Image, display\n"
    f"display(Image(data=base64.b64decode('{PNG_B64}')))"
)
RAISES = "raise ValueError('bad <i>value</i>')"
LONG = "for i in range(60):\n    print('line', i)"


def _hostile_script():
    yield ("list_tasks", {})
    yield ("propose_hypothesis", {"statement": "<img src=x> markup stays text", "method": "naive"})
    for code in (HOSTILE, IMAGE, RAISES, LONG):
        yield ("run_cell", {"code": code})
    yield ("finish_round", {"summary": "cells <u>ran</u>"})


@pytest.fixture(scope="module")
def hostile(site: Site) -> Site:
    """The site with one more session: a round of the hostile script above."""
    from aar.agent import run_round, script_model, start_round
    from aar.session import Session, SessionConfig

    session = Session.create(site.runs, SessionConfig(tasks=["digits-ge5"], seeds=[42]))
    try:
        start_round(session)
        why = run_round(session, model=script_model(_hostile_script, session.round_number))
        assert why == "finished by the agent", why
        sid = session.state.id
    finally:
        session.shutdown()
    return Site(site.root, site.runs, site.memory, sid, [], "")


@pytest.fixture(scope="module")
def confirmed(tmp_path_factory: pytest.TempPathFactory, built) -> Site:  # type: ignore[no-untyped-def]
    """A site of its own with the web tests' session and one made by `aar run` (3 seeds)."""
    from aar.config import get_settings

    root = tmp_path_factory.mktemp("web-compare")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AAR_RUNS_DIR", str(root / "runs"))
        mp.setenv("AAR_MEMORY_PATH", str(root / "memory"))
        get_settings.cache_clear()
        site = copy_site(built, root)
    get_settings.cache_clear()
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "aar",
            "run",
            "--seeds",
            "3",
            "-t",
            "digits-ge5",
            "--hypotheses",
            "2",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        env=site.env(),
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return site


def _experiments(site: Site) -> dict[str, object]:
    return EventLog(site.session_dir).state().experiments


def _get(url: str, path: str) -> httpx.Response:
    return httpx.get(url + path, timeout=30)


# -- the experiment page -----------------------------------------------------------------
def test_the_experiment_page_renders_the_notebook(hostile: Site) -> None:
    exp = next(e for e in _experiments(hostile).values() if e.hypothesis_id == "h1-1")
    cells = [e.data for e in EventLog(hostile.session_dir).read() if e.kind == "cell"]
    ours = [c for c in cells if c.experiment == exp.id]
    assert [c.code for c in ours] == [HOSTILE, IMAGE, RAISES, LONG]
    with serving(hostile, reviewers={}) as url:
        response = _get(url, f"/sessions/{hostile.session_id}/experiments/{exp.id}")
        assert response.status_code == 200
        html = response.text
        # every cell: its code, status, wall time and CPU time, as logged
        for cell in ours:
            assert f'id="cell-{cell.index}"' in html
            assert f"{cell.duration_s:.3f} s" in html
        assert html.count('class="badge badge-closed">ok<') == 3
        assert 'class="badge badge-rejected">error<' in html
        # outputs: markup printed by a cell is text, the override is marked, the error shown
        assert "<script>alert" not in html and "<b>bold" not in html and "<i>value" not in html
        assert "&lt;script&gt;alert(1)&lt;/script&gt; &lt;b&gt;bold&lt;/b&gt;" in html
        assert '<mark class="hidden-char">\\u{202e}</mark>desrever' in html
        assert "ValueError: bad &lt;i&gt;value&lt;/i&gt;" in html
        assert "&lt;img src=x&gt; markup stays text" in html
        # a long output is collapsed, a short one open
        assert re.search(r'<details class="output output-stdout"><summary>stdout', html)
        assert re.search(r'<details class="output output-stdout" open><summary>stdout', html)
        # the displayed PNG is served from the notebook, as a PNG
        src = re.search(r'<img class="output-image" src="([^"]+)"', html)
        assert src, html
        image = _get(url, src.group(1))
        assert image.status_code == 200 and image.headers["content-type"] == "image/png"
        assert image.content.startswith(b"\x89PNG") and "<script" not in image.text
        # unknown experiments, images and traversal are 404 pages of the app
        base = f"/sessions/{hostile.session_id}/experiments"
        for path in (f"{base}/e-99-none", f"{base}/..%2Fevents.jsonl", f"{src.group(1)[:-5]}9.png"):
            missing = _get(url, path)
            assert missing.status_code == 404 and "aar" in missing.text, path


def test_the_session_page_links_each_experiment_and_transcript(hostile: Site) -> None:
    with serving(hostile, reviewers={}) as url:
        html = _get(url, f"/sessions/{hostile.session_id}").text
        for exp in _experiments(hostile):
            link = f"/sessions/{hostile.session_id}/experiments/{exp}"
            assert f'href="{link}"' in html and _get(url, link).status_code == 200
        transcript = f"/sessions/{hostile.session_id}/rounds/1/transcript"
        assert f'href="{transcript}"' in html


# -- the transcript ----------------------------------------------------------------------
def test_the_transcript_shows_every_request_and_tool_call(hostile: Site) -> None:
    events = [e for e in EventLog(hostile.session_dir).read() if e.round == 1]
    requests = [e for e in events if e.kind == "model_request"]
    tools = [e.data for e in events if e.kind == "tool"]
    with serving(hostile, reviewers={}) as url:
        html = _get(url, f"/sessions/{hostile.session_id}/rounds/1/transcript").text
    assert len(re.findall(r'<a href="#step-\d+">request \d+</a>', html)) == len(requests)
    names = re.findall(r'<code class="tool-name">([^<]+)</code>', html)
    assert names == [t.name for t in tools]
    # every output is collapsed (no `open`), and counts its characters
    assert html.count('<details class="output">') == len(tools)
    assert '<details class="output" open' not in html
    # the code the researcher ran is shown as text, hidden characters marked
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "<script" not in html
    assert '<mark class="hidden-char">\\u{202e}</mark>' in html
    assert "cells &lt;u&gt;ran&lt;/u&gt;" in html  # the round's end, the researcher's summary
    # the scripted researcher has no tokens or cost to show
    assert "not a language model" in html and " USD" not in html


def test_an_llm_researcher_shows_tokens_and_cost_per_request(hostile: Site) -> None:
    copy = hostile.root / "llm"
    shutil.copytree(hostile.runs, copy / "runs", symlinks=True)
    site = Site(copy, copy / "runs", hostile.memory, hostile.session_id, [], "")
    log = EventLog(site.session_dir)
    priced = ModelUsage(model="openai:gpt-4o-mini", input_tokens=1234, output_tokens=56, usd=0.0012)
    unpriced = ModelUsage(model="openai:local", input_tokens=7, output_tokens=3, usd=None)
    for usage in (priced, unpriced):
        log.append(usage, round=1)
        log.append(ToolCalled(name="list_tasks", args={}, outcome="{}", call_id="x"), round=1)
    with serving(site, reviewers={}) as url:
        html = _get(url, f"/sessions/{site.session_id}/rounds/1/transcript").text
    assert "1,234 in · 56 out · 0.0012 USD" in html
    assert "7 in · 3 out · price unknown" in html
    assert "(+ 1 request(s) of unknown price)" in html
    assert "not a language model" not in html


# -- record ids in reports ---------------------------------------------------------------
def test_every_id_a_report_prints_links_to_a_page(site: Site) -> None:
    with serving(site, reviewers={}) as url:
        html = _get(url, f"/sessions/{site.session_id}/rounds/1").text
        codes = set(
            re.findall(r"`([0-9a-f]{12})`", (site.session_dir / "rounds/1/report.md").read_text())
        )
        assert codes
        # (href, id) pairs: a commit and the code it ran may both link one experiment page
        linked = re.findall(r'<a href="([^"]+)"><code>([0-9a-f]{12})</code></a>', html)
        assert codes == {code for _, code in linked}, codes - {code for _, code in linked}
        for href in {href for href, _ in linked}:
            assert _get(url, href).status_code == 200, href
        notebooks = re.findall(r'<a href="([^"]+/experiments/[^"]+)">experiments/', html)
        assert notebooks and all(_get(url, h).status_code == 200 for h in notebooks)
        # the 12 characters alone find the record: in the session, and in any session
        state = EventLog(site.session_dir).state()
        full = state.holdout[0].record.id
        for path in (f"/sessions/{site.session_id}/records/{full[:12]}", f"/records/{full[:12]}"):
            moved = httpx.get(url + path, follow_redirects=False)
            assert moved.status_code == 303, path
            assert moved.headers["location"] == f"/sessions/{site.session_id}/records/{full}"
        assert _get(url, "/records/000000000000").status_code == 404


# -- the comparison of sessions and the memory's order -----------------------------------
def test_the_comparison_shows_the_best_holdout_pgr_per_task(confirmed: Site) -> None:
    from aar.team import leaderboard

    board = leaderboard(confirmed.runs)
    best: dict[tuple[str, str], float] = {}
    for task in board.tasks:
        for e in task.entries:
            key = (task.task, e.session_id)
            best[key] = max(best.get(key, -9.0), e.pgr_mean)
    assert best, "aar run with 3 seeds confirmed nothing on holdout"
    with serving(confirmed, reviewers={}) as url:
        assert 'href="/compare"' in _get(url, "/leaderboard").text
        html = _get(url, "/compare").text
        figure = _get(url, "/compare.png")
    assert '<img class="figure" src="/compare.png"' in html
    assert figure.status_code == 200 and figure.content.startswith(b"\x89PNG")
    for (task, sid), value in best.items():
        assert f"<th>{task}</th>" in html and f'href="/sessions/{sid}"' in html
        assert f"<strong>{value:.3f}</strong>" in html


def test_memory_search_is_ordered_by_the_score_it_shows(
    confirmed: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    from aar.config import get_settings
    from aar.memory import open_store

    with serving(confirmed, reviewers={}) as url:
        html = _get(url, "/memory?q=which+method+beats+naive+on+digits&k=50").text
    shown = [float(s) for s in re.findall(r'<td class="score">([-0-9.]+)</td>', html)]
    ids = re.findall(r'<td class="nowrap"><a href="/findings/([^"]+)">', html)
    assert len(shown) == len(ids) >= 3
    assert shown == sorted(shown, reverse=True)
    monkeypatch.setenv("AAR_MEMORY_PATH", str(confirmed.memory))
    get_settings.cache_clear()
    hits = open_store(get_settings()).search("which method beats naive on digits", k=50)
    assert ids == [h.finding.id for h in hits]
    assert shown == [round(h.score, 3) for h in hits]


# -- a narrow window and print, in a real browser ----------------------------------------
NARROW = 820
FITS = "return [document.documentElement.scrollWidth, document.body.scrollWidth, innerWidth]"


def test_pages_fit_an_820_px_window_and_print(hostile: Site, site: Site) -> None:
    from test_web_browser import _require_browser

    _require_browser()
    from selenium.webdriver.common.by import By
    from test_web_browser import CHROMIUM, DRIVER, FLAGS

    driver = _chromium(CHROMIUM, DRIVER, FLAGS)
    exp = next(e for e in _experiments(hostile).values() if e.hypothesis_id == "h1-1")
    shots = hostile.root / "screenshots-820"
    shots.mkdir(exist_ok=True)
    pages = {
        "sessions": "/",
        "session": f"/sessions/{site.session_id}",
        "round": f"/sessions/{site.session_id}/rounds/1",
        "experiment": f"/sessions/{hostile.session_id}/experiments/{exp.id}",
        "transcript": f"/sessions/{hostile.session_id}/rounds/1/transcript",
        "memory": "/memory?q=logconf+compared+with+naive",
        "leaderboard": "/leaderboard",
        "compare": "/compare",
    }
    try:
        with serving(hostile, reviewers={}) as url:
            for name, path in pages.items():
                driver.set_window_size(NARROW, 1000)
                driver.get(url + path)
                html_w, body_w, inner = driver.execute_script(FITS)
                assert inner <= NARROW and html_w <= inner and body_w <= inner, (name, html_w)
                height = driver.execute_script("return document.body.scrollHeight")
                driver.set_window_size(NARROW, min(max(int(height) + 120, 700), 6000))
                driver.save_screenshot(str(shots / f"{name}.png"))
                if name == "round":  # the round's proposals and findings: on screen, in width
                    box = driver.execute_script(
                        "const r = document.querySelector('.round aside')"
                        ".getBoundingClientRect(); return [r.left, r.right, r.width, innerWidth]"
                    )
                    assert box[2] > 0 and box[0] >= 0 and box[1] <= box[3], box
            driver.get(url + pages["transcript"])
            driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": "print"})
            nav = driver.find_element(By.CSS_SELECTOR, "header.top nav")
            assert not nav.is_displayed()
            hidden = driver.execute_script(
                "return [...document.querySelectorAll('details.output pre')]"
                ".filter(p => p.getClientRects().length === 0).length"
            )
            assert hidden == 0  # collapsed outputs are printed open
            pdf = driver.print_page()
            assert pdf.startswith("JVBERi")  # %PDF, base64
    finally:
        driver.quit()


def _chromium(chromium: Path, driver_path: Path, flags: tuple[str, ...]):  # type: ignore[no-untyped-def]
    import tempfile

    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(chromium)
    for flag in (*flags, f"--user-data-dir={tempfile.mkdtemp(prefix='aar-chromium-')}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(str(driver_path)), options=options)
    driver.set_page_load_timeout(60)
    return driver
