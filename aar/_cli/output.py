"""Output helpers shared by the command modules."""

from __future__ import annotations

from rich.console import Console
from rich.text import Text


def warn(message: str) -> None:
    """One `warning:` line on stderr. The message is plain text, never markup: it quotes
    problems found in files, which may hold brackets."""
    console = Console(stderr=True, soft_wrap=True, highlight=False)
    console.print(Text.assemble(("warning:", "yellow"), f" {message}"))


ELLIPSIS = "…"


def clip(text: str, width: int) -> str:
    """`text` in at most `width` characters: cut at the last word that fits, with an
    ellipsis, so a line never ends mid-word ("propagat"); a single word longer than the
    whole width is cut where it must be."""
    if len(text) <= width:
        return text
    if width <= 1:
        return ELLIPSIS[:width]
    head = text[: width - 1]
    cut = head.rfind(" ")
    if cut > width // 3:  # a word boundary that keeps most of the line
        head = head[:cut]
    return head.rstrip(" ,;:·-—") + ELLIPSIS
