"""Rendering a report the way `aar serve` does, and the hostile texts that must not add to its
structure (`test_report_text.py`, `test_report_layout_text.py`)."""

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


class Tags(HTMLParser):
    """The rendered page's tags (with attributes) and text."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in SKIPPED:
            self.tags.append(f"{tag} {sorted(attrs)}")

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def page_tags(report: ReportData) -> Tags:
    """The tags of `report` as the web page renders it."""
    html = render_report(
        render_markdown(report),
        figure_url=lambda name: f"/files/{name}" if name == "pgr.png" else None,
        record_url=lambda code: None,
        item_url=lambda item: f"/items/{item}",
    )
    parsed = Tags()
    parsed.feed(html)
    return parsed
