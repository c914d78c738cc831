"""Code as a reviewer must see it: every invisible character shown, and diffs line by line.

A proposal's code is what will run, byte for byte. Control characters and Unicode format
characters (bidirectional overrides, zero-width spaces: the "Trojan Source" trick) would make
the page show one program and run another, so each is replaced by a visible `\\u{....}` mark.
Which characters those are, and the mark, is `aar.text`'s one rule (the terminal uses it too).
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from markupsafe import Markup, escape

from aar.text import MULTILINE, hidden_count, is_hidden, mark

__all__ = ["MAX_DIFF_LINES", "DiffLine", "diff_lines", "hidden_count", "visible"]

MAX_DIFF_LINES = 4000


def visible(text: str) -> Markup:
    """`text` HTML-escaped, each hidden character (newline and tab kept) as a marked
    `\\u{....}`."""
    out = []
    for ch in text:
        if ch not in MULTILINE and is_hidden(ch):
            out.append(Markup('<mark class="hidden-char">%s</mark>') % mark(ch))
        else:
            out.append(escape(ch))
    return Markup("").join(out)


@dataclass(frozen=True)
class DiffLine:
    kind: str
    """add | del | same | hunk | file"""
    text: str


def diff_lines(old: str, new: str, old_name: str, new_name: str) -> list[DiffLine] | None:
    """A unified diff of `old` -> `new` (None when it would be too long to read)."""
    a, b = old.splitlines(keepends=True), new.splitlines(keepends=True)
    if len(a) + len(b) > MAX_DIFF_LINES:
        return None
    out = []
    for line in difflib.unified_diff(a, b, old_name, new_name, n=3):
        body = line.rstrip("\n")
        if line.startswith(("---", "+++")):
            kind = "file"
        elif line.startswith("@@"):
            kind = "hunk"
        else:
            kind = {"+": "add", "-": "del"}.get(line[:1], "same")
        out.append(DiffLine(kind, body))
    return out
