"""A finding whose cited test scores the scorer all withheld shows "withheld" on the web pages
(its page and the memory search), never a number and never 0."""

from __future__ import annotations

import re

import pytest
from web_support import Site, client_for, login

from aar.config import get_settings
from aar.memory import Finding, open_store

pytestmark = pytest.mark.slow


def test_withheld_feedback_is_shown_as_withheld(fresh_site: Site) -> None:
    store = open_store(get_settings())
    store.add(
        Finding(
            id="f-withheld0001",
            session_id=fresh_site.session_id,
            summary="bootstrap vs naive on digits-ge5: the scorer showed no score on any seed",
            hypothesis="bootstrapping the student's own labels helps",
            method="bootstrap",
            tasks=["digits-ge5"],
            verdict="inconclusive",
            metrics=None,
        )
    )
    client = client_for(fresh_site)
    login(client)
    page = client.get("/findings/f-withheld0001")
    assert page.status_code == 200, page.text
    feedback = re.search(r"test feedback PGR</dt><dd>(.*?)</dd>", page.text)
    assert feedback and "withheld" in feedback.group(1)
    assert not re.search(r"\d", re.sub(r"<[^>]+>", "", feedback.group(1)))
    hits = client.get("/memory", params={"q": "bootstrap on digits"}).text
    row = next(r for r in hits.split("<tr>") if "f-withheld0001" in r)
    assert "withheld" in row and "nan" not in row.lower()
