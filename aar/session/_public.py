"""A session's public export (`runs/<id>/public/`): the task files its experiments read.

The export is big arrays, so git ignores it; its files' sha256 values are logged when the
session is created. It is a pure function of the task key and the (task, seed) pairs, so a
session copied or archived without it (as git would copy it) can rebuild it on resume, and
the logged hashes prove the rebuilt files are the ones its experiments saw.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Iterable
from pathlib import Path

import numpy as np

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
    from aar.scorer import export_public_many

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


def public_ids(root: Path, task: str, seed: int, split: str) -> tuple[np.ndarray, int]:
    """A pair's public ids of `split` and its class count, from the session's own exports
    (`public/`, or a round's confirmation export): what a submission must align with.

    Read from the session's files, never from the task, so a session scoring through a
    scorer service validates its submissions without labels; the scorer checks again."""
    for base in (root / PUBLIC, *sorted(root.glob("confirm/round-*"))):
        pair = base / task / f"seed-{seed}"
        if (pair / "manifest.json").is_file():
            manifest = json.loads((pair / "manifest.json").read_text())
            ids = np.load(pair / f"{split}_ids.npy", allow_pickle=False)
            return ids, int(manifest["n_classes"])
    raise AarError(f"session {root.name} has no public export of {task} seed {seed}")
