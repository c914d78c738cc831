"""The library's digest: what an experiment script pins so its sha256 covers this code.

Standard library only, so aar can compute it without importing torch.
"""

from __future__ import annotations

import hashlib
from pathlib import Path


def library_sha256(root: str | Path | None = None) -> str:
    """sha256 over the names and bytes of the library's `.py` files (sorted by name)."""
    folder = Path(root) if root is not None else Path(__file__).resolve().parent
    digest = hashlib.sha256()
    for path in sorted(folder.glob("*.py")):
        data = path.read_bytes()
        digest.update(f"{path.name}\0{len(data)}\0".encode())
        digest.update(data)
    return digest.hexdigest()
