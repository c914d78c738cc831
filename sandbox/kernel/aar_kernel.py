"""The tiny API experiment code gets inside the sandboxed kernel.

`load_task()` reads the task's public directory (read-only, `/task`); `save_predictions()`
writes `.npy` files into the scratch directory (`/scratch`), where the host picks them up and
passes them to the evaluator. Only numpy is needed; aar itself is not importable in here.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import numpy as np

TASK_DIR = Path(os.environ.get("SANDBOX_TASK_DIR", "/task"))
SCRATCH_DIR = Path(os.environ.get("SANDBOX_SCRATCH_DIR", "/scratch"))
PREDICTIONS_DIR = "predictions"

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class TaskFiles(dict):
    """The public arrays of a task by file stem (`task["transfer_inputs"]`), plus `manifest`.

    Attribute access works too (`task.transfer_inputs`). Texts (`<split>_texts.json`) are
    lists of strings.
    """

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


def load_task(task_dir: str | os.PathLike[str] | None = None) -> TaskFiles:
    """Load every public file of the task: `*.npy` arrays, `*_texts.json`, `manifest.json`."""
    root = Path(task_dir) if task_dir is not None else TASK_DIR
    if not root.is_dir():
        raise FileNotFoundError(f"no task directory at {root}: start the sandbox with a task")
    files = TaskFiles()
    manifest = root / "manifest.json"
    files["manifest"] = json.loads(manifest.read_text()) if manifest.exists() else {}
    for path in sorted(root.iterdir()):
        if path.suffix == ".npy":
            files[path.stem] = np.load(path, allow_pickle=False)
        elif path.name.endswith("_texts.json"):
            files[path.stem] = json.loads(path.read_text())
    return files


def save_predictions(probs: Any, split: str = "test", name: str = "predictions") -> Path:
    """Save class probabilities [n, n_classes] (or P(class 1) [n]) for a split; returns the path.

    The file is `/scratch/predictions/<name>.<split>.npy`; the host validates and scores it.
    """
    for value, what in ((split, "split"), (name, "name")):
        if not _NAME.match(value):
            raise ValueError(f"{what} must match {_NAME.pattern}, got {value!r}")
    array = np.asarray(probs, dtype=np.float64)
    if array.ndim not in (1, 2) or not np.all(np.isfinite(array)):
        raise ValueError(f"probs must be a finite 1-D or 2-D array, got shape {array.shape}")
    out_dir = SCRATCH_DIR / PREDICTIONS_DIR
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{name}.{split}.npy"
    np.save(path, array, allow_pickle=False)
    return path


__all__ = [
    "PREDICTIONS_DIR",
    "SCRATCH_DIR",
    "TASK_DIR",
    "TaskFiles",
    "load_task",
    "save_predictions",
]
