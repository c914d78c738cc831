"""The page under load (issue 22): `visible()` in one pass with the same output as the
one-character-at-a-time version, slow clients dropped, too many connections refused, and
errors in the app's own style, over real HTTP on 127.0.0.1."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from markupsafe import Markup, escape
from web_support import Site, client_for, csrf_of, login, serving

from aar.text import MULTILINE, is_hidden, mark
from aar.text import hidden_count as text_hidden_count
from aar.web import _server
from aar.web._app import WebConfig, create_app
from aar.web._text import hidden_count, visible

APP_PAGE = 'class="card error-page"'  # what every page of the app's error template has


def visible_per_char(text: str) -> Markup:
    """The implementation `visible` replaced (one `escape` call per character): the oracle."""
    out = []
    for ch in text:
        if ch not in MULTILINE and is_hidden(ch):
            out.append(Markup('<mark class="hidden-char">%s</mark>') % mark(ch))
        else:
            out.append(escape(ch))
    return Markup("").join(out)


TRICKY = (
    "<>&\"'\n\t\r\x00\x1b\x7f\x85\u00a0\u00ad\u034f\u115f\u200b\u200d\u2028\u2029\u202e"
    "\u2066\u2069\ufe0f\ufeff\ue000\U000e0041\U000e0100\U0010ffff\ud800\udfff\u0378é中🙂"
)


@settings(max_examples=600, deadline=None)
@given(
    st.text(
        alphabet=st.one_of(
            st.sampled_from(TRICKY),
            st.characters(codec=None, categories=None),  # every code point, surrogates too
            st.characters(min_codepoint=0x20, max_codepoint=0x7E),
        )
    )
)
def test_visible_matches_the_per_character_version(text: str) -> None:
    assert visible(text) == visible_per_char(text)
    assert type(visible(text)) is Markup
    assert hidden_count(text) == text_hidden_count(text)


def test_visible_escapes_markup_and_marks_every_hidden_character() -> None:
    text = "<b>x</b> & 'q' \"r\"\u202eevil\u200b\tend\n" + "".join(TRICKY)
    assert visible(text) == visible_per_char(text)
    assert visible(Markup("<b>bold</b>")) == visible_per_char(Markup("<b>bold</b>"))
    assert "&lt;b&gt;" in visible(Markup("<b>bold</b>"))
    shown = visible("a\u202eb")
    assert shown == 'a<mark class="hidden-char">\\u{202e}</mark>b'


def test_visible_of_a_long_proposal_is_fast() -> None:
    """The reason for the one-pass version: a 600-line proposal well under a millisecond or
    so (the per-character one took tens of milliseconds)."""
    code = ("for seed in SEEDS:  # sweep <x> & 'y'\n    run(seed, coef=0.25)\u00e9\n") * 300
    assert visible(code) == visible_per_char(code)
    best = min(_seconds(visible, code) for _ in range(5))
    slow = min(_seconds(visible_per_char, code) for _ in range(2))
    assert best < 0.01 and best * 5 < slow, (best, slow)


def _seconds(fn: object, text: str) -> float:
    started = time.perf_counter()
    fn(text)  # type: ignore[operator]
    return time.perf_counter() - started


# -- slow clients and too many connections (a real `aar serve`) ----------------------------
def _connect(url: str) -> socket.socket:
    host, port = url.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)), timeout=5)


def _closed(sock: socket.socket) -> bool:
    """True once the server closed `sock` (EOF, a reset, or a response it then closed)."""
    sock.setblocking(False)
    try:
        while True:
            data = sock.recv(65536)
            if not data:
                return True
    except BlockingIOError:
        return False
    except OSError:
        return True
    finally:
        sock.setblocking(True)


def test_slow_header_senders_are_closed_and_others_still_served(site: Site) -> None:
    with serving(site) as url:
        slow = [_connect(url) for _ in range(50)]
        request = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"a" * 200
        started, closed_at = time.monotonic(), {}
        served = []
        for n in range(40):  # one header byte every 0.5 s, for up to 20 s
            for k, sock in enumerate(slow):
                if k in closed_at:
                    continue
                if _closed(sock):
                    closed_at[k] = time.monotonic() - started
                    continue
                try:
                    sock.sendall(request[n : n + 1])
                except OSError:
                    closed_at[k] = time.monotonic() - started
            if len(closed_at) == len(slow):
                break
            if n % 4 == 0:
                response = httpx.get(url + "/login", timeout=5)
                served.append(response.status_code)
            time.sleep(0.5)
        for sock in slow:
            sock.close()
        assert len(closed_at) == 50, f"{50 - len(closed_at)} slow connections still open"
        latest = max(closed_at.values())
        assert _server.HEADER_TIMEOUT_S - 1 <= latest <= _server.HEADER_TIMEOUT_S + 3, closed_at
        assert served and set(served) == {200}
        assert httpx.get(url + "/login", timeout=5).status_code == 200


def test_connections_beyond_the_cap_are_closed_at_once(site: Site) -> None:
    with serving(site) as url:
        socks = [_connect(url) for _ in range(_server.MAX_CONNECTIONS + 20)]
        time.sleep(1.0)  # well within the header timeout: only the cap closes any
        closed = sum(_closed(s) for s in socks)
        for s in socks:
            s.close()
        assert 20 <= closed < len(socks) // 2, closed
        time.sleep(0.5)
        assert httpx.get(url + "/login", timeout=5).status_code == 200


@contextmanager
def in_process(site: Site) -> Iterator[str]:
    """The app under `aar serve`'s uvicorn configuration, in a thread (module constants such
    as the timeouts can be patched for a short test)."""
    import uvicorn

    app = create_app(WebConfig(runs_dir=site.runs, reviewers={"alice": "sha256:" + "0" * 64}))
    sock = _server.bind("127.0.0.1", 0)
    server = uvicorn.Server(_server.server_config(app))
    thread = threading.Thread(target=lambda: asyncio.run(server.serve(sockets=[sock])))
    thread.start()
    try:
        while not server.started:
            time.sleep(0.05)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def test_a_body_that_never_comes_is_dropped(site: Site, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_server, "BODY_TIMEOUT_S", 1.5)
    with in_process(site) as url:
        sock = _connect(url)
        sock.sendall(
            b"POST /login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: "
            b"application/x-www-form-urlencoded\r\nContent-Length: 100000\r\n\r\ntoken=abc"
        )
        started = time.monotonic()
        while not _closed(sock) and time.monotonic() - started < 10:
            time.sleep(0.1)
        waited = time.monotonic() - started
        sock.close()
        assert 1.0 <= waited <= 4.0, waited
        assert httpx.get(url + "/login", timeout=5).status_code == 200


# -- errors in the app's style --------------------------------------------------------------
def test_an_over_long_url_gets_the_app_error_page(site: Site) -> None:
    with serving(site) as url:
        long = httpx.get(url + "/sessions/" + "x" * 20_000, timeout=10)
        assert long.status_code == 414 and APP_PAGE in long.text and "URL too long" in long.text
        head = httpx.get(url + "/", headers={"x-big": "y" * 40_000}, timeout=10)
        assert head.status_code == 431 and APP_PAGE in head.text
        sock = _connect(url)
        sock.sendall(b"GET / HTTP/1.1\r\nHost 127.0.0.1\r\n\r\n")  # no colon: unparsable
        raw = b""
        while chunk := sock.recv(65536):
            raw += chunk
        sock.close()
        assert raw.startswith(b"HTTP/1.1 400 ") and APP_PAGE.encode() in raw
        fine = httpx.get(url + "/sessions/" + "x" * 2000, timeout=10)  # long, within the cap
        assert fine.status_code in (303, 404)


def test_an_oversized_form_without_a_login_gets_401(site: Site) -> None:
    pid = site.proposals[0]
    form = {"verdict": "approve", "sha256": "0" * 64, "csrf": "x", "comment": "z" * 3_000_000}
    with serving(site) as url:
        anonymous = httpx.post(f"{url}/items/{pid}/decide", data=form, timeout=30)
        assert anonymous.status_code == 401 and "not logged in" in anonymous.text
        assert APP_PAGE in anonymous.text
        files = {"comment": ("c.txt", b"z" * 2_000_000)}
        multipart = httpx.post(f"{url}/items/{pid}/decide", files=files, timeout=30)
        assert multipart.status_code == 401 and APP_PAGE in multipart.text
        junk = httpx.post(f"{url}/items/{pid}/decide", data={"verdict": "maybe"}, timeout=30)
        assert junk.status_code == 401  # no field is looked at before the login
        with httpx.Client(base_url=url, timeout=30) as client:
            csrf = login(client)
            logged_in = client.post(f"/items/{pid}/decide", data=form | {"csrf": csrf})
            assert logged_in.status_code == 400 and APP_PAGE in logged_in.text
            assert csrf_of(client.get("/").text) == csrf


def test_the_leaderboard_is_built_again_only_when_a_session_log_changed(fresh_site: Site) -> None:
    """The board replays every session's log (seconds for a hundred sessions): the page keeps
    it until a log's stamp (or the set of sessions) changes."""
    from aar.team import leaderboard

    built: list[int] = []

    def counting(runs: Any) -> Any:
        built.append(1)
        return leaderboard(runs)

    c = client_for(fresh_site, reviewers={}, leaderboard=counting)
    first = c.get("/leaderboard")
    assert first.status_code == 200 and c.get("/leaderboard").text == first.text
    assert len(built) == 1
    log = fresh_site.session_dir / "events.jsonl"
    log.write_bytes(log.read_bytes())  # same bytes, a new stamp (ctime): read again
    assert c.get("/leaderboard").status_code == 200 and len(built) == 2
    copy = fresh_site.runs / "s-20991231-000000-000000"
    copy.mkdir()
    (copy / "events.jsonl").write_bytes(log.read_bytes())  # another session appears
    assert c.get("/leaderboard").status_code == 200 and len(built) == 3
    assert c.get("/leaderboard").status_code == 200 and len(built) == 3
