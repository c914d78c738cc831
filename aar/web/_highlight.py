"""Code and diffs as a reviewer reads them: syntax-highlighted on the server (Pygments, so the
page stays free of JavaScript), unchanged regions collapsed into a `<details>` a click opens.

What the page shows must be what runs, byte for byte: every token's text goes through
`visible()` (hidden characters marked), and the highlighted lines are used only when their
text joins back to exactly the input (Pygments normalises line endings, for one); otherwise
the lines are shown plain. Token classes are a small fixed set (`t-k` keyword, `t-s` string,
`t-c` comment, `t-m` number, `t-f` function or class name, `t-b` builtin, `t-o` operator),
styled by `static/review.css`.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from functools import lru_cache

from markupsafe import Markup
from pygments.lexers.python import PythonLexer  # type: ignore[import-untyped]
from pygments.token import (  # type: ignore[import-untyped]
    Comment,
    Keyword,
    Name,
    Number,
    Operator,
    String,
    _TokenType,
)

from aar.web._text import MAX_DIFF_LINES, visible

CONTEXT = 3
"""Unchanged lines shown around each change; longer unchanged runs collapse."""
_CLASSES: list[tuple[_TokenType, str]] = [
    (Comment, "c"),
    (String, "s"),
    (Keyword, "k"),
    (Number, "m"),
    (Name.Function, "f"),
    (Name.Class, "f"),
    (Name.Builtin, "b"),
    (Operator, "o"),
]


@lru_cache(maxsize=64)  # a pure function of its text: pages show the same code again
def highlight_lines(code: str) -> list[Markup]:
    """`code`'s lines (without their newline), each as highlighted, escaped HTML."""
    lexer = PythonLexer(stripnl=False, stripall=False, ensurenl=False)
    tokens = list(lexer.get_tokens(code))
    if "".join(value for _, value in tokens) != code:
        return [visible(line) for line in code.split("\n")]
    lines: list[list[tuple[str, str]]] = [[]]
    for kind, value in tokens:
        css = _css(kind)
        for i, part in enumerate(value.split("\n")):
            if i:
                lines.append([])
            if not part:
                continue
            last = lines[-1]
            if last and last[-1][0] == css:  # a string in three tokens is one span
                last[-1] = (css, last[-1][1] + part)
            else:
                last.append((css, part))
    return [Markup("").join(_span(css, text) for css, text in parts) for parts in lines]


def _span(css: str, text: str) -> Markup:
    html = visible(text)
    return Markup('<span class="t-%s">%s</span>') % (css, html) if css else html


def _css(kind: _TokenType) -> str:
    for parent, css in _CLASSES:
        if kind in parent:
            return css
    return ""


@dataclass(frozen=True)
class Row:
    """One line of a diff: `kind` add | del | same, its line numbers, its highlighted text."""

    kind: str
    old: int | None
    new: int | None
    html: Markup


@dataclass(frozen=True)
class Block:
    """Rows shown as they are (`folded` False) or an unchanged run collapsed behind a click."""

    rows: list[Row]
    folded: bool = False


@dataclass(frozen=True)
class CodeDiff:
    """A whole-file diff: changed lines with `CONTEXT` lines around them, the rest folded."""

    old_name: str
    new_name: str
    blocks: list[Block] = field(default_factory=list)
    added: int = 0
    removed: int = 0


@lru_cache(maxsize=64)  # a pure function of its text: pages show the same code again
def code_diff(old: str, new: str, old_name: str, new_name: str) -> CodeDiff | None:
    """The diff of `old` -> `new` (None when it would be too long to read)."""
    a, b = old.split("\n"), new.split("\n")
    if len(a) + len(b) > MAX_DIFF_LINES:
        return None
    ha, hb = highlight_lines(old), highlight_lines(new)
    rows: list[Row] = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if tag == "equal":
            rows += [Row("same", i + 1, j1 + i - i1 + 1, ha[i]) for i in range(i1, i2)]
            continue
        rows += [Row("del", i + 1, None, ha[i]) for i in range(i1, i2)]
        rows += [Row("add", None, j + 1, hb[j]) for j in range(j1, j2)]
    added = sum(r.kind == "add" for r in rows)
    removed = sum(r.kind == "del" for r in rows)
    return CodeDiff(old_name, new_name, _fold(rows), added, removed)


def _fold(rows: list[Row]) -> list[Block]:
    """Runs of unchanged rows longer than twice `CONTEXT` keep `CONTEXT` rows on each side of
    a change and fold the middle."""
    changed = [i for i, r in enumerate(rows) if r.kind != "same"]
    near = {j for i in changed for j in range(i - CONTEXT, i + CONTEXT + 1)}
    blocks: list[Block] = []
    for i, row in enumerate(rows):
        folded = i not in near
        if blocks and blocks[-1].folded == folded:
            blocks[-1].rows.append(row)
        else:
            blocks.append(Block([row], folded))
    return blocks
