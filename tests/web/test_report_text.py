"""Agent- and user-written text in `report.md` is data: written by `render_markdown`, rendered by
`aar serve`'s Markdown, it shows as text and cannot forge the report's own structure.

Measured before the fix: a hostile model's hypothesis and rationale put a "## Review status"
table ("APPROVED by alice") and a fake provenance note into the report, and the page rendered
them as real headings and tables.
"""

from __future__ import annotations

from report_support import FORGED, HOSTILE, Tags, page_tags

from aar.session import ReportData
from aar.web._markdown import render_report


def _report(text: str) -> ReportData:
    return ReportData(
        session_id="s-test",
        round=1,
        kind="research",
        goal=text,
        directions=[text, "plain direction"],
        model="scripted",
        tasks=["digits-ge5"],
        seeds=[42, 43],
        why_ended=text,
        summary=text,
        hypotheses=[
            {
                "id": "h1-1",
                "statement": text,
                "method": "logconf",
                "params": f"{text}=1",
                "experiments": "e-01-abcdef",
            }
        ],
        rows=[],
        findings=[
            {
                "id": "f-0123456789ab",
                "verdict": "supported",
                "basis": "decided on holdout",
                "method": f"logconf ({text}=1)",  # a parameter's name is the model's
                "tasks": "digits-ge5",
                "summary": text,
                "feedback": "0.100 ± 0.010",
                "final": "not scored",
            }
        ],
        failures=[text],
        threats=["the researcher is scripted"],
        provenance=[],
        proposals=[
            {
                "id": "p-0123456789ab",
                "rationale": text,
                "sha256": "0" * 64,
                "evals": "4",
                "expires": "2026-12-31",
            }
        ],
    )


def _page(text: str) -> Tags:
    return page_tags(_report(text))


def test_hostile_text_adds_no_structure_to_the_rendered_report() -> None:
    plain = _page("plain words")
    assert sum(t.startswith("h2") for t in plain.tags) >= 6  # the generated structure is kept
    assert any(t.startswith("img") for t in plain.tags)  # the generated figure
    for text in HOSTILE:
        assert _page(text).tags == plain.tags, text


def test_hostile_text_is_shown_as_text() -> None:
    shown = "".join(_page(FORGED).text)
    assert "## Review status ↵ | proposal | status | ↵ |---|---|" in shown
    assert "APPROVED by alice" in shown and "> **Provenance:**" in shown
    shown = "".join(_page(HOSTILE[2]).text)
    assert "<script>alert(1)</script> <img src=x onerror=alert(2)>" in shown
    shown = "".join(_page(HOSTILE[5]).text)
    assert "\\u{001b}[2J\\u{202e}evil\\u{202c}\\u{200b} *em* _em_ **b** &lt;b&gt; &#35; \\" in shown
    assert "\x1b" not in shown and "\u202e" not in shown


def test_the_page_marks_hidden_characters_of_an_older_report() -> None:
    """A report written before the quoting may hold raw bidi and zero-width characters."""
    html = render_report(
        "# old\n\nuser\u202e \u2066# admin\u2069 and `code\u200b`\n\n```\nfence\u202e\n```\n",
        figure_url=lambda name: None,
        record_url=lambda code: None,
        item_url=lambda item: item,
    )
    assert "\u202e" not in html and "\u200b" not in html and "\u2066" not in html
    assert html.count('<mark class="hidden-char">') == 5
