"""The task contract: what a weak-to-strong benchmark task provides to the protocol.

A task owns its data and its two model families; the protocol (`aar.bench._protocol`)
owns splitting, training and scoring, so every task is run and scored the same way.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator


@dataclass(frozen=True)
class TaskData:
    """The full labelled pool of a task. The protocol splits it per seed.

    Row i of every array is the same example. Rows need not be shuffled: the protocol
    permutes them and assigns opaque ids, so the source order never leaks into a split.
    """

    x_strong: np.ndarray
    """float32 [n, d_strong]: features the strong model (student and ceiling) sees."""
    x_weak: np.ndarray
    """float32 [n, d_weak]: features the weak supervisor sees."""
    y: np.ndarray
    """int64 [n]: ground-truth class in 0..n_classes-1. Never leaves the evaluator."""
    texts: list[str] | None = None
    """Raw inputs for text tasks (exported with the inputs, never with labels)."""


class StudentConfig(BaseModel):
    """Training hyper-parameters of the strong model, fixed per task.

    Chosen on the ceiling model only (never on weak-label student results) and recorded
    with every result, since training length alone moves PGR a lot.
    """

    model_config = ConfigDict(frozen=True)

    hidden: tuple[int, ...] = Field(default=(64, 64), description="MLP hidden widths; () = linear.")
    epochs: int = Field(default=20, gt=0)
    lr: float = Field(default=1e-3, gt=0)
    batch_size: int = Field(default=64, gt=0)
    weight_decay: float = Field(default=0.0, ge=0)


class LabelSource(BaseModel):
    """A place from which a task's labels could be rebuilt; the sandbox hides every one.

    Name what an experiment could read or import to recover ground truth:
    - `distribution` alone: an installed distribution that ships the data (never bound into
      the kernel, even when something allowed depends on it);
    - `distribution` + `path`: data inside a distribution the kernel otherwise sees (the path
      is relative to the distribution's install location, e.g. `sklearn/datasets/data`);
    - `module`: an importable module or package (its files are masked);
    - `path` alone: an absolute file or directory;
    - `task_key`: the installation's task key (pools generated from it).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    distribution: str | None = None
    module: str | None = None
    path: str | None = None
    task_key: bool = False
    why: str = Field(min_length=1, description="Shown by `aar sandbox check`.")

    @model_validator(mode="after")
    def _names_something(self) -> LabelSource:
        if not (self.distribution or self.module or self.path or self.task_key):
            raise ValueError("a label source names a distribution, module, path or the task key")
        if self.path and not self.distribution and not self.path.startswith("/"):
            raise ValueError("a path without a distribution must be absolute")
        return self


class WeakModel(Protocol):
    """A scikit-learn style classifier: the weak supervisor."""

    def fit(self, x: np.ndarray, y: np.ndarray) -> Any: ...

    def predict_proba(self, x: np.ndarray) -> np.ndarray: ...


class Task(ABC):
    """A weak-to-strong task. Subclass it and register an instance with `register_task`.

    Class attributes describe the task for `aar bench list` and the public manifest.
    """

    name: str
    """Unique, lower-case, e.g. 'digits-parity'."""
    description: str
    weak_description: str
    strong_description: str
    n_classes: int = 2
    student: StudentConfig = StudentConfig()
    label_sources: tuple[LabelSource, ...] = ()
    """Everything the labels could be rebuilt from (data files, packages, generators' keys).
    The sandbox hides each one; a task that reads its labels from anywhere must list it."""

    @abstractmethod
    def load(self) -> TaskData:
        """Return the full pool. Deterministic; may read an on-disk cache."""

    @abstractmethod
    def make_weak_model(self, seed: int) -> WeakModel:
        """A fresh, unfitted weak supervisor for `x_weak`."""

    def data_token(self) -> str:
        """What the pool depends on besides code and source data (e.g. the task key).

        Caches of the pool are keyed by it, so a changed key never serves a stale pool.
        """
        return ""
