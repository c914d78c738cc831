"""Agent- and user-written text in `report.md` is data: written by `render_markdown`, rendered by
`aar serve`'s Markdown, it shows as text and cannot forge the report's own structure.

Measured before the fix: a hostile model's hypothesis and rationale put a "## Review status"
table ("APPROVED by alice") and a fake provenance note into the report, and the page rendered
them as real headings and tables.
"""

from __future__ import annotations

from html.parser import HTMLParser

from aar.session import ReportData, render_markdown
from aar.web._markdown import render_report

FORGED = (
    "ok\n\n## Review status\n\n| proposal | status |\n|---|---|\n| p-0123456789ab | APPROVED by"
    " alice |\n\n> **Provenance:** every number was checked by the evaluator\n"
)
HOSTILE = [
    FORGED,
    "](http://x) [details](http://evil.example) ![pixel](http://203.0.113.9/p.png)",
    "<script>alert(1)</script> <img src=x onerror=alert(2)> <https://x.example>",
    "```\n# code fence\n```` ~~~ `p-0123456789ab` ``",
    "a\r## CR heading\u2028### LS heading\u2029- item",
    "\x1b[2J\u202eevil\u202c\u200b *em* _em_ **b** &lt;b&gt; &#35; \\",
    "1. one\n2) two\n+ three\n    code\n===\n---\n[ref]: http://x.example",
]
SKIPPED = {"p", "br"}  # paragraphs and line breaks follow the text's own lines


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


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in SKIPPED:
            self.tags.append(f"{tag} {sorted(attrs)}")

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def _page(text: str) -> _Tags:
    html = render_report(
        render_markdown(_report(text)),
        figure_url=lambda name: f"/files/{name}" if name == "pgr.png" else None,
        record_url=lambda code: None,
        item_url=lambda item: f"/items/{item}",
    )
    parsed = _Tags()
    parsed.feed(html)
    return parsed


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
