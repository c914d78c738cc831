"""The task contract: what a weak-to-strong benchmark task provides to the protocol.

A task owns its data and its two model families; the protocol (`aar.bench._protocol`)
owns splitting, training and scoring, so every task is run and scored the same way.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
from pydantic import BaseModel, ConfigDict, Field


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

    @abstractmethod
    def load(self) -> TaskData:
        """Return the full pool. Deterministic; may read an on-disk cache."""

    @abstractmethod
    def make_weak_model(self, seed: int) -> WeakModel:
        """A fresh, unfitted weak supervisor for `x_weak`."""
