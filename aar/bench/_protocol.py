"""Splits and weak supervision, fixed per seed (DESIGN.md "W2S protocol").

Every task is split the same way: `weak_train` (ground truth trains the weak supervisor),
`transfer` (inputs plus the weak supervisor's soft labels; a stratified validation subset
carries weak labels only), `test` (rounded, budgeted feedback) and `holdout` (final numbers).
Rows are shuffled per seed, so the source row order (some files are sorted by class) never
leaks into a split.

Membership and the harness's internal order are public functions of the seed, so every
installation trains the built-in baselines identically. What leaves the evaluator is a
`PublicView`: each split in an order drawn from the installation's task key, with opaque ids
drawn from it too. Without the key the public split RNG would give the labels away: it lays
out each split class by class before shuffling, so knowing the permutation (from the seed)
and the class counts (from the sizes) tells every exported row's class.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from aar.bench._errors import InvalidSeedsError
from aar.bench._key import keyed_rng
from aar.bench._task import Task, TaskData

SPLIT_FRACTIONS: dict[str, float] = {
    "weak_train": 0.30,
    "transfer": 0.40,
    "test": 0.15,
    "holdout": 0.15,
}
"""Share of each class that goes to each split (stratified)."""
VAL_FRACTION = 0.2
"""Share of transfer held out (with weak labels only) for early stopping / model selection."""
SCORED_SPLITS = ("test", "holdout")
PUBLIC_SPLITS = ("transfer", "test", "holdout")
_ID_SPACE = 10**12


@dataclass(frozen=True)
class Splits:
    """Row indices into a task's `TaskData` for one seed, each split in shuffled order."""

    seed: int
    weak_train: np.ndarray
    transfer: np.ndarray
    transfer_is_val: np.ndarray
    """bool [len(transfer)]: the validation subset of transfer."""
    test: np.ndarray
    holdout: np.ndarray

    def rows(self, split: str) -> np.ndarray:
        """Row indices of `split` ('weak_train', 'transfer', 'test' or 'holdout')."""
        if split not in SPLIT_FRACTIONS:
            raise ValueError(f"unknown split {split!r}")
        return getattr(self, split)

    def sizes(self) -> dict[str, int]:
        """Rows per split, plus the validation part of transfer."""
        sizes = {name: len(self.rows(name)) for name in SPLIT_FRACTIONS}
        sizes["transfer_val"] = int(self.transfer_is_val.sum())
        return sizes


def allocate_rows(n: int, fractions: list[float]) -> list[int]:
    """Largest-remainder allocation of `n` items: deterministic in `n`, so sizes match per seed.

    Public as a part of the split algorithm (`make_splits`), whose source the sandbox's
    leakage battery hands its attacker.
    """
    raw = [n * f for f in fractions]
    counts = [int(np.floor(r)) for r in raw]
    order = sorted(range(len(raw)), key=lambda i: (counts[i] - raw[i], i))
    for i in order[: n - sum(counts)]:
        counts[i] += 1
    return counts


def make_splits(y: np.ndarray, n_classes: int, seed: int) -> Splits:
    """Stratified, shuffled splits of a labelled pool for one seed.

    Split sizes depend only on the class counts, so every seed of a task has the same sizes
    (which lets the trainer stack all seeds into one batched model).
    """
    if not isinstance(seed, int | np.integer) or seed < 0:
        raise InvalidSeedsError(f"a seed must be a non-negative integer, got {seed!r}")
    y = np.asarray(y)
    rng = np.random.default_rng([seed, 0x5EED])
    parts = ("weak_train", "transfer_train", "transfer_val", "test", "holdout")
    fractions = [
        SPLIT_FRACTIONS["weak_train"],
        SPLIT_FRACTIONS["transfer"] * (1 - VAL_FRACTION),
        SPLIT_FRACTIONS["transfer"] * VAL_FRACTION,
        SPLIT_FRACTIONS["test"],
        SPLIT_FRACTIONS["holdout"],
    ]
    chosen: dict[str, list[np.ndarray]] = {p: [] for p in parts}
    for c in range(n_classes):
        rows = rng.permutation(np.flatnonzero(y == c))
        start = 0
        for part, count in zip(parts, allocate_rows(len(rows), fractions), strict=True):
            chosen[part].append(rows[start : start + count])
            start += count

    def shuffled(*names: str) -> np.ndarray:
        return rng.permutation(np.concatenate([r for n in names for r in chosen[n]]))

    transfer = shuffled("transfer_train", "transfer_val")
    is_val = np.isin(transfer, np.concatenate(chosen["transfer_val"]))
    return Splits(
        seed=seed,
        weak_train=shuffled("weak_train"),
        transfer=transfer,
        transfer_is_val=is_val,
        test=shuffled("test"),
        holdout=shuffled("holdout"),
    )


@dataclass(frozen=True)
class PublicView:
    """How one seed's public splits appear outside the evaluator (see the module docstring)."""

    order: dict[str, np.ndarray]
    """Per public split: positions into `Splits.rows(split)`, in exported order (keyed)."""
    ids: dict[str, np.ndarray]
    """Per public split: int64 opaque ids of the exported rows, unique across splits (keyed)."""


def public_view(task_name: str, splits: Splits) -> PublicView:
    """The keyed order and ids of `splits` for `task_name` (deterministic given the key)."""
    rng = keyed_rng("public-view", task_name, splits.seed)
    sizes = [len(splits.rows(split)) for split in PUBLIC_SPLITS]
    ids = rng.choice(_ID_SPACE, size=sum(sizes), replace=False).astype(np.int64)
    bounds = np.cumsum([0, *sizes])
    return PublicView(
        order={split: rng.permutation(n) for split, n in zip(PUBLIC_SPLITS, sizes, strict=True)},
        ids={split: ids[bounds[i] : bounds[i + 1]] for i, split in enumerate(PUBLIC_SPLITS)},
    )


@dataclass
class SeedSetup:
    """One seed of one task: its splits and the trained weak supervisor's soft labels."""

    task: Task
    data: TaskData
    splits: Splits
    weak_probs: dict[str, np.ndarray]
    """Weak soft labels float32 [n_split, n_classes] for transfer, test and holdout."""
    public: PublicView

    @property
    def seed(self) -> int:
        return self.splits.seed

    def labels(self, split: str) -> np.ndarray:
        """Ground truth of a split: for the harness and evaluator only, never exported."""
        return self.data.y[self.splits.rows(split)]

    def public_rows(self, split: str) -> np.ndarray:
        """Pool rows of a public split in exported order."""
        return self.splits.rows(split)[self.public.order[split]]

    def to_public(self, split: str, values: np.ndarray) -> np.ndarray:
        """Per-row values of a split (in `Splits.rows` order), reordered as exported."""
        return values[self.public.order[split]]


def validate_data(task: Task, data: TaskData) -> None:
    """Fail early, naming the task, when `load()` returns arrays the protocol cannot use."""
    n = len(data.y)
    if data.x_strong.ndim != 2 or data.x_weak.ndim != 2:
        raise ValueError(f"task {task.name}: x_strong and x_weak must be 2-D")
    if len(data.x_strong) != n or len(data.x_weak) != n:
        raise ValueError(f"task {task.name}: x_strong, x_weak and y differ in length")
    if data.texts is not None and len(data.texts) != n:
        raise ValueError(f"task {task.name}: texts and y differ in length")
    counts = np.bincount(np.asarray(data.y, dtype=np.int64), minlength=task.n_classes)
    if len(counts) != task.n_classes or (counts < 10).any():
        raise ValueError(
            f"task {task.name}: labels must be 0..{task.n_classes - 1} with >= 10 rows each, "
            f"got counts {counts.tolist()}"
        )


def weak_soft_labels(task: Task, data: TaskData, splits: Splits) -> dict[str, np.ndarray]:
    """Fit the task's weak supervisor on `weak_train` ground truth; soft labels elsewhere."""
    model = task.make_weak_model(splits.seed)
    model.fit(data.x_weak[splits.weak_train], data.y[splits.weak_train])
    out: dict[str, np.ndarray] = {}
    for split in PUBLIC_SPLITS:
        probs = np.asarray(model.predict_proba(data.x_weak[splits.rows(split)]), np.float64)
        if probs.shape[1] != task.n_classes:
            raise ValueError(
                f"task {task.name}: weak model gave {probs.shape[1]} columns for "
                f"{task.n_classes} classes"
            )
        probs = np.clip(probs, 0.0, 1.0)
        out[split] = (probs / probs.sum(axis=1, keepdims=True)).astype(np.float32)
    return out


def setup_seed(task: Task, data: TaskData, seed: int) -> SeedSetup:
    """Splits and weak soft labels of `task` for one seed (deterministic)."""
    splits = make_splits(data.y, task.n_classes, seed)
    weak = weak_soft_labels(task, data, splits)
    return SeedSetup(task, data, splits, weak, public_view(task.name, splits))
