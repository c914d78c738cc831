"""Text that someone else wrote (a model, a user, a file), shown as that text and nothing more.

One rule, here, decides which characters are *hidden*: those a terminal or a page would not
draw as themselves. Control characters (ESC starts terminal escape sequences, CR overwrites a
line), C1 controls, Unicode format characters (bidirectional overrides and isolates, the
"Trojan Source" trick; zero-width spaces and joiners; the tag characters that smuggle
invisible ASCII to a model), line and paragraph separators, surrogates, private-use and
unassigned code points, and letters and marks that draw nothing (Hangul fillers, variation
selectors). Each is shown as a visible mark, `\\u{202e}`, by every terminal, web and Markdown
place.

The Markdown quoting is for `report.md`, which holds a model's prose next to generated
headings and tables: the quoted text renders as exactly itself, so it cannot forge a heading,
table, list, link, image, HTML or code fence (see `markdown_inline`).
"""

from __future__ import annotations

import re
import string
import unicodedata

_HIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})
_DRAW_NOTHING = frozenset(
    "\u034f\u115f\u1160\u17b4\u17b5\u180b\u180c\u180d\u180f\u3164\uffa0"
    + "".join(map(chr, range(0xFE00, 0xFE10)))
    + "".join(map(chr, range(0xE0100, 0xE01F0)))
)
"""Letters and marks that draw nothing: Hangul fillers, the combining grapheme joiner, Khmer
inherent vowels, Mongolian and Unicode variation selectors (a run of them after one visible
character can smuggle any bytes to a model). An emoji's U+FE0F is marked too: fail closed."""
MULTILINE = "\n\t"
"""What a multi-line place (a code view, a panel) keeps as itself: newline and tab."""


def is_hidden(ch: str) -> bool:
    """True when `ch` would not show on a terminal or a page as itself (see the module)."""
    return unicodedata.category(ch) in _HIDDEN_CATEGORIES or ch in _DRAW_NOTHING


def mark(ch: str) -> str:
    """The visible stand-in of a hidden character: `\\u{001b}`, `\\u{202e}`."""
    return f"\\u{{{ord(ch):04x}}}"


def hidden_count(text: str, keep: str = MULTILINE) -> int:
    """How many characters of `text` (other than those in `keep`) would not show as themselves."""
    return sum(1 for ch in text if ch not in keep and is_hidden(ch))


def shown(text: str, keep: str = MULTILINE) -> str:
    """`text` with every hidden character not in `keep` replaced by its mark: safe to print on
    a terminal (no escape sequence, no reordering, nothing invisible)."""
    if not any(is_hidden(ch) for ch in text):
        return text
    return "".join(mark(ch) if ch not in keep and is_hidden(ch) else ch for ch in text)


def one_line(text: str) -> str:
    """`text` on one line: each line break, tab or run of spaces becomes one space (user input in
    a message must not start a line of its own), and other hidden characters are marked."""
    return shown(" ".join(text.split()), keep="")


# Markdown quoting ------------------------------------------------------------------------------

_MD_ANYWHERE = frozenset("\\`*_[]<&|~")
"""Every character that can open an inline construct of CommonMark (backslash escapes, code
spans, emphasis, links and images, autolinks and raw HTML, entity references) or of its GFM
extensions (table cells, strikethrough), wherever it stands in a line."""
_ORDERED_ITEM = re.compile(r"^([0-9]+)([.)])")
LINE_BREAK_MARK = " \u21b5 "
"""What a line break of quoted text becomes where the text must stay on one line."""


def _escape_md(line: str) -> str:
    """One line (no line breaks, no hidden characters, no leading blank) escaped so that it
    renders as itself even at the start of a Markdown line.

    Mid-line, only the characters of `_MD_ANYWHERE` can start anything, and each is
    backslash-escaped (CommonMark lets any ASCII punctuation be). At the start of a line the
    block constructs (headings, lists, quotes, fences, tables, thematic breaks, setext
    underlines, HTML blocks, link definitions) all begin with ASCII punctuation, or with digits
    then `.` or `)`: that first punctuation character is escaped too."""
    out = ["\\" + ch if ch in _MD_ANYWHERE else ch for ch in line]
    if out and line[0] in string.punctuation and not out[0].startswith("\\"):
        out[0] = "\\" + line[0]
    item = _ORDERED_ITEM.match(line)
    if item:
        out[item.end() - 1] = "\\" + item.group(2)
    return "".join(out)


def markdown_inline(text: str) -> str:
    """`text` as Markdown that renders as exactly this text, on the line of a generated item
    (`- **Goal:** ...`): each line break becomes a visible `↵`, whitespace runs one space, hidden
    characters their marks, and every character that could start markup is escaped. With no
    line break of its own, the text can start no block; with those characters escaped, no
    inline construct; so nothing in it can close or forge what the report wrote around it."""
    lines = [" ".join(line.split()) for line in text.splitlines()]
    return LINE_BREAK_MARK.join(_escape_md(shown(line, keep="")) for line in lines if line)


def markdown_quote(text: str) -> list[str]:
    """`text` as the lines of a Markdown block quote (`> ...`) that renders as exactly this
    text, its lines and paragraphs kept: each line is escaped as a line start (see
    `_escape_md`), ends in a hard break, and a blank line becomes an empty quote line. The
    caller follows the quote with a blank line, which ends it."""
    out: list[str] = []
    for raw in text.splitlines():
        line = _escape_md(shown(" ".join(raw.split()), keep=""))
        if line:
            if out and out[-1] != ">":
                out[-1] += "\\"  # a hard line break: the text's own line ends here
            out.append(f"> {line}")
        elif out and out[-1] != ">":
            out.append(">")
    while out and out[-1] == ">":
        out.pop()
    return out or ["> (empty)"]
