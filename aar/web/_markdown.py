"""A round's `report.md` as HTML that is safe to show: the report holds agent-written prose.

markdown-it with raw HTML off (any `<tag>` in the text is escaped), its own link validation
(no `javascript:`), and three rules of ours: an image is shown only when it names a file of
the round's own directory (served by the app; no request ever leaves the page for an address
the agent chose), a link gets `rel="noopener noreferrer nofollow"`, and an inline code span
that names a record, a proposal or a finding becomes a link to its page.

Text, code spans and code blocks show every hidden character (`aar.text`'s rule) as a marked
`\\u{....}`: a report written before agent text was quoted (see `aar.text.markdown_inline`)
may still hold raw bidirectional overrides or zero-width characters.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from html import escape
from typing import Any

from markdown_it import MarkdownIt

from aar.web._text import visible

FIGURE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,100}\.png$")
_NOTEBOOK = re.compile(r"experiments/(e-[A-Za-z0-9][A-Za-z0-9._-]{0,100})/notebook\.ipynb")
_ITEM = re.compile(r"^(p-[0-9a-f]{12}|f-[0-9a-f]{12})$")


def render_report(
    text: str,
    *,
    figure_url: Callable[[str], str | None],
    record_url: Callable[[str], str | None],
    item_url: Callable[[str], str],
    experiment_url: Callable[[str], str | None] | None = None,
) -> str:
    """HTML of `text`. `figure_url(name)` is the URL of a round file (None: not served);
    `record_url(code)` the URL of the record a code span names (None: not a record);
    `experiment_url(id)` the page of the experiment a notebook path in the text names."""
    md = MarkdownIt("commonmark", {"html": False}).enable("table")
    md.add_render_rule("image", _image_rule(figure_url))
    md.add_render_rule("link_open", _link_open)
    md.add_render_rule("code_inline", _code_rule(record_url, item_url))
    md.add_render_rule("text", _text_rule(experiment_url) if experiment_url else _text)
    md.add_render_rule("code_block", _code_block)
    md.add_render_rule("fence", _code_block)
    return md.render(text)


def _text(self: Any, tokens: Sequence[Any], idx: int, options: Any, env: Any) -> str:
    return str(visible(tokens[idx].content))


def _text_rule(experiment_url: Callable[[str], str | None]) -> Callable[..., str]:
    """Text whose notebook paths (`experiments/e-.../notebook.ipynb`, the provenance table's
    column) link their experiment's page; the rest as `_text`. Inside a link, text stays text."""

    def text(self: Any, tokens: Sequence[Any], idx: int, options: Any, env: Any) -> str:
        content = tokens[idx].content
        in_link = any(t.type == "link_open" for t in tokens[:idx]) and not any(
            t.type == "link_close" for t in tokens[:idx]
        )
        if in_link or "experiments/" not in content:
            return str(visible(content))
        out, last = [], 0
        for match in _NOTEBOOK.finditer(content):
            url = experiment_url(match.group(1))
            if url is None:
                continue
            out.append(str(visible(content[last : match.start()])))
            out.append(f'<a href="{escape(url)}">{visible(match.group(0))}</a>')
            last = match.end()
        out.append(str(visible(content[last:])))
        return "".join(out)

    return text


def _code_block(self: Any, tokens: Sequence[Any], idx: int, options: Any, env: Any) -> str:
    return f"<pre><code>{visible(tokens[idx].content)}</code></pre>\n"


def _image_rule(figure_url: Callable[[str], str | None]) -> Callable[..., str]:
    def image(self: Any, tokens: Sequence[Any], idx: int, options: Any, env: Any) -> str:
        token = tokens[idx]
        src = str(token.attrGet("src") or "")
        alt = self.renderInlineAsText(token.children or [], options, env)
        url = figure_url(src) if FIGURE_NAME.match(src) else None
        if url is None:
            return f'<span class="missing-figure">[figure not shown: {escape(src)}]</span>'
        return f'<img src="{escape(url)}" alt="{escape(alt)}" class="figure">'

    return image


def _link_open(self: Any, tokens: Sequence[Any], idx: int, options: Any, env: Any) -> str:
    tokens[idx].attrSet("rel", "noopener noreferrer nofollow")
    return self.renderToken(tokens, idx, options, env)


def _code_rule(
    record_url: Callable[[str], str | None], item_url: Callable[[str], str]
) -> Callable[..., str]:
    def code_inline(self: Any, tokens: Sequence[Any], idx: int, options: Any, env: Any) -> str:
        content = tokens[idx].content
        code = f"<code>{visible(content)}</code>"
        url = item_url(content) if _ITEM.match(content) else record_url(content)
        return f'<a href="{escape(url)}">{code}</a>' if url else code

    return code_inline
