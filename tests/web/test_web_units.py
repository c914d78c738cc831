"""The web layer's parts on their own: tokens, signed logins, safe Markdown, visible code,
diffs, and the audit cache that extends its verified records instead of re-verifying."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from aar.hashing import content_sha256
from aar.review import AUDIT_LOG, AuditLog, approve, new_proposal, reject, write_proposal
from aar.session import EventLog, Proposed
from aar.web import new_token, normalise_edit, reviewer_for_token, token_hash
from aar.web._auth import Signer
from aar.web._cache import AuditCache
from aar.web._markdown import render_report
from aar.web._text import MAX_DIFF_LINES, diff_lines, hidden_count, visible


def test_tokens_are_random_and_only_their_hash_is_compared() -> None:
    a, b = new_token(), new_token()
    assert a != b and len(a) >= 43
    reviewers = {"alice": token_hash(a), "bob": token_hash(b)}
    assert token_hash(a) == "sha256:" + content_sha256(a)
    assert reviewer_for_token(a, reviewers) == "alice"
    assert reviewer_for_token(f"  {b}\n", reviewers) == "bob"
    assert reviewer_for_token(token_hash(a), reviewers) is None  # the hash is not the token
    assert reviewer_for_token("", reviewers) is None


def test_logins_are_signed_bound_to_the_token_and_expire() -> None:
    signer, token = Signer(), new_token()
    reviewers = {"alice": token_hash(token)}
    value, login = signer.login_cookie("alice", token_hash(token), 60)
    check = signer.read_login(value, reviewers)
    assert check.status == "valid" and check.login == login and len(login.csrf) >= 43
    assert Signer().read_login(value, reviewers).status == "invalid"  # another server's secret
    body, mac = value.split(".")
    assert signer.read_login(body + "x." + mac, reviewers).status == "invalid"
    assert signer.read_login(value, {"alice": token_hash(new_token())}).status == "invalid"
    assert signer.read_login(value, {}).status == "invalid"
    assert signer.read_login(None, reviewers).status == "absent"
    old, _ = signer.login_cookie("alice", token_hash(token), 0.05)
    time.sleep(0.1)
    assert signer.read_login(old, reviewers).status == "expired"
    form, csrf = signer.form_cookie()
    assert signer.form_csrf(form) == csrf and signer.form_csrf(value) is None


def _render(text: str) -> str:
    return render_report(
        text,
        figure_url=lambda name: f"/files/{name}" if name == "pgr.png" else None,
        record_url=lambda code: "/records/r-full" if code == "abc123" else None,
        item_url=lambda item: f"/items/{item}",
    )


def test_report_markdown_is_rendered_without_trusting_its_html() -> None:
    html = _render(
        "# T <b>bold</b>\n\n<script>alert(1)</script>\n\n![fig](pgr.png) ![x](http://198.51.100.7/p.png)"
        " ![y](other.png) [a](javascript:alert(1)) [b](https://example.org)\n\n"
        "| record | x |\n|---|---|\n| `abc123` | `p-0123456789ab` `f-0123456789ab` `other` |\n"
    )
    assert "<b>" not in html and "&lt;script&gt;" in html and "<script" not in html
    assert '<img src="/files/pgr.png" alt="fig" class="figure">' in html
    assert "198.51.100.7" not in html.split("figure not shown: ")[0]
    assert "[figure not shown: other.png]" in html and 'href="javascript' not in html
    assert '<a href="https://example.org" rel="noopener noreferrer nofollow">b</a>' in html
    assert '<a href="/records/r-full"><code>abc123</code></a>' in html
    assert '<a href="/items/p-0123456789ab"><code>p-0123456789ab</code></a>' in html
    assert '<a href="/items/f-0123456789ab">' in html and "<code>other</code>" in html


def test_hidden_characters_are_made_visible() -> None:
    text = "a\u202eb\u200bc\x1bd\te\n<i>"
    assert hidden_count(text) == 3
    shown = str(visible(text))
    assert "\u202e" not in shown and "\\u{202e}" in shown and "\\u{200b}" in shown
    assert "\\u{001b}" in shown and "\t" in shown and "&lt;i&gt;" in shown


def test_diffs_and_edits() -> None:
    lines = diff_lines("a\nb\n", "a\nc\n", "old", "new")
    assert lines is not None and [(x.kind, x.text) for x in lines][-2:] == [
        ("del", "-b"),
        ("add", "+c"),
    ]
    assert diff_lines("a\n" * MAX_DIFF_LINES, "b\n", "o", "n") is None
    assert normalise_edit("x\r\ny\rz\n") == "x\ny\nz\n"


@pytest.fixture
def runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    from aar.config import get_settings

    monkeypatch.setenv("AAR_REVIEW__KEY_FILE", str(tmp_path / "review-key"))
    get_settings.cache_clear()
    runs = tmp_path / "runs"
    (runs / "s-1").mkdir(parents=True)
    yield runs
    get_settings.cache_clear()


def _proposals(runs: Path, n: int) -> list[str]:
    ids = []
    for i in range(n):
        p = new_proposal(
            "s-1", 1, "why", f"# %%\nprint({i})\n", estimated_evaluations=1, estimated_tokens=1
        )
        write_proposal(runs / "s-1", p)
        data = Proposed(id=p.id, sha256=p.sha256, path=f"{p.id}.json")
        EventLog(runs / "s-1").append(data, round=1)  # as a session logs it
        ids.append(p.id)
    return ids


def test_the_audit_cache_extends_what_it_verified(
    runs: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = _proposals(runs, 4)
    cache = AuditCache(runs)
    assert cache.view().records == [] and cache.view().problem is None
    approve(runs, ids[0], "alice", "ok")
    approve(runs, ids[1], "alice", "ok")
    assert [r.seq for r in cache.view().records] == [1, 2]
    full = []
    real = AuditLog.records
    monkeypatch.setattr(AuditLog, "records", lambda self: full.append(1) or real(self))
    reject(runs, ids[2], "bob", "no")  # decide() verifies the whole chain itself (one call)
    calls = len(full)
    view = cache.view()
    assert len(full) == calls  # the cache only checked the new line
    assert [r.model_dump() for r in view.records] == [r.model_dump() for r in real(AuditLog(runs))]
    assert view.about(ids[2])[0].decision.reviewer == "bob"
    assert cache.view() is view  # nothing changed: not even the new line is read again


def test_the_audit_cache_sees_edits_and_truncation(runs: Path) -> None:
    ids = _proposals(runs, 3)
    for pid in ids:
        approve(runs, pid, "alice", "ok")
    cache = AuditCache(runs)
    assert len(cache.view().records) == 3
    log = runs / AUDIT_LOG
    honest = log.read_bytes()
    log.write_bytes(honest.replace(b'"reviewer":"alice"', b'"reviewer":"mallo"', 1))
    edited = cache.view()
    assert edited.records == [] and "MAC does not match" in (edited.problem or "")
    assert not cache.verify().ok
    log.write_bytes(honest)
    assert len(cache.view().records) == 3 and cache.verify().ok
    log.write_bytes(b"\n".join(honest.split(b"\n")[:-2]) + b"\n")
    assert "removed" in (cache.view().problem or "")


def test_the_audit_cache_checks_the_head_when_it_extends(runs: Path) -> None:
    import json

    ids = _proposals(runs, 2)
    approve(runs, ids[0], "alice", "ok")
    cache = AuditCache(runs)
    assert len(cache.view().records) == 1
    approve(runs, ids[1], "alice", "ok")
    head_path = runs / "review-audit.head"
    head = json.loads(head_path.read_text())
    head_path.write_text(json.dumps(head | {"head_mac": "0" * 64}))
    view = cache.view()
    assert view.records == [] and "head file" in (view.problem or "")
    report = cache.verify()
    assert not report.ok and "was edited" in (report.problem or "")
    head_path.write_text(json.dumps(head))
    assert len(cache.view().records) == 2 and cache.verify().ok and cache.verify().records == 2
