"""Tiny synthetic tasks defined here, so protocol tests do not depend on the built-in tasks."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from aar.bench import StudentConfig, Task, TaskData, register_task


class TinyTask(Task):
    """y from a non-linear rule on 8 strong features; the weak model sees 2 of them, noisily.

    The weak supervisor's errors come from missing information and noise the student does
    not share, so weak < student < ceiling is expected.
    """

    description = "tiny synthetic test task"
    weak_description = "logistic regression on 2 noisy features"
    strong_description = "MLP on all 8 features"
    student = StudentConfig(hidden=(32,), epochs=8, lr=3e-3, batch_size=64)

    def __init__(self, name: str, n: int = 1200, n_classes: int = 2, sorted_rows: bool = True):
        self.name = name
        self.n = n
        self.n_classes = n_classes
        self.sorted_rows = sorted_rows

    def load(self) -> TaskData:
        rng = np.random.default_rng(0)
        x = rng.normal(size=(self.n, 8)).astype(np.float32)
        score = x[:, 0] + x[:, 1] + 0.8 * x[:, 2] * x[:, 3] + 0.5 * x[:, 4]
        if self.n_classes == 2:
            y = (score > 0).astype(np.int64)
        else:
            y = np.digitize(score, np.quantile(score, [1 / 3, 2 / 3])).astype(np.int64)
        if self.sorted_rows:  # like the Rotten Tomatoes file: rows sorted by class
            order = np.argsort(y, kind="stable")
            x, y = x[order], y[order]
        x_weak = x[:, :2] + rng.normal(scale=0.8, size=(self.n, 2)).astype(np.float32)
        texts = [f"snippet {w}" for w in rng.integers(0, 10**9, self.n)]  # order-free
        return TaskData(x_strong=x, x_weak=x_weak.astype(np.float32), y=y, texts=texts)

    def make_weak_model(self, seed: int) -> LogisticRegression:
        return LogisticRegression(max_iter=200)


TINY = register_task(TinyTask("test-tiny"))
TINY3 = register_task(TinyTask("test-tiny3", n=1500, n_classes=3))


@pytest.fixture(scope="session")
def tiny() -> TinyTask:
    return TINY


@pytest.fixture(scope="session")
def tiny3() -> TinyTask:
    return TINY3
