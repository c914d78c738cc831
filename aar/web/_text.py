"""Code as a reviewer must see it: every invisible character shown, and diffs line by line.

A proposal's code is what will run, byte for byte. Control characters and Unicode format
characters (bidirectional overrides, zero-width spaces: the "Trojan Source" trick) would make
the page show one program and run another, so each is replaced by a visible `\\u{....}` mark.
Which characters those are, and the mark, is `aar.text`'s one rule (the terminal uses it too).
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from functools import lru_cache

from markupsafe import Markup, escape

from aar.text import MULTILINE, is_hidden, mark

__all__ = ["MAX_DIFF_LINES", "DiffLine", "diff_lines", "hidden_count", "visible"]

MAX_DIFF_LINES = 4000


_MAYBE_HIDDEN = re.compile("[^\x20-\x7e" + re.escape(MULTILINE) + "]")
"""Every character that could be hidden: all but printable ASCII and what MULTILINE keeps.
Code is mostly ASCII, so a page looks up the rule (`is_hidden`) only for the rare others."""


@lru_cache(maxsize=4096)
def _shown_char(ch: str) -> str:
    """`ch` as a page shows it (escaping cannot change any character this is called for)."""
    return f'<mark class="hidden-char">{mark(ch)}</mark>' if is_hidden(ch) else ch


def hidden_count(text: str) -> int:
    """How many characters of `text` (newline and tab kept) a page marks as hidden: what
    `aar.text.hidden_count` counts, looking up only the characters outside printable ASCII."""
    return sum(_shown_char(m.group()) != m.group() for m in _MAYBE_HIDDEN.finditer(text))


def visible(text: str) -> Markup:
    """`text` HTML-escaped, each hidden character (newline and tab kept) as a marked
    `\\u{....}`.

    One `escape` of the whole text, then one regex pass that replaces only the characters
    outside printable ASCII: a 550-line proposal costs a few hundred microseconds, where one
    `escape` call per character cost tens of milliseconds. The escaped entities are printable
    ASCII, so the pass never touches them; the marks it inserts are never escaped. A `Markup`
    is escaped as the plain text it holds (the code shown is text, whatever its type)."""
    escaped = escape(str.__str__(text))
    return Markup(_MAYBE_HIDDEN.sub(lambda m: _shown_char(m.group()), escaped))


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
