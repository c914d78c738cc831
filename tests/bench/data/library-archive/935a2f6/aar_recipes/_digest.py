"""The digest a script pins: both kernel packages the method space runs, `aar_methods` (the
trainer) and `aar_recipes` (the configurations), so a script's sha256 covers every line of
training code it runs.

Standard library only, so aar can compute it without importing torch or pydantic.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

PACKAGES = ("aar_methods", "aar_recipes")


def recipes_sha256(kernel_dir: str | Path | None = None) -> str:
    """sha256 over the folder, name and bytes of each package's `.py` files, sorted."""
    kernel = Path(kernel_dir) if kernel_dir is not None else Path(__file__).resolve().parent.parent
    digest = hashlib.sha256()
    for package in PACKAGES:
        for path in sorted((kernel / package).glob("*.py")):
            data = path.read_bytes()
            digest.update(f"{package}/{path.name}\0{len(data)}\0".encode())
            digest.update(data)
    return digest.hexdigest()
