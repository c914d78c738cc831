"""A plug-in task as a third party would write one: its labels live in a CSV file."""

from __future__ import annotations

import secrets
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression

from aar.bench import LabelSource, StudentConfig, Task, TaskData


def write_plugin_data(directory: Path, n: int = 800) -> str:
    """A labelled CSV (8 features, label) with a marker line; returns the marker."""
    rng = np.random.default_rng(7)
    x = rng.normal(size=(n, 8))
    y = (x[:, 0] + x[:, 1] + 0.8 * x[:, 2] * x[:, 3] > 0).astype(int)
    marker = f"PLUGIN-LABELS-{secrets.token_hex(6)}"
    directory.mkdir(parents=True, exist_ok=True)
    rows = [f"# {marker}"] + [
        ",".join([*(repr(float(v)) for v in r), str(c)]) for r, c in zip(x, y, strict=True)
    ]
    (directory / "labels.csv").write_text("\n".join(rows) + "\n")
    return marker


class PluginCsvTask(Task):
    """Reads its pool from `labels.csv`; declares the directory as its label source."""

    name = "plugin-csv"
    description = "a plug-in task whose labelled data sit in a CSV file"
    weak_description = "logistic regression on 2 noisy features"
    strong_description = "MLP on all 8 features"
    student = StudentConfig(hidden=(32,), epochs=8, lr=3e-3, batch_size=64)

    def __init__(self, data_dir: Path, marker: str, *, declare: bool = True) -> None:
        self.data_dir = data_dir
        self.fingerprint = marker
        why = "the plug-in's labelled CSV"
        self.label_sources = (LabelSource(path=str(data_dir), why=why),) if declare else ()

    def load(self) -> TaskData:
        rows = [r for r in (self.data_dir / "labels.csv").read_text().splitlines() if r[0] != "#"]
        table = np.array([[float(v) for v in r.split(",")] for r in rows])
        x, y = table[:, :-1].astype(np.float32), table[:, -1].astype(np.int64)
        noise = np.random.default_rng(3).normal(scale=0.8, size=(len(x), 2))
        return TaskData(x_strong=x, x_weak=(x[:, :2] + noise).astype(np.float32), y=y)

    def make_weak_model(self, seed: int) -> LogisticRegression:
        return LogisticRegression(max_iter=200)
