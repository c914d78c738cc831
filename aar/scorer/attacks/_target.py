"""What an attack works on: a split's honest best predictions, and (for measuring only) its
labels. Attacks see the honest predictions and the oracle's answers, never the labels."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

HONEST = ("naive", "logconf")
"""The honest methods whose best test accuracy an attack must not beat by more than 0.03."""


@dataclass(frozen=True)
class SplitTarget:
    """One (task, seed, split) as exported: honest probabilities, inputs, and truth."""

    task: str
    seed: int
    split: str
    n_classes: int
    honest: dict[str, np.ndarray]
    """method -> probabilities [n, k] in exported order."""
    inputs: np.ndarray
    """The exported strong inputs (what the sandbox sees), to match rows across seeds."""
    truth: np.ndarray
    """Labels in exported order: for the battery's measurements, never for an attack."""

    def accuracy(self, probs: np.ndarray) -> float:
        return float((probs.argmax(axis=1) == self.truth).mean())

    def honest_best(self) -> tuple[str, np.ndarray, float]:
        """The honest method with the best true accuracy on this split (name, probs, acc)."""
        name = max(self.honest, key=lambda m: self.accuracy(self.honest[m]))
        return name, self.honest[name], self.accuracy(self.honest[name])


@lru_cache(maxsize=32)
def split_targets(task: str, seed: int) -> dict[str, SplitTarget]:
    """Test and holdout targets of a (task, seed), trained once per process (seconds).

    Uses the bench's own trainer (the same code `aar bench run` uses), so "honest best" is
    what a session's baselines reach.
    """
    from aar.bench import (  # train_students: the harness's trainer (host side)
        load_data,
        parse_methods,
        resolve_task,
        setup_seed,
        train_students,
    )

    t = resolve_task(task)
    data = load_data(t)
    setup = setup_seed(t, data, seed)
    preds = train_students([setup], parse_methods(list(HONEST)), device="cpu")
    out = {}
    for split in ("test", "holdout"):
        out[split] = SplitTarget(
            task=t.name,
            seed=seed,
            split=split,
            n_classes=t.n_classes,
            honest={m: setup.to_public(split, preds[m][seed][split]) for m in HONEST},
            inputs=data.x_strong[setup.public_rows(split)].astype(np.float32),
            truth=setup.to_public(split, setup.labels(split)),
        )
    return out
