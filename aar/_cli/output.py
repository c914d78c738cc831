"""Output helpers shared by the command modules."""

from __future__ import annotations

from rich.console import Console
from rich.text import Text


def warn(message: str) -> None:
    """One `warning:` line on stderr. The message is plain text, never markup: it quotes
    problems found in files, which may hold brackets."""
    console = Console(stderr=True, soft_wrap=True, highlight=False)
    console.print(Text.assemble(("warning:", "yellow"), f" {message}"))
