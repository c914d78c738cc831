"""Each (task, seed)'s public ids and class count, cached so that a submission that cannot match
them is refused before the task is loaded and its weak supervisor trained (that made a
malformed `aar bench evaluate` a 1.7 s usage error).

The ids are public: every export of the pair carries them. The file name holds the task key's
id, so a changed key never matches an old file. The cache only ever speeds up a refusal: a
submission it accepts is checked again against the evaluator's own ids before any score, and a
damaged or foreign cache file is ignored (and replaced on the next full evaluation).
"""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path

import numpy as np

SPLITS = ("test", "holdout")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+-]{0,99}")


def _path(task: str, seed: int) -> Path | None:
    from aar.bench._key import key_id
    from aar.config import get_settings

    if not _NAME.fullmatch(task):
        return None  # not a task name (checked later, with the registry): never a path
    return get_settings().bench.cache_dir / "public-ids" / f"{task}-seed{seed}-{key_id()}.npz"


def remember_public_ids(task: str, seed: int, ids: dict[str, np.ndarray], n_classes: int) -> None:
    """Keep the pair's test and holdout ids (best effort: a cache that cannot be written only
    means the next refusal is slow)."""
    from aar.errors import AarError
    from aar.files import write_atomic

    path = _path(task, seed)
    if path is None:
        return
    buffer = io.BytesIO()
    arrays = {s: np.asarray(ids[s], dtype=np.int64) for s in SPLITS}
    np.savez(buffer, allow_pickle=False, n_classes=np.int64(n_classes), **arrays)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, buffer.getvalue())
    except (OSError, AarError):
        return


def recall_public_ids(task: str, seed: int, split: str) -> tuple[np.ndarray, int] | None:
    """The cached (ids, n_classes) of one split, or None when not cached (or unreadable)."""
    path = _path(task, seed)
    if path is None:
        return None
    try:
        with np.load(path, allow_pickle=False) as saved:
            ids, n_classes = saved[split], int(saved["n_classes"])
    except (OSError, KeyError, ValueError, zipfile.BadZipFile):
        return None
    if ids.dtype != np.int64 or ids.ndim != 1 or not 2 <= n_classes <= 1000:
        return None
    return ids, n_classes
