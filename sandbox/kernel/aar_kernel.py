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

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


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


def exports(task_dir: str | os.PathLike[str] | None = None) -> list[tuple[str, int]]:
    """The (task, seed) pairs under /task (a session mounts every pair it studies)."""
    root = Path(task_dir) if task_dir is not None else TASK_DIR
    index = root / "index.json"
    if index.exists():
        return [(e["task"], int(e["seed"])) for e in json.loads(index.read_text())["exports"]]
    manifest = root / "manifest.json"
    if manifest.exists():
        meta = json.loads(manifest.read_text())
        return [(meta.get("task", "task"), int(meta.get("seed", 0)))]
    return []


def _task_root(task: str | None, seed: int | None, task_dir: Path | None) -> Path:
    root = task_dir if task_dir is not None else TASK_DIR
    if not root.is_dir():
        raise FileNotFoundError(f"no task directory at {root}: start the sandbox with a task")
    pairs = exports(root)
    if (root / "manifest.json").exists() and (
        (task is None and seed is None) or [(task, seed)] == pairs
    ):
        return root  # one export at /task (`aar sandbox exec --task`): by name, or unnamed
    if task is None and seed is None and len(pairs) == 1:
        task, seed = pairs[0]
    path = root / str(task) / f"seed-{seed}"
    if task is None or seed is None or not path.is_dir():
        listed = ", ".join(f"{t} seed {s}" for t, s in pairs) or "none"
        raise FileNotFoundError(f"no task {task!r} seed {seed!r} under {root}; there are: {listed}")
    return path


def load_task(
    task: str | None = None,
    seed: int | None = None,
    *,
    task_dir: str | os.PathLike[str] | None = None,
) -> TaskFiles:
    """Load every public file of a (task, seed): `*.npy` arrays, `*_texts.json`, `manifest`.

    With one task mounted, `load_task()` takes it; with several, name them:
    `load_task("digits-ge5", 42)`. `exports()` lists what is mounted.
    """
    root = _task_root(task, seed, Path(task_dir) if task_dir is not None else None)
    files = TaskFiles()
    manifest = root / "manifest.json"
    files["manifest"] = json.loads(manifest.read_text()) if manifest.exists() else {}
    for path in sorted(root.iterdir()):
        if path.suffix == ".npy":
            files[path.stem] = np.load(path, allow_pickle=False)
        elif path.name.endswith("_texts.json"):
            files[path.stem] = json.loads(path.read_text())
    return files


def save_predictions(
    probs: Any,
    split: str = "test",
    name: str = "predictions",
    *,
    task: str | None = None,
    seed: int | None = None,
) -> Path:
    """Save class probabilities [n, n_classes] (or P(class 1) [n]) for a split; returns the path.

    One mounted task: `/scratch/predictions/<name>.<split>.npy`. Several (a session): pass
    `task` and `seed`, giving `/scratch/predictions/<name>/<task>/seed-<seed>.<split>.npy`;
    the host validates and scores every file of a method name at once.
    """
    for value, what in ((split, "split"), (name, "name")):
        if not _NAME.match(value):
            raise ValueError(f"{what} must match {_NAME.pattern}, got {value!r}")
    array = np.asarray(probs, dtype=np.float64)
    if array.ndim not in (1, 2) or not np.all(np.isfinite(array)):
        raise ValueError(f"probs must be a finite 1-D or 2-D array, got shape {array.shape}")
    out_dir = SCRATCH_DIR / PREDICTIONS_DIR
    if task is None and seed is None:
        path = out_dir / f"{name}.{split}.npy"
    elif task is None or seed is None or not _NAME.match(task):
        raise ValueError("give both task (a task name) and seed, or neither")
    else:
        path = out_dir / name / task / f"seed-{int(seed)}.{split}.npy"
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, array, allow_pickle=False)
    return path


__all__ = [
    "PREDICTIONS_DIR",
    "SCRATCH_DIR",
    "TASK_DIR",
    "TaskFiles",
    "exports",
    "load_task",
    "save_predictions",
]
