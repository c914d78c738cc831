"""Shared plumbing of the built-in tasks: build the pool once per process, check it."""

from __future__ import annotations

import threading
from abc import abstractmethod

import numpy as np

from aar.bench._task import Task, TaskData
from aar.errors import AarError


class TaskDataError(AarError):
    """A task's data or feature extractor is missing or unusable."""


class CachedTask(Task):
    """A task whose pool is built by `_build()` once and then served from memory.

    The protocol calls `load()` once per seed and per method; rebuilding (or re-reading an
    embedding cache) each time would dominate small runs. The arrays are made read-only so
    a caller cannot silently corrupt the shared copy.
    """

    _data: TaskData | None = None
    _data_token: str = ""
    _lock = threading.RLock()  # re-entrant: a task's `_build` may load another task

    @abstractmethod
    def _build(self) -> TaskData:
        """Build the full pool from its source (deterministic)."""

    def load(self) -> TaskData:
        """The full pool, built on first use (and again if its cache token changed)."""
        token = self.data_token()
        if self._data is None or self._data_token != token:
            with self._lock:
                if self._data is None or self._data_token != token:
                    self._data = _checked(self, self._build())
                    self._data_token = token
        return self._data


def _checked(task: Task, data: TaskData) -> TaskData:
    """Normalise dtypes and check the contract of `TaskData`, so bugs surface at load time."""
    x_strong = np.ascontiguousarray(data.x_strong, dtype=np.float32)
    x_weak = np.ascontiguousarray(data.x_weak, dtype=np.float32)
    y = np.ascontiguousarray(data.y, dtype=np.int64)
    n = len(y)
    if x_strong.ndim != 2 or x_weak.ndim != 2 or y.ndim != 1:
        raise TaskDataError(f"task {task.name!r}: x_strong/x_weak must be 2-D and y 1-D")
    if len(x_strong) != n or len(x_weak) != n or (data.texts is not None and len(data.texts) != n):
        raise TaskDataError(f"task {task.name!r}: inputs and labels differ in length")
    if y.min() < 0 or y.max() >= task.n_classes:
        raise TaskDataError(f"task {task.name!r}: labels outside 0..{task.n_classes - 1}")
    if not (np.isfinite(x_strong).all() and np.isfinite(x_weak).all()):
        raise TaskDataError(f"task {task.name!r}: features contain NaN or infinity")
    for array in (x_strong, x_weak, y):
        array.flags.writeable = False
    texts = None if data.texts is None else list(data.texts)
    return TaskData(x_strong=x_strong, x_weak=x_weak, y=y, texts=texts)


def standardize(x: np.ndarray) -> np.ndarray:
    """Zero mean, unit variance per column over the whole pool (label-free, deterministic)."""
    std = x.std(axis=0)
    return ((x - x.mean(axis=0)) / np.where(std > 0, std, 1.0)).astype(np.float32)
