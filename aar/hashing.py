"""Content hashes: the one way aar names exactly what ran or will run.

An evaluation record cites the sha256 of the experiment's cells, a proposal carries the sha256
of its code, and an approval is bound to that sha256. All are plain sha256 of UTF-8 bytes, so
anyone can check them with `sha256sum`: `cells_sha256(cells)` is the hash of the script file
`join_cells(cells)` that the session commits next to the notebook.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

CELL_MARK = "# %%"


def content_sha256(text: str | bytes) -> str:
    """sha256 hex digest of `text` (UTF-8 when it is a str); no normalisation of any kind."""
    data = text.encode("utf-8") if isinstance(text, str) else text
    return hashlib.sha256(data).hexdigest()


def join_cells(cells: Sequence[str]) -> str:
    """The canonical script of `cells`: each cell after a `# %%` line, ending in a newline.

    `aar.sandbox.split_cells` reads it back into the same cells.
    """
    return "".join(f"{CELL_MARK}\n{cell.rstrip(chr(10))}\n" for cell in cells)


def cells_sha256(cells: Sequence[str]) -> str:
    """The hash of the canonical script of `cells` (what evaluation records cite)."""
    return content_sha256(join_cells(cells))
