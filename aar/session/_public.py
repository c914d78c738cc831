"""A session's public export (`runs/<id>/public/`): the task files its experiments read.

The export is big arrays, so git ignores it; its files' sha256 values are logged when the
session is created. It is a pure function of the task key and the (task, seed) pairs, so a
session copied or archived without it (as git would copy it) can rebuild it on resume, and
the logged hashes prove the rebuilt files are the ones its experiments saw.
"""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Iterable
from pathlib import Path

from aar.errors import AarError

PUBLIC = "public"


def file_hashes(directory: Path) -> dict[str, str]:
    """sha256 of every file under `directory`, keyed by its relative path."""
    return {
        str(p.relative_to(directory)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(directory.rglob("*"))
        if p.is_file()
    }


def restore_public_export(
    root: Path, pairs: Iterable[tuple[str, int]], logged: dict[str, str]
) -> bool:
    """Rebuild `root/public` if it is missing; returns whether it did.

    Fails closed: the rebuilt files must hash to exactly what the session logged at creation
    (another task key, or another aar's export format, would give other files, and the
    session's numbers would no longer be about the data its experiments read)."""
    from aar.bench import export_public_many

    target = root / PUBLIC
    if target.exists() or not logged:
        return False
    staging = root / f".{PUBLIC}.rebuild"
    shutil.rmtree(staging, ignore_errors=True)
    export_public_many(pairs, staging)
    if file_hashes(staging) != logged:
        shutil.rmtree(staging, ignore_errors=True)
        raise AarError(
            f"session {root.name} has no {PUBLIC}/ export, and the one rebuilt from the task "
            "key differs from the files it logged at creation (another key or another aar "
            "made it); restore its original public/ directory to resume it"
        )
    staging.rename(target)
    return True
